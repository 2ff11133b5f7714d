package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

// --retry N: a command whose connection is lost runs again on a new one, and a transfer resumes
// where the lost connection stopped it, at most N times per command.
//
// What lftp does (net:max-retries) is the model: after a lost connection the command is sent
// again on a new connection, whatever it is, including one that changes something (rm, rmdir,
// mkdir, rename). The server may have carried it out before the connection went, and then the
// new try fails (rm: no such file; mkdir: exists); lftp reports that as it reports any failure.
// myftpc does the same, and its error adds that the lost try may have done it already (see
// maybeDoneError); the command has failed, exit status 1. A command that works through its
// arguments (rm a b c) goes on from the argument the lost connection cut, not from the first
// (see steps). A command that writes what it was asked to show (ls, cat, get FILE -) does not run
// again once some of it is written: it would be written twice.

// retries is what --retry allows one command: at most max new connections after lost ones. The
// first is made at once; before each later one the shell waits, 1 s and then twice as long each
// time up to retryMaxDelay, so that a server that is restarting (or a balancer that has not yet
// seen a node die) has time to come back. The command itself, which runs again, and its
// transfers, which resume, draw on the same budget.
type retries struct {
	max, used int
	delay     time.Duration // the wait before the next retry
}

// retryMaxDelay is the longest wait between two retries.
const retryMaxDelay = 30 * time.Second

// nextTry uses up one retry of the running command, after the wait it is due; err, the reason,
// is shown with the wait. It returns the note that ends the line about the new connection
// (" (retry 2 of 3)"), or false when the retries are used up or ctx ended during the wait.
func (s *session) nextTry(ctx context.Context, err error) (string, bool) {
	r := &s.tries
	if r.used >= r.max {
		return "", false
	}
	if r.delay > 0 {
		fmt.Fprintf(s.env.Stderr, "%s; trying again in %v\n", describe(err), r.delay)
		t := time.NewTimer(r.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return "", false
		}
	}
	r.delay = min(max(2*r.delay, time.Second), retryMaxDelay)
	r.used++
	return fmt.Sprintf(" (retry %d of %d)", r.used, r.max), true
}

// runRemote runs a command that needs the server. It makes sure of a connection first (see
// connected), and reports whether the command itself ran: a failure to connect is not the
// command's. Without --retry, a command that changes nothing and finds the connection of the
// command before gone runs once more on a new one; with it, see again.
func (s *session) runRemote(ctx context.Context, cmd *command, inv invocation) (ran bool, err error) {
	s.tries, s.steps = retries{max: s.opt.retry}, steps{}
	if s.opt.retry > 0 && (cmd.shows || inv.name == "get" && inv.arg(1, "") == "-") {
		out := &countingWriter{w: s.env.Stdout}
		s.env.Stdout = out
		defer func() { s.env.Stdout = out.w }()
	}
	reused := !s.dropped() // a connection from before this command
	if err = s.connected(ctx); err == nil {
		ran, err = true, s.lostIn(ctx, cmd.run(s, ctx, inv))
	}
	if s.opt.retry > 0 {
		return s.again(ctx, cmd, inv, ran, err)
	}
	if ran && err != nil && cmd.readOnly && reused && ctx.Err() == nil && s.dropped() && !s.accountGone() {
		// The connection was gone before the command (a server restart, or its idle timeout
		// within idleCheck): one that changes nothing runs again on a new connection.
		if err = s.reconnect(ctx, ""); err == nil {
			err = s.lostIn(ctx, cmd.run(s, ctx, inv))
		}
	}
	return ran, err
}

// again runs cmd again, with --retry, for as long as its error is a lost connection or a failed
// attempt to make a new one (gone) and retries are left: each time after the wait nextTry says,
// it connects and logs in again, goes back to the remote directory, and runs the command from
// where the lost connection stopped it (steps). When the retries are used up, the error says so.
func (s *session) again(ctx context.Context, cmd *command, inv invocation, ran bool, err error) (bool, error) {
	for s.gone(ctx, err) {
		if s.wrote() {
			return ran, fmt.Errorf("%w; %w", err, errPartShown)
		}
		note, ok := s.nextTry(ctx, err)
		if !ok {
			if ctx.Err() == nil {
				err = fmt.Errorf("%w; gave up after %d %s (--retry %d)", err, s.tries.used, plural(s.tries.used, "retry", "retries"), s.tries.max)
			}
			return ran, err
		}
		if err = s.reconnect(ctx, note); err != nil {
			continue
		}
		s.steps.cut, s.steps.again = s.steps.done, true
		ran, err = true, s.lostIn(ctx, cmd.run(s, ctx, inv))
	}
	return ran, err
}

// gone reports whether err is the loss of the connection, or a failure to make a new one that
// may pass (see retriable): not after close, nor once the server ended the session because the
// account is gone (logging in again would fail), nor after Ctrl-C.
func (s *session) gone(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil && !s.closed && s.dropped() && !s.accountGone() && retriable(err)
}

// lostIn is lost, unless ctx ended: an interrupted command is not a lost connection.
func (s *session) lostIn(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	return s.lost(err)
}

// errPartShown ends the error of a command that lost its connection after writing some of what
// it was asked to show (a listing, a file): it does not run again.
var errPartShown = errors.New("part of the output was written already, so the command was not run again")

// wrote reports whether the running command wrote to standard output some of what it was asked
// to show, since the last argument it dealt with (only such commands count what they write, and
// only with --retry).
func (s *session) wrote() bool {
	return s.outputSize() > s.steps.shown
}

// outputSize is how much the running command wrote to standard output, if it counts it.
func (s *session) outputSize() int64 {
	if cw, ok := s.env.Stdout.(*countingWriter); ok {
		return cw.n
	}
	return 0
}

// countingWriter counts what goes through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// steps is how far a command that works through its arguments one at a time (mkdir, rmdir, rm,
// rename, cat) got, across the runs --retry makes of it: a run again starts at the argument the
// lost connection cut, not at the first.
type steps struct {
	done  int   // the arguments dealt with by the runs so far: done, or refused by the server
	cut   int   // in a run again, the argument the lost connection cut
	again bool  // this is a run again
	first error // the first refusal, for a command that goes on after one (rm)
	shown int64 // what the command had written to standard output when it dealt with the last
}

// step ends argument i of a command, with its error. Unless the connection was lost under it,
// the argument is dealt with, and a run again starts after it. In a run again, the argument the
// lost connection cut may have been carried out by the server before the connection went: its
// error says so (maybeDoneError).
func (s *session) step(i int, err error) error {
	if err != nil && s.dropped() {
		return err
	}
	if err != nil && s.steps.again && i == s.steps.cut {
		err = &maybeDoneError{err}
	}
	s.steps.done, s.steps.shown = i+1, s.outputSize()
	return err
}

// maybeDoneError is a failure, in a run again after a lost connection, of what the lost run was
// doing when the connection went: the server may have done it then (the file is removed, so now
// there is no such file).
type maybeDoneError struct{ err error }

func (e *maybeDoneError) Error() string {
	return e.err.Error() + " (sent again after a lost connection: the lost try may have done it already)"
}

func (e *maybeDoneError) Unwrap() error { return e.err }

// retrying runs a transfer and, with --retry N, tries again as the command's retries allow
// (nextTry) when the connection dropped under it: it reconnects, and the transfer resumes where
// it stopped. A reconnect that fails because the server cannot be reached or is busy uses up a
// retry; a refused login or a changed certificate ends the run. A retry that the server refuses
// with 450 is tried again for a while: see whileBusy.
func (s *session) retrying(ctx context.Context, transfer func(context.Context) error) error {
	return s.retryingIf(ctx, s.dropped, fileBusy, transfer)
}

// retryingIf is retrying for a transfer that may lose other connections than the session's:
// lost says whether one was lost; only the session's is made again here. busy says whether a
// failed retry failed only because the server still held a file busy (450).
func (s *session) retryingIf(ctx context.Context, lost func() bool, busy func(error) bool, transfer func(context.Context) error) error {
	err := transfer(ctx)
	for err != nil && ctx.Err() == nil && lost() && !s.accountGone() {
		note, ok := s.nextTry(ctx, err)
		if !ok {
			return err
		}
		if !s.dropped() {
			fmt.Fprintf(s.env.Stderr, "a connection was lost; trying again%s\n", note)
		} else if err = s.reconnect(ctx, note); err != nil {
			if !retriable(err) {
				return err
			}
			continue
		}
		err = s.whileBusy(ctx, lost, busy, transfer)
	}
	return err
}

// The waits of whileBusy: the first, the longest, and the most they add up to.
const (
	busyFirstDelay = 200 * time.Millisecond
	busyMaxDelay   = 2 * time.Second
	busyBudget     = 10 * time.Second
)

// whileBusy runs the transfer of a retry, after a lost connection. The server may still hold the
// lost connection's upload of the same file until it notices that connection gone, and refuse
// the new one with 450 (file busy) meanwhile: while busy says so and no connection is lost, it
// tries again after busyFirstDelay, doubling up to busyMaxDelay, as long as the waits stay within
// busyBudget; then the 450 is the transfer's error. These tries use up no retry of --retry.
func (s *session) whileBusy(ctx context.Context, lost func() bool, busy func(error) bool, transfer func(context.Context) error) error {
	err := transfer(ctx)
	var waited time.Duration
	for delay := busyFirstDelay; err != nil && busy(err) && !lost() && waited+delay <= busyBudget; delay = min(2*delay, busyMaxDelay) {
		fmt.Fprintf(s.env.Stderr, "%s; the lost connection may still hold it: trying again in %v\n", describe(err), delay)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return err
		}
		waited += delay
		err = transfer(ctx)
	}
	return err
}

// fileBusy reports whether err is the server's 450: a file another session is uploading.
func fileBusy(err error) bool {
	var re *proto.ReplyError
	return errors.As(err, &re) && re.Code == proto.CodeFileBusy
}

// dropped reports whether the session has no working connection.
func (s *session) dropped() bool { return s.c == nil || s.c.Err() != nil }

// retriable reports whether a lost connection, or a failed reconnect, may be mended by a new
// connection: the connection was closed or reset, a read timed out, the server could not be
// reached or was busy; not a refused login or a changed certificate.
func retriable(err error) bool {
	var re *proto.ReplyError
	if errors.As(err, &re) && re.Code == proto.CodeNotLoggedIn {
		return false
	}
	code := exitCode(err)
	return code == ExitConnect || code == ExitBusy
}

// firstLogin is login, the first connection of the run, tried again with --retry N while the
// server cannot be reached now (unreachable: a node that is down, starting, busy, or that dies
// during the greeting or the login), up to N times after the waits of nextTry, as a command's
// connection is made again. A refused login, an untrusted server and a usage error end the run
// at once, as without --retry.
func (s *session) firstLogin(ctx context.Context) error {
	s.tries = retries{max: s.opt.retry}
	for {
		err := s.login(ctx)
		if err == nil || ctx.Err() != nil || !unreachable(err) {
			return err
		}
		waits := s.tries.delay > 0 // nextTry then shows err with the wait
		note, ok := s.nextTry(ctx, err)
		switch {
		case !ok && s.tries.used > 0 && ctx.Err() == nil:
			return fmt.Errorf("%w; gave up after %d %s (--retry %d)", err, s.tries.used, plural(s.tries.used, "retry", "retries"), s.tries.max)
		case !ok:
			return err
		case waits:
			fmt.Fprintf(s.env.Stderr, "connecting again to %s%s\n", s.cfg.Addr, note)
		default:
			fmt.Fprintf(s.env.Stderr, "%s; connecting again to %s%s\n", describe(err), s.cfg.Addr, note)
		}
	}
}

// unreachable reports whether err, a failure to connect or log in, means that the server cannot
// be reached now, which a later try may mend: nothing accepted the connection, the server turned
// it away as busy, the connection closed or was reset in the greeting, the TLS handshake or the
// login (a 421 included), or a connect or read timed out. Not a wrong password, an account gone,
// a server that is not trusted or does not use TLS, nor anything else.
func unreachable(err error) bool {
	var re *proto.ReplyError
	var ne net.Error
	switch {
	case errors.As(err, &re) && re.Code == proto.CodeNotLoggedIn, errors.Is(err, client.ErrAccountGone),
		errors.Is(err, client.ErrHostKeyMismatch), errors.Is(err, client.ErrPlain), errors.Is(err, client.ErrNotTrusted):
		return false
	}
	return errors.Is(err, client.ErrRefused) || errors.Is(err, client.ErrBusy) || errors.Is(err, client.ErrClosed) ||
		errors.As(err, &ne) && ne.Timeout()
}
