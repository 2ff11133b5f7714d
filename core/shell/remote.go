package shell

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

func (s *session) cmdLs(_ context.Context, inv invocation) error {
	return s.listAll(inv.args, inv.has('l'), inv.has('a'))
}

func (s *session) cmdDir(_ context.Context, inv invocation) error {
	return s.listAll(inv.args, true, inv.has('a'))
}

// listAll lists remote paths as ls does: the names that patterns match and the files named
// (with the names given), then each directory named, sorted by name, under a "DIR:" line when
// there is more than one thing to show. Names starting with a dot are shown only with all, or
// when a pattern that starts with a dot matches them. A pattern that matches nothing is taken as
// a name.
func (s *session) listAll(args []string, long, all bool) error {
	if len(args) == 0 {
		args = []string{""}
	}
	var loose []proto.Entry
	var dirs []string
	for _, a := range args {
		if hasMeta(a) {
			matched, err := s.glob(a, long)
			if err != nil {
				return err
			}
			for _, m := range matched {
				m.Name = m.path
				loose = append(loose, m.Entry)
			}
			if len(matched) > 0 {
				continue
			}
		}
		if a == "" {
			dirs = append(dirs, a)
			continue
		}
		e, err := s.c.Stat(a)
		switch {
		case err != nil:
			return err
		case e.Type == proto.EntryDir:
			dirs = append(dirs, a)
		default:
			loose = append(loose, e)
		}
	}
	w := bufio.NewWriter(s.env.Stdout)
	slices.SortFunc(loose, func(a, b proto.Entry) int { return strings.Compare(a.Name, b.Name) })
	s.writeEntries(w, loose, long)
	for i, d := range dirs {
		entries, err := s.entries(d, long)
		if err != nil {
			w.Flush()
			return err
		}
		if !all {
			entries = slices.DeleteFunc(entries, func(e proto.Entry) bool { return strings.HasPrefix(e.Name, ".") })
		}
		if len(loose) > 0 || len(dirs) > 1 {
			if len(loose) > 0 || i > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "%s:\n", visible(d))
		}
		s.writeEntries(w, entries, long)
	}
	return w.Flush()
}

func (s *session) writeEntries(w io.Writer, entries []proto.Entry, long bool) {
	if long {
		writeLong(w, entries, s.env.Now())
	} else {
		writeShort(w, entries)
	}
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

// cmdCd changes the remote directory; "cd -" goes back to the one before, as in a shell.
func (s *session) cmdCd(_ context.Context, inv invocation) error {
	dir := inv.arg(0, "/")
	if dir == "-" {
		if s.prevCwd == "" {
			return errors.New("no previous directory")
		}
		dir = s.prevCwd
	}
	p, err := s.c.Cd(dir)
	if err != nil {
		return err
	}
	s.prevCwd, s.cwd = s.cwd, p
	s.say("directory changed to %s", visible(p))
	return nil
}

func (s *session) cmdMkdir(_ context.Context, inv invocation) error {
	for i := s.steps.done; i < len(inv.args); i++ {
		p, err := s.c.Mkdir(inv.args[i], inv.has('p'))
		if err := s.step(i, err); err != nil {
			return err
		}
		s.say("directory %s created", visible(p))
	}
	return nil
}

func (s *session) cmdRmdir(_ context.Context, inv invocation) error {
	for i := s.steps.done; i < len(inv.args); i++ {
		if err := s.step(i, s.c.Rmdir(inv.args[i])); err != nil {
			return err
		}
		s.say("directory %s removed", inv.args[i])
	}
	return nil
}

// cmdRm removes remote files: those named, and those that patterns match; with -r directories
// too, with all they hold. It goes on after a failure, and returns the first; when the
// connection is lost, it says what failed before, and returns the loss.
func (s *session) cmdRm(_ context.Context, inv invocation) error {
	if inv.has('U') {
		for i := s.steps.done; i < len(inv.args); i++ {
			if err := s.step(i, s.c.RmPartial(inv.args[i])); err != nil {
				return err
			}
			s.say("unfinished upload of %s removed", inv.args[i])
		}
		return nil
	}
	for i := s.steps.done; i < len(inv.args); i++ {
		err := s.step(i, s.rmArg(inv.args[i], inv.has('r')))
		if s.dropped() {
			if s.steps.first != nil {
				fmt.Fprintln(s.env.Stderr, "rm: "+describe(s.steps.first))
			}
			return err
		}
		s.steps.first = cmp.Or(s.steps.first, err)
	}
	return s.steps.first
}

// rmArg removes what one argument of rm names: the names a pattern matches, or if it matches
// none, the name itself. It reports the failures after the first.
func (s *session) rmArg(a string, recursive bool) error {
	targets := []match{{path: a}}
	if hasMeta(a) {
		matched, err := s.glob(a, false)
		if err != nil {
			return err
		}
		if len(matched) > 0 {
			targets = matched
		} else if e, err := s.c.Stat(a); err == nil { // a name, as a shell takes a pattern that matches nothing
			targets[0].Entry = e
		} else {
			return fmt.Errorf("no remote file matches %q", a)
		}
	}
	if len(targets) == 1 && targets[0].Type == "" && recursive {
		e, err := s.c.Stat(a)
		if err != nil {
			return err
		}
		targets[0].Entry = e
	}
	var first error
	for _, t := range targets {
		var err error
		switch {
		case t.Type == proto.EntryDir && recursive:
			var files, dirs int
			if files, dirs, err = s.removeTree(s.c, t.path); err == nil {
				s.say("directory %s removed, with the %d %s and %d %s it held", visible(t.path),
					files, plural(files, "file", "files"), dirs-1, plural(dirs-1, "directory", "directories"))
			}
		case t.Type == proto.EntryDir:
			err = fmt.Errorf("%s: is a directory: rm -r removes it with all it holds", t.path)
		default:
			if err = s.c.Rm(t.path); err == nil {
				s.say("file %s removed", visible(t.path))
			}
		}
		if err != nil && first != nil {
			fmt.Fprintln(s.env.Stderr, "rm: "+describe(err))
		}
		first = cmp.Or(first, err)
	}
	return first
}

// removeTree removes the remote directory dir and everything in it, and returns how many files
// (and links) and directories (dir included) it removed. It stops at the first failure.
func (s *session) removeTree(c *client.Client, dir string) (files, dirs int, err error) {
	t, err := walkRemote(c, dir)
	if err != nil {
		return 0, 0, err
	}
	for i := len(t.order) - 1; i >= 0; i-- { // what a directory holds before the directory
		p := path.Join(dir, t.order[i])
		if t.kind(t.order[i]) == 'd' {
			err = c.Rmdir(p)
			dirs++
		} else {
			err = c.Rm(p)
			files++
		}
		if err != nil {
			return files, dirs, fmt.Errorf("remove %s: %w", p, err)
		}
	}
	if err := c.Rmdir(dir); err != nil {
		return files, dirs, fmt.Errorf("remove %s: %w", dir, err)
	}
	return files, dirs + 1, nil
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
	if err := s.step(0, s.c.Rename(inv.args[0], inv.args[1])); err != nil {
		return err
	}
	s.say("renamed %s to %s", inv.args[0], inv.args[1])
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
