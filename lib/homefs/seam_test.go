package homefs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// ledgerHome opens the home "u" of a new store on base whose ledger is a countingLedger over a
// mapLedger, with sizes in messages as "30B", and returns the store, the session, the ledger and
// how many refusals the store reported.
func ledgerHome(t *testing.T, base string, quota int64) (*Store, *FS, *countingLedger, *atomic.Int64) {
	t.Helper()
	l := &countingLedger{Ledger: newMapLedger()}
	refused := new(atomic.Int64)
	s, f := openHome(t, base, "u", quota, Options{Ledger: l, QuotaRefused: func() { refused.Add(1) },
		FormatSize: func(n int64) string { return fmt.Sprintf("%dB", n) }})
	l.take()
	return s, f, l, refused
}

// Each operation that changes the counts is one change of the ledger, applied whole.
func TestOneChangePerOperation(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f, l, _ := ledgerHome(t, base, 1000)
	var u *Upload
	var s *Stream
	steps := []struct {
		what string
		do   func() error
		want []Counts
	}{
		{"upload claim", func() (err error) { u, err = f.BeginUpload("a", 10, srcMtime, false, ""); return err },
			[]Counts{{Reserved: 10, Files: 2, Partials: 2}}},
		{"upload write", func() error { _, err := u.Write(make([]byte, 10)); return err }, nil},
		{"upload publish", func() error { _, err := u.Commit(md5hex(make([]byte, 10))); return err },
			[]Counts{{Bytes: 10, Reserved: -10, Files: -1, Partials: -2}}},
		{"stream claim", func() (err error) { s, err = f.BeginStream("s", 0); return err },
			[]Counts{{Files: 2, Partials: 2}}},
		{"stream growth", func() error { _, err := s.Write(make([]byte, 5)); return err }, []Counts{{Reserved: 5}}},
		{"stream growth again", func() error { _, err := s.Write(make([]byte, 3)); return err }, []Counts{{Reserved: 3}}},
		{"stream publish", func() error { _, _, err := s.Commit(); return err },
			[]Counts{{Bytes: 8, Reserved: -8, Files: -1, Partials: -2}}},
		{"mkdir -p of three", func() error { _, err := f.Mkdir("d/e/f", true); return err }, []Counts{{Files: 3}}},
		{"mkdir -p of none", func() error { _, err := f.Mkdir("d/e", true); return err }, nil},
		{"rename", func() error { return f.Rename("a", "d/a") }, nil},
		{"rename replacing", func() error { return f.Rename("s", "d/a") }, []Counts{{Bytes: -10, Files: -1}}},
		{"remove", func() error { return f.Remove("d/a") }, []Counts{{Bytes: -8, Files: -1}}},
		{"rmdir", func() error { return f.Rmdir("d/e/f") }, []Counts{{Files: -1}}},
		{"upload aborted", func() error {
			u, err := f.BeginUpload("b", 10, srcMtime, false, "")
			if err == nil {
				u.Write([]byte("12345"))
				u.Abort()
			}
			return err
		}, []Counts{{Reserved: 10, Files: 2, Partials: 2}, {Bytes: 5, Reserved: -10}}},
		{"unfinished upload removed", func() error { return f.RemovePartial("b") }, []Counts{{Bytes: -5, Files: -2, Partials: -2}}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.what, err)
		}
		if got := l.take(); !slices.Equal(got, st.want) {
			t.Errorf("%s: changes %+v, want %+v", st.what, got, st.want)
		}
	}
	checkUsage(t, f, base, "u", 0)
	checkFiles(t, f, base, "u", 2)
}

// A refusal of the ledger reaches the user as the quota's own: which quota, and the counts.
func TestLedgerRefusal(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f, l, refused := ledgerHome(t, base, 1000)
	put(t, f, "old", make([]byte, 30))
	stream, err := f.BeginStream("s", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what  string
		count Count
		do    func() error
		msg   string
	}{
		{"upload", CountBytes, func() error { _, err := f.BeginUpload("b", 10, srcMtime, false, ""); return err },
			"quota exceeded: /b (used 30B of 1000B, upload needs 10B more)"},
		{"stream", CountBytes, func() error { _, err := f.BeginStream("c", 0); return err },
			"quota exceeded: /c (used 30B of 1000B, upload needs 1B more)"},
		{"stream growth", CountBytes, func() error { _, err := stream.Write(make([]byte, 5)); return err },
			"quota exceeded: /s (used 30B of 1000B, upload needs 5B more)"},
		{"upload", CountFiles, func() error { _, err := f.BeginUpload("b", 10, srcMtime, false, ""); return err },
			"quota exceeded: /b (file count quota: 3 of 100000 files and directories used, an unfinished upload counting two)"},
		{"mkdir", CountFiles, func() error { _, err := f.Mkdir("d", false); return err },
			"quota exceeded: /d (file count quota: 3 of 100000 files and directories used, an unfinished upload counting two)"},
		{"upload", CountPartials, func() error { _, err := f.BeginUpload("b", 10, srcMtime, false, ""); return err },
			"quota exceeded: /b (1 unfinished uploads kept, at most 100: resume or remove them (myftpc: partials, rm --partial NAME))"},
	} {
		l.set(tc.count, nil)
		err := tc.do()
		l.set(0, nil)
		wantKind(t, tc.what, err, ErrQuota)
		if err == nil || err.Error() != tc.msg {
			t.Errorf("%s refused for %s: %v, want %q", tc.what, tc.count, err, tc.msg)
		}
	}
	if n := refused.Load(); n != 6 {
		t.Errorf("%d refusals reported, want 6", n)
	}
	_, _, err = stream.Commit()
	wantKind(t, "commit of a stream that lost a write", err, ErrQuota)
	if p := partialFiles(t, filepath.Join(base, "u")); len(p) != 0 {
		t.Errorf("refusals left partial uploads %v", p)
	}
	if f.h.reserved != 0 || len(f.h.uploading) != 0 {
		t.Errorf("after the refusals: reserved %d, uploading %v", f.h.reserved, f.h.uploading)
	}
	checkUsage(t, f, base, "u", 30)
	checkFiles(t, f, base, "u", 1)
}

// A ledger that fails (its database down) fails what needs it with an error that wraps the
// ledger's, and leaves nothing half done: no reservation kept, no unfinished upload left behind
// but one kept for a resume; what was done on the disk stands, and is counted again at the next
// Open.
func TestLedgerDown(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	s, f, l, _ := ledgerHome(t, base, 1000)
	down := errors.New("ledger down")
	put(t, f, "old", make([]byte, 30))
	stream, err := f.BeginStream("s", 0)
	if err != nil {
		t.Fatal(err)
	}
	u := begin(t, f, "z", 10, srcMtime, false)
	u.Write([]byte("0123456789"))

	l.set(0, down)
	for what, do := range map[string]func() error{
		"upload":        func() error { _, err := f.BeginUpload("b", 10, srcMtime, false, ""); return err },
		"stream":        func() error { _, err := f.BeginStream("c", 0); return err },
		"stream growth": func() error { _, err := stream.Write(make([]byte, 5)); return err },
		"publish":       func() error { _, err := u.Commit(md5hex([]byte("0123456789"))); return err },
		"mkdir":         func() error { _, err := f.Mkdir("d", false); return err },
	} {
		err := do()
		if !errors.Is(err, down) || !errors.Is(err, ErrIO) {
			t.Errorf("%s with the ledger down: %v, want ErrIO wrapping the ledger's error", what, err)
		}
	}
	stream.Abort()
	if err := f.Remove("old"); err != nil {
		t.Errorf("Remove with the ledger down: %v; what it frees is counted again later", err)
	}
	if _, err := s.Open("u", 1000); !errors.Is(err, down) {
		t.Errorf("Open with the ledger down: %v", err)
	}
	for _, name := range []string{"b", "c", "s", "z", "d", "old"} {
		if _, err := os.Lstat(filepath.Join(base, "u", name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want nothing there", name, err)
		}
	}
	if p := partialFiles(t, filepath.Join(base, "u")); !slices.Equal(p, []string{key("z")}) {
		t.Errorf("unfinished uploads %v, want only the one whose publish failed, kept for a resume", p)
	}
	if f.h.reserved != 0 || len(f.h.uploading) != 0 {
		t.Errorf("with the ledger down: reserved %d, uploading %v", f.h.reserved, f.h.uploading)
	}

	// Back up: the next Open measures the home again, and the upload resumes.
	l.set(0, nil)
	g := openAgain(t, s, "u", 1000)
	if c := l.Ledger.(*mapLedger).held("u"); c != (Counts{Bytes: 10, Files: 2, Partials: 2}) {
		t.Errorf("the ledger holds %+v after the next Open, want the unfinished upload alone", c)
	}
	u = begin(t, g, "z", 10, srcMtime, true)
	if u.Offset() != 10 {
		t.Errorf("resumed at %d, want 10", u.Offset())
	}
	if _, err := u.Commit(md5hex([]byte("0123456789"))); err != nil {
		t.Fatal(err)
	}
	checkUsage(t, g, base, "u", 10)
	checkFiles(t, g, base, "u", 1)
}

// A directory refused by its parent's absence takes nothing from the file count.
func TestMkdirMissingParentCountsNothing(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "u", 100, Options{})
	_, err := f.Mkdir("a/b", false)
	wantKind(t, "Mkdir without its parent", err, ErrNotFound)
	checkFiles(t, f, base, "u", 0)
	if _, err := f.Mkdir("a/b", true); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, f, base, "u", 2)
}

// The message of a refusal names the quota: the ledger's own error says which count.
func TestLimitErrorNamesTheCount(t *testing.T) {
	t.Parallel()
	err := error(&LimitError{Count: CountPartials, Max: 4, Seen: Counts{Partials: 4}})
	if !strings.Contains(err.Error(), "unfinished uploads") || !errors.Is(err, ErrQuota) {
		t.Errorf("%v: want it to name the unfinished uploads and match ErrQuota", err)
	}
}
