package shell

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/myftp/myftp/lib/proto"
)

// localPath resolves a local path typed by the user against the local directory, expanding "~"
// and a leading "~/" to the home directory. A trailing separator stays: it says that the path
// names a directory (get FILE DIR/ must not create a file named DIR).
func (s *session) localPath(p string) string {
	r := s.resolveLocal(p)
	if p != "" && os.IsPathSeparator(p[len(p)-1]) && !os.IsPathSeparator(r[len(r)-1]) {
		r += string(filepath.Separator)
	}
	return r
}

func (s *session) resolveLocal(p string) string {
	if p == "~" || len(p) > 1 && p[0] == '~' && os.IsPathSeparator(p[1]) {
		if home, err := s.home(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(s.lwd, p)
}

// shown returns a local path as messages show it: relative to the local directory when it is
// inside it.
func (s *session) shown(p string) string {
	if rel, err := filepath.Rel(s.lwd, p); err == nil && filepath.IsLocal(rel) {
		return rel
	}
	return p
}

func (s *session) home() (string, error) {
	if h := s.env.Getenv("HOME"); h != "" {
		return h, nil
	}
	return os.UserHomeDir()
}

// cmdLcd changes the local directory; "lcd -" goes back to the one before, as in a shell.
func (s *session) cmdLcd(_ context.Context, inv invocation) error {
	dir := inv.arg(0, "~")
	if dir == "-" {
		if s.prevLwd == "" {
			return errors.New("no previous local directory")
		}
		dir = s.prevLwd
	}
	p := filepath.Clean(s.localPath(dir))
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", p)
	}
	s.prevLwd, s.lwd = s.lwd, p
	s.say("local directory now %s", p)
	return nil
}

func (s *session) cmdLpwd(context.Context, invocation) error {
	fmt.Fprintln(s.env.Stdout, s.lwd)
	return nil
}

// cmdLls lists a local directory like ls: names sorted, directories with a trailing slash, names
// starting with a dot only with -a; with -l in long form, as dir lists remote ones. Names go
// through visible (a download may have brought a name from the server).
func (s *session) cmdLls(_ context.Context, inv invocation) error {
	p := s.localPath(inv.arg(0, "."))
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(s.env.Stdout)
	if !fi.IsDir() {
		s.writeEntries(w, []proto.Entry{localEntry(inv.args[0], fi)}, inv.has('l'))
		return w.Flush()
	}
	des, err := os.ReadDir(p) // sorted by name
	if err != nil {
		return err
	}
	entries := make([]proto.Entry, 0, len(des))
	for _, d := range des {
		if strings.HasPrefix(d.Name(), ".") && !inv.has('a') {
			continue
		}
		fi, err := os.Stat(filepath.Join(p, d.Name())) // what a link leads to
		if err != nil {
			fi, err = d.Info()
		}
		if err != nil {
			continue // removed meanwhile
		}
		entries = append(entries, localEntry(d.Name(), fi))
	}
	s.writeEntries(w, entries, inv.has('l'))
	return w.Flush()
}

// localEntry describes a local file as the server describes its files.
func localEntry(name string, fi fs.FileInfo) proto.Entry {
	e := proto.Entry{Name: name, Size: fi.Size(), Mode: fi.Mode().String(), Mtime: fi.ModTime(), Type: proto.EntryFile}
	switch {
	case fi.IsDir():
		e.Type = proto.EntryDir
	case fi.Mode()&fs.ModeSymlink != 0:
		e.Type = proto.EntryLink
	case !fi.Mode().IsRegular():
		e.Type = "o"
	}
	return e
}

// cmdLmkdir creates local directories (with -p, their parents, and no error if they exist).
func (s *session) cmdLmkdir(_ context.Context, inv invocation) error {
	for _, dir := range inv.args {
		p := filepath.Clean(s.localPath(dir))
		var err error
		if inv.has('p') {
			err = os.MkdirAll(p, 0o777)
		} else {
			err = os.Mkdir(p, 0o777)
		}
		if err != nil {
			return err
		}
		s.say("local directory %s created", p)
	}
	return nil
}
