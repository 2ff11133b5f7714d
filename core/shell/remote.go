package shell

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/proto"
)

func (s *session) cmdLs(_ context.Context, inv invocation) error {
	return s.list(inv.arg(0, ""), inv.has('l'))
}

func (s *session) cmdDir(_ context.Context, inv invocation) error {
	return s.list(inv.arg(0, ""), true)
}

// list prints a remote directory sorted by name: the server sends it in directory order.
func (s *session) list(p string, long bool) error {
	entries, err := s.entries(p, long)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(s.env.Stdout)
	if long {
		writeLong(w, entries, s.env.Now())
	} else {
		writeShort(w, entries)
	}
	return w.Flush()
}

// entries returns the listing of a remote directory, sorted by name.
func (s *session) entries(p string, long bool) ([]proto.Entry, error) {
	var entries []proto.Entry
	err := s.c.List(p, long, func(e proto.Entry) error {
		entries = append(entries, e)
		return nil
	})
	slices.SortFunc(entries, func(a, b proto.Entry) int { return strings.Compare(a.Name, b.Name) })
	return entries, err
}

// writeShort writes one name a line, directories with a trailing slash. Names, modes and paths
// from the server are printed through visible.
func writeShort(w io.Writer, entries []proto.Entry) {
	for _, e := range entries {
		fmt.Fprintln(w, displayName(e))
	}
}

func displayName(e proto.Entry) string {
	if e.Type == proto.EntryDir {
		return visible(e.Name) + "/"
	}
	return visible(e.Name)
}

// writeLong writes entries like ls -l: mode, size in bytes, modification time, name.
func writeLong(w io.Writer, entries []proto.Entry, now time.Time) {
	width := 1
	for _, e := range entries {
		width = max(width, len(strconv.FormatInt(e.Size, 10)))
	}
	for _, e := range entries {
		mode := e.Mode
		if mode == "" {
			mode = "?---------"
		}
		fmt.Fprintf(w, "%s %*d %s %s\n", visible(mode), width, e.Size, listTime(e.Mtime, now), visible(e.Name))
	}
}

// listTime formats a modification time as ls does: "Jan _2 15:04" within the last six months,
// "Jan _2  2006" before that or in the future.
func listTime(t, now time.Time) string {
	if t.IsZero() {
		return "            "
	}
	t = t.Local()
	if t.After(now.AddDate(0, -6, 0)) && !t.After(now.Add(time.Hour)) {
		return t.Format("Jan _2 15:04")
	}
	return t.Format("Jan _2  2006")
}

func (s *session) cmdPwd(context.Context, invocation) error {
	p, err := s.c.Pwd()
	if err != nil {
		return err
	}
	s.cwd = p
	fmt.Fprintln(s.env.Stdout, visible(p))
	return nil
}

func (s *session) cmdCd(_ context.Context, inv invocation) error {
	p, err := s.c.Cd(inv.arg(0, "/"))
	if err != nil {
		return err
	}
	s.cwd = p
	fmt.Fprintf(s.env.Stdout, "directory changed to %s\n", visible(p))
	return nil
}

func (s *session) cmdMkdir(_ context.Context, inv invocation) error {
	for _, dir := range inv.args {
		p, err := s.c.Mkdir(dir, inv.has('p'))
		if err != nil {
			return err
		}
		fmt.Fprintf(s.env.Stdout, "directory %s created\n", visible(p))
	}
	return nil
}

func (s *session) cmdRmdir(_ context.Context, inv invocation) error {
	for _, dir := range inv.args {
		if err := s.c.Rmdir(dir); err != nil {
			return err
		}
		fmt.Fprintf(s.env.Stdout, "directory %s removed\n", dir)
	}
	return nil
}

func (s *session) cmdRm(_ context.Context, inv invocation) error {
	for _, file := range inv.args {
		if inv.has('P') {
			if err := s.c.RmPartial(file); err != nil {
				return err
			}
			fmt.Fprintf(s.env.Stdout, "unfinished upload of %s removed\n", file)
			continue
		}
		if err := s.c.Rm(file); err != nil {
			return err
		}
		fmt.Fprintf(s.env.Stdout, "file %s removed\n", file)
	}
	return nil
}

// cmdPartials lists the unfinished uploads sorted by path: the bytes kept (of the size declared,
// when the upload declared one), when they last grew, and the path.
func (s *session) cmdPartials(context.Context, invocation) error {
	var list []proto.Partial
	err := s.c.Partials(func(p proto.Partial) error {
		list = append(list, p)
		return nil
	})
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(s.env.Stdout, "no unfinished uploads")
		return nil
	}
	slices.SortFunc(list, func(a, b proto.Partial) int { return strings.Compare(a.Path, b.Path) })
	sizes, width := make([]string, len(list)), 1
	for i, p := range list {
		sizes[i] = bytesize.Format(p.Size)
		if p.Total > 0 {
			sizes[i] += " of " + bytesize.Format(p.Total)
		}
		width = max(width, len(sizes[i]))
	}
	w := bufio.NewWriter(s.env.Stdout)
	now := s.env.Now()
	for i, p := range list {
		fmt.Fprintf(w, "%*s  %s  %s\n", width, sizes[i], listTime(p.Mtime, now), visible(p.Path))
	}
	return w.Flush()
}

func (s *session) cmdRename(_ context.Context, inv invocation) error {
	if err := s.c.Rename(inv.args[0], inv.args[1]); err != nil {
		return err
	}
	fmt.Fprintf(s.env.Stdout, "renamed %s to %s\n", inv.args[0], inv.args[1])
	return nil
}

// cmdQuota shows the bytes used of the quota and, from servers that count them, the files and
// directories used of the file count quota.
func (s *session) cmdQuota(context.Context, invocation) error {
	u, err := s.c.Usage()
	if err != nil {
		return err
	}
	files := ""
	if u.MaxFiles > 0 {
		files = fmt.Sprintf("; files %d of %d", u.Files, u.MaxFiles)
	}
	fmt.Fprintf(s.env.Stdout, "used %s, quota %s, free %s%s\n", bytesize.Format(u.Used), bytesize.Format(u.Quota),
		bytesize.Format(max(u.Quota-u.Used, 0)), files)
	return nil
}
