package client

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/myftp/myftp/lib/proto"
	"github.com/myftp/myftp/lib/transfer"
)

// TestGetManyInterrupted: a batch cut off (Ctrl-C, or the connection lost) during its second file
// leaves the first file complete and the second's partial file for a resume, but no empty partial
// files for the files it never reached.
func TestGetManyInterrupted(t *testing.T) {
	files := map[string][]byte{
		"a": bytes.Repeat([]byte("a"), 1000),
		"b": bytes.Repeat([]byte("b"), 3000),
		"c": bytes.Repeat([]byte("c"), 500),
		"d": bytes.Repeat([]byte("d"), 700),
	}
	const sentOfB = 1000
	for _, tc := range []struct {
		name string
		cut  bool // the server closes the connection; else the context is cancelled
	}{{"cancelled", false}, {"connection cut", true}} {
		cut := tc.cut
		t.Run(tc.name, func(t *testing.T) {
			c := fakeSession(t, func(r *proto.Reader, w *proto.Writer) {
				// All four requests are in, so all four partial files were opened.
				for range 4 {
					if _, err := nextRequest(r); err != nil {
						return
					}
				}
				serveGet(w, files["a"], len(files["a"]))
				serveGet(w, files["b"], sentOfB)
				if !cut {
					r.Next() // until the client goes away
				}
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			dir := t.TempDir()
			var items []Item
			for _, n := range []string{"a", "b", "c", "d"} {
				items = append(items, Item{Remote: n, Local: dir})
			}
			opt := Options{Progress: func(done, total int64) {
				if !cut && total == int64(len(files["b"])) && done > 0 {
					cancel()
				}
			}}
			if err := c.GetMany(ctx, items, opt, nil); err == nil {
				t.Fatal("GetMany succeeded although it was interrupted")
			}
			if got, _ := os.ReadFile(filepath.Join(dir, "a")); !bytes.Equal(got, files["a"]) {
				t.Errorf("a: %d bytes, want the whole file", len(got))
			}
			partialB := transfer.PartialName(filepath.Join(dir, "b"))
			if got, _ := os.ReadFile(partialB); !bytes.Equal(got, files["b"][:sentOfB]) {
				t.Errorf("partial of b: %d bytes, want the %d received, kept for a resume", len(got), sentOfB)
			}
			var names []string
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if want := []string{filepath.Base(partialB), "a"}; !slices.Equal(names, want) {
				t.Errorf("left in the directory: %q, want %q (no empty partial files)", names, want)
			}
		})
	}
}

// TestGetManyReportsInOrderOnceInPlace: the files of a batch are made durable and renamed while
// the next ones arrive, yet each hears of them in order, and only once the file is in place
// under its name; Start names each file before its progress.
func TestGetManyReportsInOrderOnceInPlace(t *testing.T) {
	const n = 40
	files := make([][]byte, n)
	for i := range files {
		files[i] = bytes.Repeat([]byte{byte('a' + i%26)}, 100+i*37)
	}
	c := fakeSession(t, func(r *proto.Reader, w *proto.Writer) {
		for i := range n {
			if _, err := nextRequest(r); err != nil {
				return
			}
			serveGet(w, files[i], len(files[i]))
		}
		r.Next() // until the client goes away
	})
	dir := t.TempDir()
	var items []Item
	for i := range n {
		items = append(items, Item{Remote: fmt.Sprintf("f%02d", i), Local: dir})
	}
	next, started := 0, -1
	opt := Options{
		Start: func(k int) { started = k },
		Progress: func(done, total int64) {
			if total != int64(len(files[started])) {
				t.Errorf("progress of %d bytes reported while file %d (%d bytes) is the one started", total, started, len(files[started]))
			}
		},
	}
	err := c.GetMany(context.Background(), items, opt, func(k int, r Result, err error) {
		if k != next || err != nil {
			t.Errorf("result %d (%v) reported when %d was next", k, err, next)
		}
		next = k + 1
		if got, rerr := os.ReadFile(filepath.Join(dir, items[k].Remote)); rerr != nil || !bytes.Equal(got, files[k]) {
			t.Errorf("file %d reported done but not in place: %d bytes, %v", k, len(got), rerr)
		}
	})
	if err != nil || next != n {
		t.Fatalf("GetMany: %v, %d of %d reported", err, next, n)
	}
}
