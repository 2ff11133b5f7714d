package client

import (
	"bytes"
	"context"
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
