package shell

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// errClosed is a remote command run after close.
var errClosed = errors.New("not connected (close was used): open connects again")

// cmdOpen connects to a server (by default the one of the session) and logs in, as the
// session's account unless -u names another. The server is checked as at the start (known_hosts,
// or the question about a new server). The password is asked again, or taken from
// $MYFTP_PASSWORD: the one typed for a server is never sent to another, nor for another account;
// only the same account on the same server logs in again without it. If the new session cannot
// be made, the one in use stays as it was.
func (s *session) cmdOpen(ctx context.Context, inv invocation) error {
	addr := inv.arg(0, s.cfg.Addr) // checked by checkOpen
	user := inv.value('u', s.user)
	saved := *s
	restore := func() {
		s.cfg, s.user, s.password, s.hasLogin, s.c, s.cwd = saved.cfg, saved.user, saved.password, saved.hasLogin, saved.c, saved.cwd
	}
	s.cfg.Addr = addr
	c, err := s.dial(ctx)
	if err != nil {
		restore()
		return err
	}
	if addr != saved.cfg.Addr || user != saved.user || !saved.hasLogin {
		s.user = user
		if s.password, err = s.passwordFor(ctx); err != nil {
			c.Close()
			restore()
			return err
		}
		s.hasLogin = true
	}
	s.c = nil
	if err := s.logIn(ctx, c); err != nil {
		restore()
		return err
	}
	if saved.c != nil {
		saved.c.Close()
	}
	s.closed = false
	s.status("Account [%s] login successful on %s", visible(s.c.User()), s.cfg.Addr)
	return nil
}

// checkOpen checks the address open is given.
func checkOpen(_ *session, inv invocation) error {
	if len(inv.args) == 0 {
		return nil
	}
	if _, _, err := net.SplitHostPort(inv.args[0]); err != nil {
		return &usageError{fmt.Sprintf("open: server address %q: want HOST:PORT", inv.args[0])}
	}
	return nil
}

// passwordFor returns the password of a login that open makes: $MYFTP_PASSWORD, or typed on the
// terminal. Standard input (--password-stdin) is read only at the start: in batch mode it may
// hold the commands.
func (s *session) passwordFor(ctx context.Context) (string, error) {
	if pw := s.env.Getenv(passwordEnv); pw != "" || s.tty != nil {
		return s.readPassword(ctx)
	}
	return "", fmt.Errorf("no password for %s at %s: set $MYFTP_PASSWORD, or open it on a terminal", s.user, s.cfg.Addr)
}

// cmdClose ends the session with the server; remote commands fail until open.
func (s *session) cmdClose(context.Context, invocation) error {
	if s.c != nil {
		s.c.Close()
		s.c = nil
	}
	s.closed = true
	s.say("connection to %s closed", s.cfg.Addr)
	return nil
}
