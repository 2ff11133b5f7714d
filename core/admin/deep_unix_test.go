//go:build unix

package admin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/myftp/myftp/lib/storage/local/deeptree"
)

// deepTree makes in dir a chain of depth directories, each made and opened relative to the one
// above (a path from the top would be too long for the system calls that take one), and writes a
// file of size bytes at the bottom.
func deepTree(t *testing.T, dir string, depth, size int) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("deep tree in %s: %v", dir, err)
	}
	unix.Close(deeptree.Make(t, fd, strings.Repeat("d", 100), depth, size))
}

// A home holding a tree far deeper than PATH_MAX (made on the server, since users cannot) is
// listed with its use, and removed with its account.
func TestDeepHome(t *testing.T) {
	t.Parallel()
	root := newRoot(t)
	if code, _, stderr := runMain(t, root, "pass-word\n", "--account", "alice", "--password-stdin"); code != 0 {
		t.Fatalf("create: exit %d: %s", code, stderr)
	}
	home := filepath.Join(root, "file_upload", "alice")
	deepTree(t, home, 500, 1000)

	code, stdout, stderr := runMain(t, root, "", "list")
	if code != 0 || stderr != "" {
		t.Fatalf("list: exit %d, stderr %q", code, stderr)
	}
	if lines := strings.Split(stdout, "\n"); len(lines) < 2 || !strings.Contains(lines[1], " 1000 B ") {
		t.Errorf("list:\n%s\nwant alice using 1000 B, the file at the bottom", stdout)
	}

	code, _, stderr = runMain(t, root, "", "delete", "alice", "--remove-home")
	if code != 0 {
		t.Fatalf("delete --remove-home: exit %d: %s", code, stderr)
	}
	if _, err := os.Lstat(home); !os.IsNotExist(err) {
		t.Errorf("the home after delete --remove-home: %v", err)
	}
}
