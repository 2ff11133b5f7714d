package servertest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/checksum"
)

// FileState is what a snapshot keeps of one file, directory or link.
type FileState struct {
	Mode  fs.FileMode
	Size  int64
	Mtime time.Time
	Link  string   // a link's target
	Sum   [32]byte // a regular file's content
}

func (s FileState) String() string {
	return fmt.Sprintf("%v %d bytes %s link %q sha256 %x", s.Mode, s.Size, s.Mtime.Format(time.RFC3339Nano), s.Link, s.Sum[:8])
}

// Snapshot records every file, directory and link under the roots, without following links,
// skipping the trees for which skip (which may be nil) returns true. Jail tests take one before
// and one after the attempts, and compare them with CompareSnapshots.
func Snapshot(t testing.TB, skip func(string) bool, roots ...string) map[string]FileState {
	t.Helper()
	m := map[string]FileState{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if skip != nil && skip(p) {
				return filepath.SkipDir
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			st := FileState{Mode: fi.Mode(), Size: fi.Size(), Mtime: fi.ModTime()}
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				st.Link, err = os.Readlink(p)
			case fi.Mode().IsRegular():
				var data []byte
				data, err = os.ReadFile(p)
				st.Sum = sha256.Sum256(data)
			}
			m[p] = st
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// CompareSnapshots reports every file removed, changed or added between two snapshots.
func CompareSnapshots(t testing.TB, what string, before, after map[string]FileState) {
	t.Helper()
	for p, b := range before {
		a, ok := after[p]
		switch {
		case !ok:
			t.Errorf("%s: %s was removed", what, p)
		case a != b:
			t.Errorf("%s: %s changed: %v, was %v", what, p, a, b)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s: %s appeared", what, p)
		}
	}
}

// RequireClientsEnv, set to 1, makes NeedClient fail a test whose client program is missing
// instead of skipping it; .ci/run sets it, so that CI never passes without the real clients.
const RequireClientsEnv = "MYFTP_REQUIRE_CLIENTS"

// NeedClient returns the path of a client program a test drives (curl, lftp, sftp...). When it
// is missing, the test is skipped with the Debian package to install (so that `go test ./...`
// works on a machine without them), or fails when RequireClientsEnv is 1.
func NeedClient(t testing.TB, prog, pkg string) string {
	t.Helper()
	if p := lookPath(prog); p != "" {
		return p
	}
	msg := fmt.Sprintf("%s not found: install it (apt-get install -y %s) to run this test; .ci/run does", prog, pkg)
	if os.Getenv(RequireClientsEnv) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// lookPath finds an executable file named prog in $PATH, or returns "". (Not os/exec's LookPath:
// no package under core/ imports os/exec, which is how the promise that the server never starts a
// program is checked.)
func lookPath(prog string) string {
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, prog)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// WaitFor polls cond every millisecond until it holds or limit passes, and reports whether it
// held: for effects that no reply announces, such as the end of a session whose client went
// away. It does not fail the test, so it may run on any goroutine.
func WaitFor(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// Eventually fails the test unless cond holds within 20 s.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !WaitFor(20*time.Second, cond) {
		t.Fatalf("still not true after 20s: %s", what)
	}
}

// Await waits for ch to yield or close, failing the test after 30 s.
func Await[T any](t testing.TB, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: nothing after 30s", what)
		panic("unreachable")
	}
}

// Sum returns the hex checksum of data with the algorithm algo (package checksum), for checking
// what a client's Result reports.
func Sum(algo string, data []byte) string {
	h := checksum.New(algo)
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}
