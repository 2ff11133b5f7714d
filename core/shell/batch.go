package shell

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/progress"
	"github.com/myftp/myftp/lib/proto"
)

// cmdMput uploads the local files that match the patterns into the remote directory.
func (s *session) cmdMput(ctx context.Context, inv invocation) error {
	items, sizes, err := s.localMatches(inv.args)
	if err != nil {
		return err
	}
	return s.many(ctx, upload, items, sizes, (*client.Client).PutMany)
}

// cmdMget downloads the remote files that match the patterns into the local directory.
func (s *session) cmdMget(ctx context.Context, inv invocation) error {
	items, sizes, err := s.remoteMatches(inv.args)
	if err != nil {
		return err
	}
	return s.many(ctx, download, items, sizes, (*client.Client).GetMany)
}

// batchFunc is PutMany or GetMany.
type batchFunc func(c *client.Client, ctx context.Context, items []client.Item, opt client.Options,
	each func(int, client.Result, error)) error

// many runs a batch transfer; with --retry, the files not yet done go again after a dropped
// connection.
func (s *session) many(ctx context.Context, dir string, items []client.Item, sizes []int64, run batchFunc) error {
	start := s.env.Now()
	var moved, bytes int64
	left, leftSizes := items, sizes
	err := s.retrying(ctx, func(ctx context.Context) error {
		v := s.newBatchView(dir, left, leftSizes)
		err := run(s.c, ctx, left, client.Options{Progress: v.progress}, v.each)
		v.bar.Finish()
		moved, bytes = moved+v.moved, bytes+v.bytes
		left, leftSizes = v.notDone()
		if err != nil {
			return v.failure(ctx, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	elapsed := s.env.Now().Sub(start)
	files := "files"
	if len(items) == 1 {
		files = "file"
	}
	fmt.Fprintf(s.out, "%d %s %sed: %s in %.2f s (%s/s)\n", len(items), files, dir, bytesize.Format(bytes),
		elapsed.Seconds(), bytesize.Format(int64(progress.Rate(moved, elapsed))))
	return nil
}

// batchView shows a batch transfer: one bar for all of it, labelled with the current file and the
// count ("[3/200] name"), and a summary line per file.
type batchView struct {
	s      *session
	bar    *progress.Bar
	dir    string
	items  []client.Item
	sizes  []int64
	total  int64 // of sizes
	before int64 // bytes of the files done
	next   int   // the file whose progress arrives: those before it are done
	seen   int   // the last file whose first progress call was seen
	ok     []bool
	failed int
	moved  int64     // bytes that travelled
	bytes  int64     // size of the files done
	last   time.Time // when the previous file was done, or the batch started
}

func (s *session) newBatchView(dir string, items []client.Item, sizes []int64) *batchView {
	v := &batchView{s: s, bar: s.newBar(), dir: dir, items: items, sizes: sizes, seen: -1, ok: make([]bool, len(items)),
		last: s.env.Now()}
	for _, n := range sizes {
		v.total += n
	}
	v.bar.Start(v.label(0))
	v.bar.Update(0, v.total)
	return v
}

func (v *batchView) label(i int) string {
	return fmt.Sprintf("[%d/%d] %s", min(i+1, len(v.items)), len(v.items), visible(remoteName(v.items[min(i, len(v.items)-1)])))
}

// progress is the progress callback of the file being transferred.
func (v *batchView) progress(done, total int64) {
	if v.next != v.seen {
		v.seen = v.next
		if done > 0 {
			v.bar.Println(visible(remoteName(v.items[v.next])) + ": " + resuming(done, total))
		}
		v.bar.SetLabel(v.label(v.next))
	}
	v.bar.Update(v.before+done, v.total)
}

// each is called once per file when it is done. The transfers of a batch overlap (the requests
// are pipelined), so a file's time in its summary is the time since the previous one was done,
// which adds up to the time of the batch.
func (v *batchView) each(i int, r client.Result, err error) {
	now := v.s.env.Now()
	r.Elapsed, v.last = now.Sub(v.last), now
	v.next = i + 1
	v.before += v.sizes[i]
	if err != nil {
		v.failed++
		v.bar.Clear()
		msg, named := describe(err), v.dir+" "+visible(remoteName(v.items[i]))+": "
		if !strings.HasPrefix(msg, named) { // the client's upload errors name the file already
			msg = named + msg
		}
		fmt.Fprintln(v.s.env.Stderr, msg)
	} else {
		v.ok[i] = true
		v.moved, v.bytes = v.moved+r.Sent(), v.bytes+r.Size
		v.bar.Println(summary(v.dir, remoteName(v.items[i]), r))
	}
	v.bar.SetLabel(v.label(v.next))
	v.bar.Update(v.before, v.total)
}

// notDone returns the files that did not succeed, for a retry.
func (v *batchView) notDone() ([]client.Item, []int64) {
	var items []client.Item
	var sizes []int64
	for i, ok := range v.ok {
		if !ok {
			items, sizes = append(items, v.items[i]), append(sizes, v.sizes[i])
		}
	}
	return items, sizes
}

// failure explains a failed batch: how many files were not transferred (those that failed and
// those a lost connection left untried) and the first error.
func (v *batchView) failure(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return transferError(ctx, v.dir, err)
	}
	if v.failed == 0 { // stopped before the files that failed were even tried
		return err
	}
	left, _ := v.notDone()
	return fmt.Errorf("%d of %d files not %sed; the first error: %w", len(left), len(v.items), v.dir, err)
}

// localMatches expands local glob patterns to the regular files they match, each to be uploaded
// under its base name. As in a shell, a name starting with a dot matches only a pattern that
// starts with one.
func (s *session) localMatches(patterns []string) ([]client.Item, []int64, error) {
	var items []client.Item
	var sizes []int64
	byName := map[string]string{}
	for _, pat := range patterns {
		matches, err := filepath.Glob(s.localPath(pat))
		if err != nil {
			return nil, nil, &usageError{fmt.Sprintf("mput: bad pattern %q", pat)}
		}
		n := 0
		hidden := strings.HasPrefix(filepath.Base(pat), ".")
		for _, m := range matches {
			fi, err := os.Stat(m)
			if err != nil || !fi.Mode().IsRegular() || (strings.HasPrefix(filepath.Base(m), ".") && !hidden) {
				continue
			}
			n++
			name := filepath.Base(m)
			if other, dup := byName[name]; dup {
				if other == m {
					continue
				}
				return nil, nil, fmt.Errorf("%s and %s would both be uploaded as %s", other, m, name)
			}
			byName[name] = m
			items, sizes = append(items, client.Item{Local: m, Remote: name}), append(sizes, fi.Size())
		}
		if n == 0 {
			return nil, nil, fmt.Errorf("no local file matches %q", pat)
		}
	}
	return items, sizes, nil
}

// remoteMatches expands remote glob patterns against listings of their directories. As in a
// shell, a name starting with a dot matches only a pattern that starts with one.
func (s *session) remoteMatches(patterns []string) ([]client.Item, []int64, error) {
	var items []client.Item
	var sizes []int64
	seen := map[string]bool{}
	for _, pat := range patterns {
		dir, base := path.Split(pat)
		if _, err := path.Match(base, ""); err != nil {
			return nil, nil, &usageError{fmt.Sprintf("mget: bad pattern %q", pat)}
		}
		listed := strings.TrimSuffix(dir, "/")
		if dir == "/" {
			listed = dir
		}
		entries, err := s.entries(listed, true)
		if err != nil {
			return nil, nil, fmt.Errorf("list %s: %w", cmp.Or(listed, "."), err)
		}
		n := 0
		for _, e := range entries {
			if !matches(base, e) {
				continue
			}
			n++
			if p := dir + e.Name; !seen[p] {
				seen[p] = true
				items, sizes = append(items, client.Item{Remote: p, Local: s.lwd}), append(sizes, e.Size)
			}
		}
		if n == 0 {
			return nil, nil, fmt.Errorf("no remote file matches %q", pat)
		}
	}
	return items, sizes, nil
}

func matches(pattern string, e proto.Entry) bool {
	if e.Type != proto.EntryFile || (strings.HasPrefix(e.Name, ".") && !strings.HasPrefix(pattern, ".")) {
		return false
	}
	ok, _ := path.Match(pattern, e.Name)
	return ok
}
