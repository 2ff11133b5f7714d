package shell

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/progress"
	"github.com/myftp/myftp/lib/proto"
)

// Transfer directions, as the summary lines say them.
const (
	upload   = "upload"
	download = "download"
)

// cmdPut uploads one file. Relative local paths are relative to the local directory. A REMOTE that
// is a directory (or ends in "/") receives the file under its own name, as with sftp and cp.
func (s *session) cmdPut(ctx context.Context, inv invocation) error {
	local := s.localPath(inv.args[0])
	remote := inv.arg(1, filepath.Base(local))
	if len(inv.args) == 2 && s.isRemoteDir(remote) {
		remote = path.Join(remote, filepath.Base(local))
	}
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

// isRemoteDir reports whether p names a remote directory: it ends in "/" or the server says so.
func (s *session) isRemoteDir(p string) bool {
	if strings.HasSuffix(p, "/") {
		return true
	}
	e, err := s.c.Stat(p)
	return err == nil && e.Type == proto.EntryDir
}

// retrying runs a transfer and, with --retry N, tries again up to N times when the connection
// dropped under it: it reconnects, and the transfer resumes where it stopped. The first retry is
// at once; after that each waits longer (1 s, doubling up to retryMaxDelay), so that a server
// that is restarting has time to come back. A reconnect that fails because the server cannot be
// reached or is busy uses up a retry; a refused login or a changed certificate ends the run.
func (s *session) retrying(ctx context.Context, transfer func(context.Context) error) error {
	err := transfer(ctx)
	var delay time.Duration
	for attempt := 1; err != nil && attempt <= s.opt.retry && ctx.Err() == nil && s.dropped(); attempt++ {
		if delay > 0 {
			fmt.Fprintf(s.env.Stderr, "%s; trying again in %v\n", describe(err), delay)
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return err
			}
		}
		delay = min(max(2*delay, time.Second), retryMaxDelay)
		if err = s.reconnect(ctx, fmt.Sprintf(" (retry %d of %d)", attempt, s.opt.retry)); err != nil {
			if !retriable(err) {
				return err
			}
			continue
		}
		err = transfer(ctx)
	}
	return err
}

// retryMaxDelay is the longest wait between two retries of a transfer.
const retryMaxDelay = 30 * time.Second

// dropped reports whether the session has no working connection.
func (s *session) dropped() bool { return s.c == nil || s.c.Err() != nil }

// retriable reports whether a failed reconnect may work later: the server could not be reached,
// closed the connection or was busy; not a refused login or a changed certificate.
func retriable(err error) bool {
	var re *proto.ReplyError
	if errors.As(err, &re) && re.Code == proto.CodeNotLoggedIn {
		return false
	}
	code := exitCode(err)
	return code == ExitConnect || code == ExitBusy
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
// with ", resumed from 52.3 MiB" when it resumed and ", restarted: REASON" when a partial file
// could not be continued. The speed counts the bytes that travelled. The name (from the server in
// an mget) and the reason (from the server) are printed through visible.
func summary(dir, name string, r client.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "File [%s] %s successful: %s in %.2f s (%s/s)", visible(name), dir, bytesize.Format(r.Size),
		r.Elapsed.Seconds(), bytesize.Format(int64(progress.Rate(r.Sent(), r.Elapsed))))
	if r.Offset > 0 {
		fmt.Fprintf(&b, ", resumed from %s", bytesize.Format(r.Offset))
	}
	if r.Restart != "" {
		fmt.Fprintf(&b, ", restarted: %s", visible(r.Restart))
	}
	fmt.Fprintf(&b, ", %s %s", r.Checksum, r.Sum)
	return b.String()
}

// remoteName is the remote path of a file of a batch, as matched: print it through visible.
func remoteName(it client.Item) string {
	if it.Remote != "" {
		return it.Remote
	}
	return path.Base(filepath.ToSlash(it.Local))
}
