package shell

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/progress"
)

// Transfer directions, as the summary lines say them.
const (
	upload   = "upload"
	download = "download"
)

// cmdPut uploads one file. Relative local paths are relative to the local directory.
func (s *session) cmdPut(ctx context.Context, inv invocation) error {
	local := s.localPath(inv.args[0])
	remote := inv.arg(1, filepath.Base(local))
	return s.retrying(ctx, func(ctx context.Context) error {
		v := s.newView(upload, remote)
		res, err := s.c.Put(ctx, local, remote, client.Options{Progress: v.progress})
		return v.end(ctx, res, err)
	})
}

// cmdGet downloads one file, by default into the local directory under its own name.
func (s *session) cmdGet(ctx context.Context, inv invocation) error {
	remote := inv.args[0]
	local := s.lwd
	if len(inv.args) == 2 {
		local = s.localPath(inv.args[1])
	}
	return s.retrying(ctx, func(ctx context.Context) error {
		v := s.newView(download, remote)
		res, err := s.c.Get(ctx, remote, local, client.Options{Progress: v.progress})
		return v.end(ctx, res, err)
	})
}

// retrying runs a transfer and, with --retry N, runs it again up to N times when the connection
// dropped under it: each time it reconnects, and the transfer resumes where it stopped.
func (s *session) retrying(ctx context.Context, transfer func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := transfer(ctx)
		if err == nil || ctx.Err() != nil || s.c.Err() == nil || attempt > s.opt.retry {
			return err
		}
		if err := s.reconnect(ctx, fmt.Sprintf(" (retry %d of %d)", attempt, s.opt.retry)); err != nil {
			return err
		}
	}
}

// newBar returns a progress bar on standard output, drawn only if it is a terminal.
func (s *session) newBar() *progress.Bar {
	return progress.New(s.out, progress.Options{Terminal: s.outTerm, Now: s.env.Now, Width: s.width()})
}

// view shows one transfer: its bar on a terminal, a resume notice, and the summary line.
type view struct {
	bar     *progress.Bar
	dir     string // upload or download
	name    string
	started bool
}

func (s *session) newView(dir, name string) *view {
	return &view{bar: s.newBar(), dir: dir, name: name}
}

// progress is the transfer's progress callback. Its first call says where the transfer starts.
func (v *view) progress(done, total int64) {
	if !v.started {
		v.started = true
		if done > 0 {
			v.bar.Println(resuming(done, total))
		}
		v.bar.Start(v.name)
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
//	File [x] upload successful: 10 MiB in 0.21 s (47.6 MiB/s), md5 3f2a...
//
// with ", resumed from 52.3 MiB" when it resumed and ", restarted: REASON" when a partial file
// could not be continued. The speed counts the bytes that travelled.
func summary(dir, name string, r client.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "File [%s] %s successful: %s in %.2f s (%s/s)", name, dir, bytesize.Format(r.Size),
		r.Elapsed.Seconds(), bytesize.Format(int64(progress.Rate(r.Sent(), r.Elapsed))))
	if r.Offset > 0 {
		fmt.Fprintf(&b, ", resumed from %s", bytesize.Format(r.Offset))
	}
	if r.Restart != "" {
		fmt.Fprintf(&b, ", restarted: %s", r.Restart)
	}
	fmt.Fprintf(&b, ", md5 %s", r.MD5)
	return b.String()
}

// remoteName is how a remote path is shown in a batch: as matched.
func remoteName(it client.Item) string {
	if it.Remote != "" {
		return it.Remote
	}
	return path.Base(filepath.ToSlash(it.Local))
}
