package shell

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/progress"
	"github.com/myftp/myftp/lib/proto"
	"github.com/myftp/myftp/lib/transfer"
)

// Transfer directions, as the summary lines say them.
const (
	upload   = "upload"
	download = "download"
)

// cmdPut uploads one file, or with -r a directory and all it holds. Relative local paths are
// relative to the local directory. A REMOTE that is a directory (or ends in "/") receives it
// under its own name, as with sftp and cp.
func (s *session) cmdPut(ctx context.Context, inv invocation) error {
	start := s.env.Now()
	local := s.localPath(inv.args[0])
	fi, err := os.Stat(local)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		if !inv.has('r') {
			return fmt.Errorf("%s: is a directory: use put -r", inv.args[0])
		}
		dst, err := s.remoteTree(local, inv.arg(1, ""))
		if err != nil {
			return err
		}
		p := &plan{dir: upload}
		if err := s.planUpload(p, local, dst); err != nil {
			return err
		}
		return s.execute(ctx, p, parallelism(inv), start)
	}
	remote := inv.arg(1, filepath.Base(local))
	if len(inv.args) == 2 && s.isRemoteDir(remote) {
		remote = path.Join(remote, filepath.Base(local))
	}
	j := fileJob{local: local, remote: remote, name: remote, size: fi.Size()}
	if done, err := s.skipSame(ctx, upload, j, false); done || err != nil {
		return err
	}
	return s.retrying(ctx, func(ctx context.Context) error {
		v := s.newView(upload, remote)
		res, err := s.c.Put(ctx, local, remote, client.Options{Progress: v.progress})
		return v.end(ctx, res, err)
	})
}

// remoteTree returns the remote directory that put -r of the local directory local goes to: its
// name in the remote directory, or in dst if dst is a directory there; else dst itself.
func (s *session) remoteTree(local, dst string) (string, error) {
	base := filepath.Base(local)
	switch {
	case dst != "" && s.isRemoteDir(dst):
		dst = path.Join(dst, base)
	case dst != "":
	case !localName(base):
		return "", &usageError{fmt.Sprintf("%s: give the remote directory to copy it into", local)}
	default:
		dst = base
	}
	return dst, nil
}

// cmdGet downloads one file, by default into the local directory under its own name; to
// standard output with "-"; with -r a directory and all it holds. The local file is left alone
// if it is the same, and a different one is replaced only with -f.
func (s *session) cmdGet(ctx context.Context, inv invocation) error {
	start := s.env.Now()
	remote := inv.args[0]
	if inv.arg(1, "") == "-" { // checkGet refused -r
		return s.toStdout(ctx, remote, true)
	}
	e, err := s.c.Stat(remote)
	if err != nil {
		return err
	}
	if e.Type == proto.EntryDir {
		if !inv.has('r') {
			return fmt.Errorf("%s: is a directory: use get -r", remote)
		}
		dst, err := s.localTree(remote, inv.arg(1, ""), true)
		if err != nil {
			return err
		}
		p := &plan{dir: download, replace: inv.has('f')}
		if err := s.planDownload(p, remote, dst); err != nil {
			return err
		}
		return s.execute(ctx, p, parallelism(inv), start)
	}
	local := s.lwd
	if len(inv.args) == 2 {
		local = s.localPath(inv.args[1])
	}
	target, err := client.LocalTarget(remote, local)
	if err != nil {
		return err
	}
	j := fileJob{local: target, remote: remote, name: remote, size: e.Size}
	if done, err := s.skipSame(ctx, download, j, inv.has('f')); done || err != nil {
		return err
	}
	return s.retrying(ctx, func(ctx context.Context) error {
		v := s.newView(download, remote)
		res, err := s.c.Get(ctx, remote, target, client.Options{Progress: v.progress})
		return v.end(ctx, res, err)
	})
}

// skipSame sorts out one file (sift): it reports done when the destination has the same file
// (and says so) or when the file is refused (the error says why).
func (s *session) skipSame(ctx context.Context, dir string, j fileJob, replace bool) (done bool, err error) {
	sf, err := s.sift(ctx, s.c, dir, []fileJob{j}, replace)
	switch {
	case err != nil:
		return true, err
	case len(sf.refused) > 0 && dir == download:
		return true, fmt.Errorf("%s: %w", s.shown(j.local), sf.refused[0].err)
	case len(sf.refused) > 0:
		return true, fmt.Errorf("%s: %w", j.remote, sf.refused[0].err)
	case len(sf.same) > 0:
		s.say("%s", sameLine(sf.same[0], s.c.Checksum()))
		return true, nil
	}
	return false, nil
}

// toStdout writes a remote file to standard output (get FILE -, cat), and with report its
// summary line to standard error. The checksum is verified once the data is written: a mismatch
// is an error that says so.
func (s *session) toStdout(ctx context.Context, remote string, report bool) error {
	res, err := s.c.GetTo(ctx, remote, s.env.Stdout, client.Options{})
	var mismatch *transfer.MismatchError
	switch {
	case errors.As(err, &mismatch):
		return fmt.Errorf("the data written to standard output is not the server's file: %w", err)
	case err != nil:
		return transferError(ctx, download, err)
	}
	if report && !s.opt.quiet {
		fmt.Fprintln(s.env.Stderr, summary(download, remote, res))
	}
	return nil
}

// cmdCat writes remote files to standard output, one after the other.
func (s *session) cmdCat(ctx context.Context, inv invocation) error {
	for i := s.steps.done; i < len(inv.args); i++ {
		if err := s.step(i, s.toStdout(ctx, inv.args[i], false)); err != nil {
			return err
		}
	}
	return nil
}

// isRemoteDir reports whether p names a remote directory: it ends in "/" or the server says so.
func (s *session) isRemoteDir(p string) bool {
	if strings.HasSuffix(p, "/") {
		return true
	}
	e, err := s.c.Stat(p)
	return err == nil && e.Type == proto.EntryDir
}

// view shows one transfer: its bar on a terminal, a resume notice, and the summary line.
type view struct {
	bar     *meter
	dir     string // upload or download
	name    string
	started bool
}

func (s *session) newView(dir, name string) *view {
	return &view{bar: s.newMeter(), dir: dir, name: name}
}

// progress is the transfer's progress callback. Its first call says where the transfer starts.
func (v *view) progress(done, total int64) {
	if !v.started {
		v.started = true
		if done > 0 {
			v.bar.Println(resuming(done, total))
		}
		v.bar.Start(visible(v.name))
	}
	v.bar.Update(done, total)
}

// end finishes the bar and prints the summary line, or returns why the transfer failed.
func (v *view) end(ctx context.Context, res client.Result, err error) error {
	v.bar.Finish()
	if err != nil {
		return transferError(ctx, v.dir, err)
	}
	v.bar.Println(summary(v.dir, v.name, res))
	return nil
}

func resuming(done, total int64) string {
	return fmt.Sprintf("resuming at %s of %s", bytesize.Format(done), bytesize.Format(total))
}

// transferError explains a failed transfer; an interrupted one can be resumed.
func transferError(ctx context.Context, dir string, err error) error {
	if ctx.Err() != nil {
		return &interruptedError{dir + " interrupted; the part already transferred is kept: run the same command to resume", ctx.Err()}
	}
	return err
}

// summary is the line that ends a transfer:
//
//	File [x] upload successful: 10 MiB in 0.21 s (47.6 MiB/s), blake3 3f2a...
//
// A resumed transfer says what travelled in this run, and where it started:
//
//	File [x] download successful: 61 MiB in 1.40 s (43.4 MiB/s), resumed at 239 MiB of 300 MiB, blake3 ...
//
// and one whose partial file could not be continued says ", restarted: REASON". The name (from
// the server in an mget) and the reason (from the server) are printed through visible.
func summary(dir, name string, r client.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "File [%s] %s successful: %s in %.2f s (%s/s)", visible(name), dir, bytesize.Format(r.Sent()),
		r.Elapsed.Seconds(), bytesize.Format(int64(progress.Rate(r.Sent(), r.Elapsed))))
	if r.Offset > 0 {
		fmt.Fprintf(&b, ", resumed at %s of %s", bytesize.Format(r.Offset), bytesize.Format(r.Size))
	}
	if r.Restart != "" {
		fmt.Fprintf(&b, ", restarted: %s", visible(r.Restart))
	}
	fmt.Fprintf(&b, ", %s %s", r.Checksum, r.Sum)
	return b.String()
}
