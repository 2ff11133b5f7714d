// Package sftpdoor is the SFTP door of myftps: SSH (golang.org/x/crypto/ssh) with only the sftp
// subsystem, whose requests the door serves itself (server.go: one goroutine per channel, onto
// handlers in github.com/pkg/sftp's Handlers shape) over the same accounts, homes, quotas and logs
// as the native door. OpenSSH's sftp and scp (which speaks SFTP since OpenSSH 9),
// WinSCP, FileZilla and curl work with it.
//
// Users log in with their account's password (checked, throttled and capped exactly as on the
// native door) or with one of the account's SSH keys. Nothing else SSH can do is served: no shell,
// no command, no forwarding; the server never runs a program. Uploads go through homefs streams:
// written in any order, published under their name only when the handle is closed with no gap.
package sftpdoor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/myftp/myftp/core/admission"
	"github.com/myftp/myftp/core/door"
)

// Config is everything a Door needs.
type Config struct {
	// HostKey is the server's SSH identity.
	HostKey ssh.Signer
	// IdleTimeout ends a session whose client sends nothing for this long (a running transfer
	// always sends: data, or window adjustments). WriteTimeout ends one that does not read what
	// the server sends. Zero means no limit.
	IdleTimeout  time.Duration
	WriteTimeout time.Duration

	// Services are the accounts, homes and logs the door serves sessions from.
	door.Services
}

// maxAuthTries is the most authentication attempts on one connection. SSH clients offer their
// keys one by one before a password, so it is OpenSSH's default rather than login_attempts;
// wrong passwords count toward the throttle all the same.
const maxAuthTries = 6

// Door serves SFTP sessions; it is an admission.Door. Create it with New.
type Door struct {
	cfg  Config
	bufs sync.Pool // *[]byte of limitsPacket bytes, for large requests and replies of any session
}

// New returns a Door.
func New(cfg Config) (*Door, error) {
	if cfg.Auth == nil || cfg.Homes == nil || cfg.HostKey == nil {
		return nil, errors.New("sftpdoor: Auth, Homes and HostKey are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Door{cfg: cfg}, nil
}

// Refuse tells an SSH client why it is turned away, in a line before the version exchange
// (RFC 4253, 4.2, allows them). OpenSSH 9 shows such lines only with -v ("banner line 0: ..."),
// and by default says "Connection closed by remote host", as for sshd's own MaxStartups.
func (d *Door) Refuse(c net.Conn, msg string) {
	fmt.Fprintf(c, "421 %s\r\n", msg)
}

// ServeConn serves one SSH connection: the handshake and login by c.LoginDeadline(), then every
// session channel that asks for the sftp subsystem. When ctx ends (the server shuts down), the
// connection is closed once no file is open on it.
func (d *Door) ServeConn(ctx context.Context, c *admission.Conn) {
	s := newSession(ctx, d, c)
	defer s.close()
	sconn, chans, reqs, err := ssh.NewServerConn(s.net, d.serverConfig(s))
	if err != nil {
		s.log.Info("ssh handshake or login failed", "err", err)
		return
	}
	s.sconn = sconn
	go s.refuseGlobal(reqs)
	if err := s.start(sconn.Permissions.Extensions[permAccount]); err != nil {
		s.log.Info("login refused", "err", err)
		s.turnAway(chans, err)
		return
	}
	stop := context.AfterFunc(ctx, s.shutdown)
	defer stop()
	var wg sync.WaitGroup
	for nc := range chans {
		if nc.ChannelType() != "session" {
			s.refused("ssh channel", "type", nc.ChannelType())
			nc.Reject(ssh.Prohibited, "only the sftp subsystem is served")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Go(func() { s.serveChannel(ch, chReqs) })
	}
	wg.Wait()
}

// turnAway tells a client whose session could not start, because something the server depends
// on did not answer (door.TryAgain), to try again later: the login is done by then, so it is
// the refusal of the first channel the client opens, which OpenSSH prints ("channel 0: open
// failed: resource shortage: storage unavailable, try again later"). Other failures end the
// connection without a word, as before the login. It waits for that channel at most
// turnAwayWait.
func (s *session) turnAway(chans <-chan ssh.NewChannel, err error) {
	msg, ok := door.TryAgain(err)
	if !ok {
		return
	}
	t := time.NewTimer(turnAwayWait)
	defer t.Stop()
	select {
	case nc, ok := <-chans:
		if ok {
			nc.Reject(ssh.ResourceShortage, msg)
		}
	case <-t.C:
	case <-s.ctx.Done():
	}
}

// turnAwayWait bounds the wait of turnAway for the client's channel, which clients open at once.
const turnAwayWait = 10 * time.Second

// permAccount is the key of the logged-in account's name in ssh.Permissions.Extensions.
const permAccount = "myftp-account"

// serverConfig is the SSH configuration of one connection: its callbacks know the connection.
func (d *Door) serverConfig(s *session) *ssh.ServerConfig {
	secure := ssh.SupportedAlgorithms()
	cfg := &ssh.ServerConfig{
		Config: ssh.Config{
			KeyExchanges: secure.KeyExchanges, // not the SHA-1 exchanges x/crypto still offers by default
			Ciphers:      ciphers(secure.Ciphers),
			MACs:         secure.MACs,
		},
		MaxAuthTries:      maxAuthTries,
		ServerVersion:     "SSH-2.0-myftp",
		PasswordCallback:  s.password,
		PublicKeyCallback: s.publicKey,
	}
	cfg.AddHostKey(d.cfg.HostKey)
	return cfg
}

// ciphers returns the secure ciphers but chacha20-poly1305, which OpenSSH's client prefers: Go
// implements it without assembly on amd64, and the door moved half as many bytes a second with it
// as with AES-GCM, which every client that has chacha20 also has, with the same strength.
func ciphers(secure []string) []string {
	var out []string
	for _, c := range secure {
		if c != ssh.CipherChaCha20Poly1305 {
			out = append(out, c)
		}
	}
	return out
}

// serveChannel serves one session channel: the sftp subsystem if asked for, and nothing else.
func (s *session) serveChannel(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	served := make(chan struct{})
	started := false
	for req := range reqs {
		if req.Type != "subsystem" || started || subsystem(req.Payload) != "sftp" {
			if req.Type == "subsystem" {
				s.refused("ssh request", "type", req.Type, "subsystem", subsystem(req.Payload))
			} else {
				s.refused("ssh request", "type", req.Type)
			}
			req.Reply(false, nil)
			continue
		}
		started = true
		req.Reply(true, nil)
		go func() {
			defer close(served)
			pc := &packetConn{Channel: ch, end: func() { s.sconn.Close() }}
			s.track(pc, true)
			defer s.track(pc, false)
			tell := newTeller(ch.Stderr())
			err := newServer(&handlers{s: s, tell: tell}, pc, &s.d.bufs).serve() // closes the files left open: their last failures are told
			tell.finish(cmp.Or(s.d.cfg.WriteTimeout, 10*time.Second))
			status := exitStatus{0}
			if err != nil && !errors.Is(err, io.EOF) {
				s.log.Debug("sftp session ended", "err", err)
				status.Code = 1
			}
			// As sshd does when its sftp-server exits: scp (over SFTP) fails without it.
			ch.SendRequest("exit-status", false, ssh.Marshal(status))
			ch.Close()
		}()
	}
	if started {
		<-served
	}
}

// refuseGlobal refuses every global request of the connection (port forwarding, ...), and logs
// them but for OpenSSH's keepalives, which any answer satisfies.
func (s *session) refuseGlobal(reqs <-chan *ssh.Request) {
	for req := range reqs {
		if req.Type != "keepalive@openssh.com" {
			s.refused("ssh global request", "type", req.Type)
		}
		if req.WantReply {
			req.Reply(false, nil)
		}
	}
}

// maxRefusalLogs is how many refused channels and requests of one connection are logged one by
// one, so that a client cannot flood the log; the others are counted when the connection ends.
const maxRefusalLogs = 8

// refused logs a refused channel or request ("what refused").
func (s *session) refused(what string, args ...any) {
	s.mu.Lock()
	s.refusals++
	n, log := s.refusals, s.log // start sets log while global requests may come
	s.mu.Unlock()
	if n <= maxRefusalLogs {
		log.Info(what+" refused", args...)
	}
}

// exitStatus is the payload of an "exit-status" request (RFC 4254, 6.10).
type exitStatus struct{ Code uint32 }

// subsystem returns the name in a "subsystem" request's payload (an SSH string), or "".
func subsystem(payload []byte) string {
	var msg struct{ Name string }
	if ssh.Unmarshal(payload, &msg) != nil {
		return ""
	}
	return msg.Name
}
