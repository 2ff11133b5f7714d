package shell

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
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

func (s *session) home() (string, error) {
	if h := s.env.Getenv("HOME"); h != "" {
		return h, nil
	}
	return os.UserHomeDir()
}

func (s *session) cmdLcd(_ context.Context, inv invocation) error {
	dir := "~"
	if len(inv.args) == 1 {
		dir = inv.args[0]
	}
	p := filepath.Clean(s.localPath(dir))
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", p)
	}
	s.lwd = p
	fmt.Fprintf(s.env.Stdout, "local directory now %s\n", p)
	return nil
}

func (s *session) cmdLpwd(context.Context, invocation) error {
	fmt.Fprintln(s.env.Stdout, s.lwd)
	return nil
}

// cmdLls lists a local directory like ls: names sorted, directories with a trailing slash, through
// visible (a download may have brought a name from the server).
func (s *session) cmdLls(_ context.Context, inv invocation) error {
	p := s.localPath(inv.arg(0, "."))
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		fmt.Fprintln(s.env.Stdout, inv.args[0])
		return nil
	}
	entries, err := os.ReadDir(p) // sorted by name
	if err != nil {
		return err
	}
	w := bufio.NewWriter(s.env.Stdout)
	for _, e := range entries {
		name := visible(e.Name())
		if e.IsDir() {
			name += "/"
		}
		fmt.Fprintln(w, name)
	}
	return w.Flush()
}
