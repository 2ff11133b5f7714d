package shell

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/myftp/myftp/conf"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

// session is one run of myftpc: the settings, the connection, and where the user is, remotely and
// locally.
type session struct {
	env  Env
	opt  options
	cfg  client.Config
	cmds map[string]*command

	c           *client.Client // nil before the first login
	user        string
	password    string    // kept in memory only, to log in again after the connection dropped
	hasLogin    bool      // user and password are known
	hasPassword bool      // the password is known
	closed      bool      // close was used: no connection until open
	trustAll    bool      // --trust-new or client.trust_new: record a new server without asking
	waited      bool      // a person was asked something since the connection was made
	cwd         string    // remote working directory
	lwd         string    // local working directory: local paths are relative to it
	prevCwd     string    // the remote directory before the last cd, for "cd -"; "" before any
	prevLwd     string    // the local directory before the last lcd, for "lcd -"; "" before any
	lastUsed    time.Time // when the server last answered a command
	tries       retries   // what --retry allows the running command
	steps       steps     // how far the running command got through its arguments

	stdin       *bufio.Reader // standard input when it is not a terminal; nil on a terminal
	tty         *os.File      // standard input when it is a terminal
	out         io.Writer     // standard output, through go-ansi on a Windows console
	outTerm     bool          // standard output is a terminal: progress bars are drawn
	interactive bool
	intr        *interrupter
}

// newSession reads the settings and decides the address, the trust and the mode.
func newSession(env Env, o options) (*session, error) {
	root, err := conf.ResolveRoot(o.root, env.Getenv)
	if err != nil {
		return nil, err
	}
	settings, err := conf.Load(root, o.conf)
	if err != nil {
		return nil, err
	}
	s := &session{env: env, opt: o, cwd: "/", lwd: env.Dir, intr: &interrupter{}}
	if err := s.configure(settings); err != nil {
		return nil, err
	}
	if s.lwd == "" {
		if s.lwd, err = os.Getwd(); err != nil {
			return nil, fmt.Errorf("local directory: %w", err)
		}
	}
	s.cmds = commandTable()
	s.setupTerminal()
	return s, nil
}

// configure fills the client configuration from the flags and the settings.
func (s *session) configure(settings *conf.Settings) error {
	addr := s.opt.addr
	if addr == "" {
		addr = settings.Client.Server
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("server address %q: want HOST:PORT", addr)
	}
	kh := s.opt.knownHosts
	if kh == "" {
		kh = settings.Client.KnownHosts
	}
	algo := s.opt.checksum
	if algo == "" {
		algo = settings.Client.Checksum
	}
	s.cfg = client.Config{Addr: addr, KnownHosts: kh, Insecure: s.opt.insecure, RequireTLS: !settings.Client.AllowPlaintext,
		TrustNew: s.trustNew, Notify: s.notify, Checksum: algo}
	s.trustAll = s.opt.trustNew || settings.Client.TrustNew
	return nil
}

// notify shows a message of the client library (a new known host, a warning, the queue).
func (s *session) notify(msg string) {
	fmt.Fprintln(s.env.Stderr, visible(msg))
}

// close ends the session politely.
func (s *session) close() {
	if s.c != nil {
		s.c.Close()
	}
}

// run logs in and runs the commands, interactively or in batch. A batch's commands are all
// checked first; one of local commands only (help, lpwd) does not connect.
func (s *session) run(ctx context.Context) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := s.intr.watch(s.env.Interrupts, cancel)
	defer stop()
	if s.interactive {
		if err := s.firstLogin(ctx); err != nil {
			return s.fatal(err)
		}
		s.intr.atPrompt()
		return s.repl(ctx)
	}
	cmds, err := s.batchCommands(ctx)
	if err != nil {
		return s.fatal(err)
	}
	if s.needsServer(cmds) {
		if err := s.firstLogin(ctx); err != nil {
			return s.fatal(err)
		}
	}
	return s.batch(ctx, cmds)
}

// login connects, checks the server, and logs in. On a terminal it asks for the account name
// and the password only once the server is trusted, so that nothing is typed for a server that
// is not; without one, nothing is asked: the name is -u's and a missing one or a missing
// password is a usage error found before connecting.
func (s *session) login(ctx context.Context) error {
	if s.tty == nil {
		if err := s.credentials(ctx); err != nil {
			return err
		}
	}
	c, err := s.dial(ctx)
	if err != nil {
		return err
	}
	if err := s.credentials(ctx); err != nil {
		c.Close()
		return err
	}
	if err := s.logIn(ctx, c); err != nil {
		return err
	}
	s.status("Account [%s] login successful", visible(s.c.User()))
	return nil
}

// status prints one of the shell's own lines (a login): on standard output in the interactive
// shell, on standard error in batch mode, whose standard output carries only what the commands
// produce; nowhere with -q.
func (s *session) status(format string, args ...any) {
	if s.opt.quiet {
		return
	}
	w := s.env.Stderr
	if s.interactive {
		w = s.env.Stdout
	}
	fmt.Fprintf(w, format+"\n", args...)
}

// errNoName is a run without a terminal and without -u: there is nobody to ask for the name, and
// the first line of the commands must not be taken for it.
var errNoName = &usageError{"no account name: give it with -u ACCOUNT (without a terminal, myftpc asks nothing)"}

// credentials asks for the account name and the password, unless they are known.
func (s *session) credentials(ctx context.Context) error {
	if s.hasLogin {
		return nil
	}
	if s.user = s.opt.user; s.user == "" {
		if s.tty == nil {
			return errNoName
		}
		var err error
		if s.user, err = s.readName(ctx); err != nil {
			return err
		}
	}
	if err := s.passwordOnce(ctx); err != nil {
		return err
	}
	s.hasLogin = true
	return nil
}

// passwordOnce reads the password unless it was read already.
func (s *session) passwordOnce(ctx context.Context) error {
	if s.hasPassword {
		return nil
	}
	pw, err := s.readPassword(ctx)
	if err != nil {
		return err
	}
	s.password, s.hasPassword = pw, true
	return nil
}

// connect dials the server and logs in with the session's account and password.
func (s *session) connect(ctx context.Context) error {
	c, err := s.dial(ctx)
	if err != nil {
		return err
	}
	return s.logIn(ctx, c)
}

// dial connects to the server and checks it: its certificate against known_hosts (a new server
// is trusted as trustNew decides), and TLS itself, which only --insecure or client.allow_plaintext
// lets go. Nothing is sent to a server it refuses.
func (s *session) dial(ctx context.Context) (*client.Client, error) {
	s.waited = false
	c, err := client.Dial(ctx, s.cfg)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err() // interrupted
	}
	if errors.Is(err, client.ErrRefused) {
		err = fmt.Errorf("%w: myftps is not running on that address; start it, or give the address it prints "+
			"(\"listening on HOST:PORT\")", err)
	}
	if errors.Is(err, client.ErrPlain) && !errors.Is(err, client.ErrHostKeyMismatch) {
		err = fmt.Errorf("%w; --insecure, or allow_plaintext = true in [client] of the settings, connects anyway", err)
	}
	if err != nil {
		return nil, &connError{err}
	}
	return c, nil
}

// trustNew decides about a server that known_hosts does not list: --trust-new records it, a
// person on a terminal is shown its fingerprint and asked, and without a terminal it is refused.
func (s *session) trustNew(ctx context.Context, addr, fingerprint string) error {
	if s.trustAll {
		return nil
	}
	if s.tty == nil {
		return fmt.Errorf("it is not in %s and there is no terminal to ask whether to trust its fingerprint %s; "+
			"--trust-new records it (compare the fingerprint with the one myftps printed first)", s.cfg.KnownHosts, fingerprint)
	}
	s.waited = true
	fmt.Fprintf(s.env.Stderr, "The authenticity of server %s can't be established.\n"+
		"Certificate fingerprint: %s (myftps prints it when it starts: compare them)\n"+
		"Trust this server and record it in %s? (yes/no) ", visible(addr), fingerprint, visible(s.cfg.KnownHosts))
	answer, err := s.readLine(ctx)
	if err == nil && strings.EqualFold(strings.TrimSpace(answer), "yes") {
		return nil
	}
	if err != nil { // Ctrl-C or Ctrl-D: the line was not ended
		fmt.Fprintln(s.env.Stderr)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("not confirmed; nothing was recorded and no password was sent")
}

// logIn logs in on c and makes it the session's connection. On a terminal a wrong password may
// be typed again, as often as the server allows on one connection. The server closes a
// connection that has not logged in within its login_timeout: if c was closed while a person
// answered a prompt, a new connection, checked like the first, takes its place.
func (s *session) logIn(ctx context.Context, c *client.Client) error {
	for {
		err := c.Login(s.user, s.password)
		switch {
		case err == nil:
			s.c, s.cwd, s.lastUsed = c, "/", s.env.Now()
			return nil
		case s.waited && errors.Is(err, client.ErrClosed):
			c.Close()
			if c, err = s.dial(ctx); err != nil {
				return err
			}
			continue
		case s.canRetype(c, err):
			fmt.Fprintln(s.env.Stderr, "Login incorrect.")
			if s.password, err = s.readPassword(ctx); err == nil {
				continue
			}
		}
		c.Close()
		return &connError{fmt.Errorf("login as %s: %w", s.user, err)}
	}
}

// canRetype reports whether the user may type the password again after err.
func (s *session) canRetype(c *client.Client, err error) bool {
	var re *proto.ReplyError
	return s.tty != nil && s.env.Getenv(passwordEnv) == "" && !s.opt.passwordStdin &&
		errors.As(err, &re) && re.Code == proto.CodeNotLoggedIn && c.Err() == nil
}

// idleCheck is how long a session may sit unused before a command checks, with a noop, that the
// server has not closed it meanwhile (its idle_timeout).
const idleCheck = 15 * time.Second

// connected makes sure there is a working session: after the connection dropped it connects and
// logs in again with the same account, and goes back to the remote directory it was in.
func (s *session) connected(ctx context.Context) error {
	if s.closed {
		return errClosed
	}
	if s.c != nil && s.c.Err() == nil && s.env.Now().Sub(s.lastUsed) > idleCheck {
		s.c.Noop() // a failure marks the connection as lost
	}
	if s.c == nil || s.c.Err() != nil {
		if err := s.reconnect(ctx, ""); err != nil {
			return err
		}
	}
	s.lastUsed = s.env.Now()
	return nil
}

// accountGone reports whether the server ended the session because the account was deleted or
// disabled: the session is over, and logging in again would only fail (and count toward the
// server's throttling of failed logins).
func (s *session) accountGone() bool {
	return s.c != nil && errors.Is(s.c.Err(), client.ErrAccountGone)
}

// reconnect logs in again after the connection dropped; note ends the line that says so. It does
// not when the server ended the session because the account is gone.
func (s *session) reconnect(ctx context.Context, note string) error {
	if s.accountGone() {
		return &connError{s.c.Err()}
	}
	cwd := s.cwd
	if s.c != nil {
		why := "connection lost (" + describe(s.c.Err()) + ")"
		if errors.Is(s.c.Err(), context.Canceled) {
			why = "the interrupted transfer closed the connection"
		}
		fmt.Fprintf(s.env.Stderr, "%s; reconnecting to %s%s\n", why, s.cfg.Addr, note)
		s.c.Close()
		s.c = nil
	} else if note != "" { // an earlier reconnect failed
		fmt.Fprintf(s.env.Stderr, "reconnecting to %s%s\n", s.cfg.Addr, note)
	}
	if err := s.connect(ctx); err != nil {
		return err
	}
	fmt.Fprintf(s.env.Stderr, "reconnected: Account [%s] login successful\n", visible(s.c.User()))
	if cwd == "/" {
		return nil
	}
	p, err := s.c.Cd(cwd)
	if err != nil {
		// The command was meant for cwd: run in "/", a put could replace a file of the same
		// name there.
		return s.lost(fmt.Errorf("back to %s after reconnecting: %w; now in /, and the command was not run", cwd, err))
	}
	s.cwd = p
	return nil
}

// lost marks err as a lost connection when the session died under it: some errors of the client
// (a download cut in the middle of a frame) do not say so themselves.
func (s *session) lost(err error) error {
	if err == nil || s.c == nil || s.c.Err() == nil {
		return err
	}
	if !errors.Is(err, client.ErrClosed) {
		err = fmt.Errorf("connection lost: %w", err)
	}
	return &connError{err}
}

// connError is a failure to connect or log in, or a lost connection.
type connError struct{ err error }

func (e *connError) Error() string { return e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

// exitCode maps an error to the exit status of the run.
func exitCode(err error) int {
	var ce *connError
	var ue *usageError
	switch {
	case errors.Is(err, client.ErrBusy):
		return ExitBusy
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.Is(err, client.ErrHostKeyMismatch), errors.Is(err, client.ErrPlain), errors.Is(err, client.ErrNotTrusted):
		return ExitHostKey
	case errors.As(err, &ce), errors.Is(err, client.ErrClosed), errors.Is(err, client.ErrProtocol):
		return ExitConnect
	case errors.As(err, &ue), errors.Is(err, ErrUnterminatedQuote), errors.Is(err, ErrTrailingBackslash),
		errors.Is(err, errNoPassword), errors.Is(err, errNoInput):
		return ExitUsage
	}
	return ExitFailed
}

// fatal reports an error that ends the run and returns its exit code.
func (s *session) fatal(err error) int {
	code := exitCode(err)
	switch code {
	case ExitBusy:
		fmt.Fprintf(s.env.Stderr, "myftpc: %s: %s\n", s.cfg.Addr, describe(err))
	default:
		fmt.Fprintln(s.env.Stderr, "myftpc:", describe(err))
	}
	return code
}

// describe renders an error for the user, without the "client: " prefix of the library's
// sentinels, and through visible: it may carry the message of a reply, and names the server sent.
func describe(err error) string {
	if err == nil {
		return "no error"
	}
	var ie *interruptedError
	if errors.Is(err, context.Canceled) && !errors.As(err, &ie) {
		return "interrupted" // Ctrl-C at a prompt, or while connecting: not "context canceled"
	}
	return visible(strings.ReplaceAll(err.Error(), "client: ", ""))
}

// interruptedError is an operation stopped by Ctrl-C (it wraps context.Canceled), with a message
// that says what to do about it.
type interruptedError struct {
	msg string
	err error
}

func (e *interruptedError) Error() string { return e.msg }
func (e *interruptedError) Unwrap() error { return e.err }
