package shell

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

// cmdMput uploads the local files that match the patterns into the remote directory (with -r,
// the directories too).
func (s *session) cmdMput(ctx context.Context, inv invocation) error {
	start := s.env.Now()
	p := &plan{dir: upload, perFile: true}
	if err := s.localMatches(p, inv.args, inv.has('r')); err != nil {
		return err
	}
	return s.execute(ctx, p, parallelism(inv), start)
}

// cmdMget downloads the remote files that match the patterns into the local directory (with -r,
// the directories too).
func (s *session) cmdMget(ctx context.Context, inv invocation) error {
	start := s.env.Now()
	p := &plan{dir: download, perFile: true, replace: inv.has('f')}
	if err := s.remoteMatches(p, inv.args, inv.has('r')); err != nil {
		return err
	}
	return s.execute(ctx, p, parallelism(inv), start)
}

// localMatches expands local glob patterns into p: each regular file is uploaded under its base
// name, each directory (with recursive) as a tree of that name. As in a shell, a name starting
// with a dot matches only a pattern that starts with one. A directory without recursive is left
// out, and said to be.
func (s *session) localMatches(p *plan, patterns []string, recursive bool) error {
	byName := map[string]string{}
	for _, pat := range patterns {
		matches, err := filepath.Glob(s.localPath(pat))
		if err != nil {
			return &usageError{fmt.Sprintf("mput: bad pattern %q", pat)}
		}
		files, dirs := 0, 0
		hidden := strings.HasPrefix(filepath.Base(pat), ".")
		for _, m := range matches {
			name := filepath.Base(m)
			fi, err := os.Stat(m)
			if err != nil || (strings.HasPrefix(name, ".") && !hidden) {
				continue
			}
			if other, dup := byName[name]; dup {
				if other == m {
					continue
				}
				return fmt.Errorf("%s and %s would both be uploaded as %s", other, m, name)
			}
			switch {
			case fi.IsDir() && !recursive:
				dirs++
				p.notes = append(p.notes, "skipped directory "+s.shown(m)+": mput -r uploads directories")
				continue
			case fi.IsDir():
				if err := s.planUpload(p, m, name); err != nil {
					return err
				}
			case fi.Mode().IsRegular():
				p.jobs = append(p.jobs, fileJob{local: m, remote: name, name: name, size: fi.Size()})
			default:
				continue
			}
			files++
			byName[name] = m
		}
		if files == 0 && dirs > 0 {
			return fmt.Errorf("%q: only directories match; mput -r uploads them", pat)
		}
		if files == 0 {
			return fmt.Errorf("no local file matches %q", pat)
		}
	}
	return nil
}

// remoteMatches expands remote glob patterns into p, against listings of their directories:
// each file is downloaded into the local directory under its base name, each directory (with
// recursive) as a tree of that name. As in a shell, a name starting with a dot matches only a
// pattern that starts with one.
func (s *session) remoteMatches(p *plan, patterns []string, recursive bool) error {
	seen := map[string]bool{}
	for _, pat := range patterns {
		matched, err := s.glob(pat, true)
		if err != nil {
			return err
		}
		files, dirs := 0, 0
		for _, m := range matched {
			if seen[m.path] {
				files++
				continue
			}
			switch {
			case m.Type == proto.EntryDir && !recursive:
				dirs++
				p.notes = append(p.notes, "skipped directory "+m.path+": mget -r downloads directories")
				continue
			case m.Type == proto.EntryDir:
				dst := filepath.Join(s.lwd, m.Name)
				if !localName(m.Name) {
					p.notes = append(p.notes, "skipped directory "+m.path+": not a name this system can give a directory")
					continue
				}
				if err := s.planDownload(p, m.path, dst); err != nil {
					return err
				}
			case m.Type == proto.EntryFile:
				j := fileJob{remote: m.path, name: m.path, size: m.Size}
				// What is at the target (a directory in the way...) is looked at when the batch
				// is sifted, once for all its files.
				if j.local, err = client.TargetIn(s.lwd, m.path); err != nil {
					p.refused = append(p.refused, failedJob{j, err})
				} else {
					p.jobs = append(p.jobs, j)
				}
			default:
				continue
			}
			files++
			seen[m.path] = true
		}
		if files == 0 && dirs > 0 {
			return fmt.Errorf("%q: only directories match; mget -r downloads them", pat)
		}
		if files == 0 {
			return fmt.Errorf("no remote file matches %q", pat)
		}
	}
	return nil
}

// match is a remote entry that a pattern matched, with its path as the pattern spells it.
type match struct {
	proto.Entry
	path string
}

// glob expands a remote pattern against a listing of its directory (long: with sizes, modes and
// times), sorted by name. As in a shell, a name starting with a dot matches only a pattern that
// starts with one.
func (s *session) glob(pat string, long bool) ([]match, error) {
	dir, base := path.Split(pat)
	if _, err := path.Match(base, ""); err != nil {
		return nil, &usageError{fmt.Sprintf("bad pattern %q", pat)}
	}
	listed := strings.TrimSuffix(dir, "/")
	if dir == "/" {
		listed = dir
	}
	entries, err := s.entries(listed, long)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", cmp.Or(listed, "."), err)
	}
	var out []match
	for _, e := range entries {
		if strings.HasPrefix(e.Name, ".") && !strings.HasPrefix(base, ".") {
			continue
		}
		if ok, _ := path.Match(base, e.Name); ok {
			out = append(out, match{e, dir + e.Name})
		}
	}
	return out, nil
}

// hasMeta reports whether a path is a pattern: it holds one of * ? [.
func hasMeta(p string) bool { return strings.ContainsAny(p, "*?[") }

// batchFunc is PutMany or GetMany.
type batchFunc func(c *client.Client, ctx context.Context, items []client.Item, opt client.Options,
	each func(int, client.Result, error)) error

// runJobs transfers jobs, n at once, with one progress bar for all of them; with --retry, the
// files not yet done go again after a lost connection, and again for a while if the server
// refused them all as busy (450) then. It returns the totals and the first error.
func (s *session) runJobs(ctx context.Context, dir string, jobs []fileJob, perFile bool, n int) (batchTotals, error) {
	var t batchTotals
	left, lost, other := jobs, false, false
	dropped := func() bool { return lost || s.dropped() }
	busy := func(err error) bool { return !other && fileBusy(err) }
	err := s.retryingIf(ctx, dropped, busy, func(ctx context.Context) error {
		v := s.newBatchView(dir, left, perFile)
		err := v.run(ctx, n)
		v.end(ctx)
		t.files, t.bytes, t.moved = t.files+v.files, t.bytes+v.bytes, t.moved+v.moved
		left, lost, other = v.notDone(), v.lost, v.other
		if err != nil && ctx.Err() != nil {
			return transferError(ctx, dir, err)
		}
		return err
	})
	t.failed = len(left)
	return t, err
}

// batchView shows a batch transfer: one bar for all of it, labelled with the count and the file
// that started last ("[3/200] name"), and with perFile a summary line per file above it. Its
// lanes are the connections that take the files, each a part at a time. The bar is drawn once the
// first file starts, and on a terminal goes away when the batch is done (its lines and the total
// say the rest); an interrupted batch leaves it as it stood.
type batchView struct {
	s       *session
	m       *meter
	dir     string
	jobs    []fileJob
	perFile bool
	total   int64 // of the sizes

	mu     sync.Mutex
	over   int           // files done or failed
	begun  int           // files whose data started to flow
	before int64         // the sizes of the files done or failed
	moving map[int]int64 // the bytes so far of the files started and not yet done, by job
	now    []int         // per lane, the job whose progress arrives
	ok     []bool
	files  int
	moved  int64 // bytes that travelled
	bytes  int64 // sizes of the files transferred
	lost   bool  // a connection was lost
	other  bool  // a file failed for another reason than 450 (file busy)
}

func (s *session) newBatchView(dir string, jobs []fileJob, perFile bool) *batchView {
	v := &batchView{s: s, m: s.newMeter(), dir: dir, jobs: jobs, perFile: perFile, ok: make([]bool, len(jobs))}
	for _, j := range jobs {
		v.total += j.size
	}
	v.m.Start(v.label(0))
	return v
}

// end takes the bar down where the file lines go too (a terminal): it stays there, as it stood,
// only when ctx was interrupted. A bar on a stream of its own (--progress) ends with its last
// state, as a single transfer's does.
func (v *batchView) end(ctx context.Context) {
	if ctx.Err() != nil || !v.m.same {
		v.m.Finish()
		return
	}
	v.m.Clear()
}

// label names file i, the begun-th to start ("[3/200] name"): a download's data may start before
// the file ahead of it is reported done (it is still being made durable).
func (v *batchView) label(i int) string {
	return fmt.Sprintf("[%d/%d] %s", min(max(v.begun, 1), len(v.jobs)), len(v.jobs), visible(v.jobs[i].name))
}

// run transfers the files on n connections (fewer when the server refuses more): the session's
// and n-1 others of the same account, which each take a part of the files at a time.
func (v *batchView) run(ctx context.Context, n int) error {
	parts := split(v.jobs, n)
	conns, release := v.s.conns(ctx, n, len(parts))
	defer release()
	v.moving, v.now = map[int]int64{}, make([]int, len(conns))
	work := make(chan []int, len(parts))
	for _, p := range parts {
		work <- p
	}
	close(work)
	run := batchFunc((*client.Client).PutMany)
	if v.dir == download {
		run = (*client.Client).GetMany
	}
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for id, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[id] = v.lane(ctx, id, c, work, run)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// lane transfers the parts it takes from work on c, until there are none left or c is lost. It
// returns the first error.
func (v *batchView) lane(ctx context.Context, id int, c *client.Client, work <-chan []int, run batchFunc) error {
	var first error
	last := v.s.env.Now() // when its previous file was done
	for part := range work {
		if ctx.Err() != nil || c.Err() != nil {
			break
		}
		items := make([]client.Item, len(part))
		for k, i := range part {
			items[k] = v.jobs[i].item()
		}
		next, seen := 0, -1 // the file of part whose progress arrives; the last one shown
		progress := func(done, total int64) {
			if next != seen {
				seen = next
				v.started(id, part[next], done, total)
			}
			v.progress(id, done)
		}
		each := func(k int, r client.Result, err error) {
			now := v.s.env.Now()
			// The transfers of a part overlap (the requests are pipelined), so a file's time
			// is the time since the previous one was done: they add up to the part's.
			r.Elapsed, last = now.Sub(last), now
			v.done(id, part[k], r, err)
		}
		start := func(k int) { next = k }
		err := run(c, ctx, items, client.Options{Progress: progress, Start: start}, each)
		first = cmp.Or(first, err)
		if c.Err() != nil {
			v.mu.Lock()
			v.lost = true
			v.mu.Unlock()
			break
		}
	}
	return first
}

// started is called when file i's data starts to flow on lane, from done bytes on.
func (v *batchView) started(lane, i int, done, total int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.begun++
	v.now[lane] = i
	v.moving[i] = done
	if done > 0 {
		v.m.Println(visible(v.jobs[i].name) + ": " + resuming(done, total))
	}
	v.m.SetLabel(v.label(i))
}

// progress is the progress of the current file of a lane.
func (v *batchView) progress(lane int, done int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.moving[v.now[lane]]; ok {
		v.moving[v.now[lane]] = done
	}
	v.m.Update(v.doneBytes(), v.total)
}

func (v *batchView) doneBytes() int64 {
	n := v.before
	for _, m := range v.moving {
		n += m
	}
	return n
}

// done is called once per file when it is over.
func (v *batchView) done(lane, i int, r client.Result, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.moving, i)
	v.over++
	v.before += v.jobs[i].size
	if err != nil {
		v.other = v.other || !fileBusy(err)
		v.m.Clear()
		msg, named := describe(err), v.dir+" "+visible(v.jobs[i].name)+": "
		if !strings.HasPrefix(msg, named) { // the client's upload errors name the file already
			msg = named + msg
		}
		fmt.Fprintln(v.s.env.Stderr, msg)
	} else {
		v.ok[i] = true
		v.files++
		v.moved, v.bytes = v.moved+r.Sent(), v.bytes+r.Size
		if v.perFile {
			v.m.Println(summary(v.dir, v.jobs[i].name, r))
		}
	}
	if v.over < len(v.jobs) { // not after the last: its line is the last word, before the total
		v.m.Update(v.doneBytes(), v.total)
	}
}

// notDone returns the files that did not succeed, for a retry.
func (v *batchView) notDone() []fileJob {
	var jobs []fileJob
	for i, ok := range v.ok {
		if !ok {
			jobs = append(jobs, v.jobs[i])
		}
	}
	return jobs
}

// partFiles is the most small files a connection takes at once when there are several: enough
// to pipeline their requests, few enough to share them out.
const partFiles = 16

// smallFile is the largest file of a part of several: larger ones are taken alone.
const smallFile = 1 << 20

// split shares jobs out into the parts the connections take in turn (indices of jobs): with one
// connection, all of them at once; else each large file alone and the small ones by partFiles.
func split(jobs []fileJob, n int) [][]int {
	var parts [][]int
	var cur []int
	for i, j := range jobs {
		if n > 1 && (j.size > smallFile || len(cur) == partFiles) && len(cur) > 0 {
			parts, cur = append(parts, cur), nil
		}
		cur = append(cur, i)
		if n > 1 && j.size > smallFile {
			parts, cur = append(parts, cur), nil
		}
	}
	if len(cur) > 0 {
		parts = append(parts, cur)
	}
	return parts
}

// conns returns the connections that transfer asked files at once (-P), of which no more than
// useful serve (one per part of the files): the session's and new ones of the same account, in
// the same remote directory, made one after the other (the server limits the connections of one
// address that have not logged in yet). They are at most maxParallel, the server's default limit
// of sessions per account; when the server refuses one (too many sessions of the account, or
// connections from this address), the transfer goes on with those it has. A notice says so in
// both cases. release closes the new ones.
func (s *session) conns(ctx context.Context, asked, useful int) (conns []*client.Client, release func()) {
	if asked > maxParallel {
		fmt.Fprintf(s.env.Stderr, "-P %d: at most %d files at once (the default limit of sessions per account of myftps)\n", asked, maxParallel)
		asked = maxParallel
	}
	conns = []*client.Client{s.c}
	for len(conns) < min(asked, useful) {
		c, err := s.extraConn(ctx)
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintf(s.env.Stderr, "-P %d: %d %s only: %s\n", asked, len(conns), plural(len(conns), "connection", "connections"), describe(err))
			}
			break
		}
		conns = append(conns, c)
	}
	return conns, func() {
		for _, c := range conns[1:] {
			c.Close()
		}
	}
}

// extraConn connects and logs in once more to the server of the session, which it trusts
// already, and goes to the session's remote directory.
func (s *session) extraConn(ctx context.Context) (*client.Client, error) {
	cfg := s.cfg
	cfg.Notify = func(string) {} // the session's connection said it all
	cfg.TrustNew = func(context.Context, string, string) error {
		return fmt.Errorf("not in %s", cfg.KnownHosts)
	}
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := c.Login(s.user, s.password); err != nil {
		c.Close()
		return nil, err
	}
	if s.cwd != "/" {
		if _, err := c.Cd(s.cwd); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}
