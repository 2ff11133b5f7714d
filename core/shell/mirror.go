package shell

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/progress"
	"github.com/myftp/myftp/lib/proto"
)

// plan is what a transfer command of several files (mput, mget, put -r, get -r, mirror) is to do.
type plan struct {
	dir     string    // upload or download
	mkdirs  []string  // directories to create at the destination, parents first
	jobs    []fileJob // files to send, unless the destination has them already
	extras  []extra   // what the destination has and the source has not (--delete)
	notes   []string  // what was left out, and why
	refused []failedJob

	perFile bool // a line for each file (mput, mget); else the summary only
	replace bool // replace a different local file (get -f, mirror)
	delete  bool // remove the extras (mirror --delete)
	dryRun  bool // say what would be done, and do nothing
}

// extra is an entry of the destination that the source does not have.
type extra struct {
	path string // as the destination names it: a remote path or a local one
	dir  bool
}

// cmdMirror makes a directory a copy of another: the local TARGET of the remote SOURCE, or with
// -R the remote TARGET of the local SOURCE. TARGET is by default SOURCE's name, in the local (-R:
// the remote) directory.
func (s *session) cmdMirror(ctx context.Context, inv invocation) error {
	p := &plan{replace: true, delete: inv.has('D'), dryRun: inv.has('n')}
	start := s.env.Now()
	if inv.has('R') {
		p.dir = upload
		src := filepath.Clean(s.localPath(inv.args[0]))
		dst := inv.arg(1, filepath.Base(src))
		if !localName(dst) && len(inv.args) == 1 {
			return &usageError{fmt.Sprintf("mirror: %s: give the remote directory to copy it to", inv.args[0])}
		}
		if err := s.planUpload(p, src, dst); err != nil {
			return err
		}
	} else {
		p.dir = download
		src := inv.args[0]
		dst, err := s.localTree(src, inv.arg(1, ""), false)
		if err != nil {
			return err
		}
		if err := s.planDownload(p, src, dst); err != nil {
			return err
		}
	}
	return s.execute(ctx, p, parallelism(inv), start)
}

// parallelism is the number of files at once that -P asks for (default 1).
func parallelism(inv invocation) int {
	n, err := strconv.Atoi(inv.value('P', "1"))
	if err != nil { // checkParallel let it through: it cannot be
		return 1
	}
	return n
}

// localTree returns the local directory that a download of the remote directory src goes to:
// without dst, src's name in the local directory; else dst, or with into (get -r, as cp -r) src's
// name inside dst when dst is an existing directory (dst itself for the remote "/").
func (s *session) localTree(src, dst string, into bool) (string, error) {
	abs := src
	if !path.IsAbs(abs) {
		abs = path.Join(s.cwd, src)
	}
	base := path.Base(abs)
	switch {
	case dst != "":
		d := filepath.Clean(s.localPath(dst))
		if fi, err := os.Stat(d); into && err == nil && fi.IsDir() && localName(base) {
			return filepath.Join(d, base), nil
		}
		return d, nil
	case localName(base):
		return filepath.Join(s.lwd, base), nil
	}
	return "", &usageError{fmt.Sprintf("%s: give the local directory to copy it into", src)}
}

// planUpload plans the copy of the local directory src to the remote directory dst.
func (s *session) planUpload(p *plan, src, dst string) error {
	from, err := walkLocal(src)
	if err != nil {
		return err
	}
	to := newTree()
	e, err := s.c.Stat(dst)
	switch {
	case err != nil && s.c.Err() == nil && notExist(err):
		p.mkdirs = append(p.mkdirs, dst)
	case err != nil:
		return err
	case e.Type != proto.EntryDir:
		return fmt.Errorf("%s: not a directory on the server", dst)
	default:
		if to, err = walkRemote(s.c, dst); err != nil {
			return err
		}
	}
	p.note(s.shown(src), from.skipped)
	p.compareTrees(from, to, func(rel string) string { return path.Join(dst, rel) }, func(rel string) (fileJob, error) {
		r := path.Join(dst, rel)
		return fileJob{local: filepath.Join(src, filepath.FromSlash(rel)), remote: r, name: r}, nil
	})
	return nil
}

// planDownload plans the copy of the remote directory src to the local directory dst.
func (s *session) planDownload(p *plan, src, dst string) error {
	e, err := s.c.Stat(src)
	if err != nil {
		return err
	}
	if e.Type != proto.EntryDir {
		return fmt.Errorf("%s: not a directory", src)
	}
	from, err := walkRemote(s.c, src)
	if err != nil {
		return err
	}
	to := newTree()
	switch fi, err := os.Stat(dst); {
	case errors.Is(err, os.ErrNotExist):
		p.mkdirs = append(p.mkdirs, dst)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s: not a directory", dst)
	default:
		if to, err = walkLocal(dst); err != nil {
			return err
		}
	}
	p.note(src, from.skipped)
	if !p.delete { // with --delete, what the walk left out goes
		p.note(s.shown(dst), to.skipped)
	}
	local := func(rel string) string { return filepath.Join(dst, filepath.FromSlash(rel)) }
	p.compareTrees(from, to, local, func(rel string) (fileJob, error) {
		r := path.Join(src, rel)
		j := fileJob{local: local(rel), remote: r, name: r}
		for _, name := range strings.Split(rel, "/") {
			if !localName(name) {
				return j, fmt.Errorf("%q: not a name this system can give a file", name)
			}
		}
		if !p.delete && blocked(to, rel) {
			return j, errInWay
		}
		return j, nil
	})
	return nil
}

// blocked reports whether a directory above rel is left out of the local walk (a symbolic link
// that is not followed): a download must not go through it.
func blocked(t *tree, rel string) bool {
	for d := path.Dir(rel); d != "."; d = path.Dir(d) {
		if t.kind(d) == 'x' {
			return true
		}
	}
	return false
}

// compareTrees adds to p what makes the destination tree to a copy of the source tree from:
// the directories it lacks, the files (dest says where each goes, job makes its job or refuses
// it), and with delete what it has that from has not (only the topmost of a removed directory).
func (p *plan) compareTrees(from, to *tree, dest func(rel string) string, job func(rel string) (fileJob, error)) {
	for _, rel := range from.order {
		e := from.entries[rel]
		switch e.kind {
		case 'd':
			if to.kind(rel) == 'd' || to.kind(rel) == 'x' && !p.delete {
				continue // one that is left out is refused with the files below it
			}
			if _, err := job(rel); err == nil {
				p.mkdirs = append(p.mkdirs, dest(rel))
			}
		case 'f':
			j, err := job(rel)
			j.size = e.size
			if err != nil {
				p.refused = append(p.refused, failedJob{j, err})
				continue
			}
			d := to.entries[rel]
			if p.delete && d.kind != 'f' {
				d = destEntry{} // removed first
			}
			j.dest = &d
			p.jobs = append(p.jobs, j)
		}
	}
	if !p.delete {
		return
	}
	var gone []string
	for _, rel := range to.order {
		if from.kind(rel) == to.kind(rel) || under(rel, gone) {
			continue
		}
		p.extras = append(p.extras, extra{path: dest(rel), dir: to.kind(rel) == 'd'})
		gone = append(gone, rel)
	}
}

// under reports whether rel is inside one of dirs.
func under(rel string, dirs []string) bool {
	for _, d := range dirs {
		if strings.HasPrefix(rel, d+"/") {
			return true
		}
	}
	return false
}

// note records what a walk of root left out.
func (p *plan) note(root string, skipped []string) {
	for _, why := range skipped {
		p.notes = append(p.notes, "skipped "+path.Join(filepath.ToSlash(root), why))
	}
}

// batchTotals counts what a transfer command did.
type batchTotals struct {
	files, same, failed, dirs, removed int
	bytes, moved                       int64 // sizes of the files transferred, bytes that travelled
}

// execute does what p says: it sorts the files out (sift), removes the extras, creates the
// directories and transfers the files, n at once, and ends with one summary line. With dryRun it
// says what it would do instead. Its error counts the files that were not transferred and gives
// the first reason.
func (s *session) execute(ctx context.Context, p *plan, n int, start time.Time) error {
	sf, err := s.sift(ctx, s.c, p.dir, p.jobs, p.replace)
	if err != nil {
		return err
	}
	for _, note := range p.notes {
		s.say("%s", visible(note))
	}
	refused := append(p.refused, sf.refused...)
	if p.dryRun {
		s.dryRun(p, sf, refused)
		return nil
	}
	var t batchTotals
	var first error
	fail := func(err error) {
		fmt.Fprintln(s.env.Stderr, describe(err))
		first = cmp.Or(first, err)
	}
	for _, x := range p.extras {
		if err := s.removeExtra(p.dir, x); err != nil {
			fail(err)
			continue
		}
		t.removed++
		s.say("removed %s", s.destName(p.dir, x.path))
	}
	for _, d := range p.mkdirs {
		if err := s.makeDir(p.dir, d); err != nil {
			fail(err)
			continue
		}
		t.dirs++
	}
	for _, r := range refused {
		fail(fmt.Errorf("%s %s: %w", p.dir, visible(r.job.name), r.err))
	}
	t.failed, t.same = len(refused), len(sf.same)
	if p.perFile {
		for _, f := range sf.same {
			s.say("%s", sameLine(f, s.c.Checksum()))
		}
	}
	if len(sf.todo) > 0 {
		bt, err := s.runJobs(ctx, p.dir, sf.todo, p.perFile, n)
		t.files, t.bytes, t.moved, t.failed = bt.files, bt.bytes, bt.moved, t.failed+bt.failed
		if err != nil && (ctx.Err() != nil || bt.failed == 0) { // interrupted, or nothing was tried
			return err
		}
		if err != nil {
			first = cmp.Or(first, err)
		}
	}
	s.say("%s", totalsLine(p.dir, t, s.env.Now().Sub(start)))
	if first == nil {
		return nil
	}
	if t.failed == 0 {
		return first
	}
	return fmt.Errorf("%d of %d files not %sed; the first error: %w", t.failed, len(p.jobs)+len(p.refused), p.dir, first)
}

// totalsLine is the summary of a transfer command:
//
//	3 files uploaded, 297 skipped (already identical), 12 directories created: 1.2 MiB in 0.31 s (3.9 MiB/s)
//
// The bytes are those that travelled in this run; when some files resumed, the whole follows.
func totalsLine(dir string, t batchTotals, elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s %sed", t.files, plural(t.files, "file", "files"), dir)
	for _, part := range []struct {
		n    int
		what string
	}{{t.same, "skipped (already identical)"}, {t.dirs, plural(t.dirs, "directory", "directories") + " created"},
		{t.removed, "removed"}, {t.failed, "failed"}} {
		if part.n > 0 {
			fmt.Fprintf(&b, ", %d %s", part.n, part.what)
		}
	}
	fmt.Fprintf(&b, ": %s in %.2f s (%s/s)", bytesize.Format(t.moved), elapsed.Seconds(),
		bytesize.Format(int64(progress.Rate(t.moved, elapsed))))
	if t.bytes > t.moved { // some resumed: what travelled, then the whole
		fmt.Fprintf(&b, "; %s in all, %s of it from earlier runs", bytesize.Format(t.bytes), bytesize.Format(t.bytes-t.moved))
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// dryRun says what execute would do.
func (s *session) dryRun(p *plan, sf sifted, refused []failedJob) {
	w := s.env.Stdout
	for _, x := range p.extras {
		fmt.Fprintf(w, "would remove %s\n", s.destName(p.dir, x.path))
	}
	for _, d := range p.mkdirs {
		fmt.Fprintf(w, "would create directory %s\n", s.destName(p.dir, d))
	}
	var bytes int64
	for _, j := range sf.todo {
		bytes += j.size
		fmt.Fprintf(w, "would %s %s (%s)\n", p.dir, visible(j.name), bytesize.Format(j.size))
	}
	for _, r := range refused {
		fmt.Fprintf(s.env.Stderr, "would not %s %s: %s\n", p.dir, visible(r.job.name), describe(r.err))
	}
	fmt.Fprintf(w, "dry run: %d %s (%s) to %s, %d skipped (already identical), %d %s to create, %d to remove\n",
		len(sf.todo), plural(len(sf.todo), "file", "files"), bytesize.Format(bytes), p.dir, len(sf.same), len(p.mkdirs),
		plural(len(p.mkdirs), "directory", "directories"), len(p.extras))
}

// destName is a path of a transfer's destination as messages show it.
func (s *session) destName(dir, p string) string {
	if dir == download {
		return visible(s.shown(p))
	}
	return visible(p)
}

// removeExtra removes an entry of the destination that the source does not have.
func (s *session) removeExtra(dir string, x extra) error {
	switch {
	case dir == upload && x.dir:
		_, _, err := s.removeTree(s.c, x.path)
		return err
	case dir == upload:
		if err := s.c.Rm(x.path); err != nil {
			return fmt.Errorf("remove %s: %w", x.path, err)
		}
		return nil
	case x.dir:
		return os.RemoveAll(x.path)
	}
	return os.Remove(x.path)
}

// makeDir creates a directory of the destination.
func (s *session) makeDir(dir, p string) error {
	if dir == upload {
		if _, err := s.c.Mkdir(p, true); err != nil {
			return fmt.Errorf("mkdir %s: %w", p, err)
		}
		return nil
	}
	return os.MkdirAll(p, 0o777)
}
