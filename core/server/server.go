// Package server is the native door of myftps: it serves the myftp protocol (package proto) on a
// connection that package admission hands it, one session per connection, from the greeting to
// close: TLS, login, and the command loop over frames.
//
// A Server holds no listener and no workers: admission.Server.Serve(l, srv) accepts, queues and
// limits connections for every door, and calls ServeConn on a pool worker for each.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/myftp/myftp/core/admission"
	"github.com/myftp/myftp/core/door"
	"github.com/myftp/myftp/lib/proto"
	"github.com/myftp/myftp/lib/transfer"
)

// Config is everything a Server needs. Zero durations and a MaxHeader below the minimum are
// replaced by the defaults of conf/settings.toml.
type Config struct {
	Name          string
	IdleTimeout   time.Duration
	WriteTimeout  time.Duration
	LoginAttempts int
	MaxHeader     int
	// TLS, if not nil, is used for every session after the greeting. Nil means plain TCP.
	TLS *tls.Config

	// Services are the accounts, homes and logs the door serves sessions from.
	door.Services
}

func (c *Config) setDefaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.IdleTimeout, 5*time.Minute)
	def(&c.WriteTimeout, time.Minute)
	if c.LoginAttempts <= 0 {
		c.LoginAttempts = 3
	}
	if c.MaxHeader < proto.MinMaxHeader {
		c.MaxHeader = proto.DefaultMaxHeader
	}
	if c.Name == "" {
		c.Name = "myftp"
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Server serves myftp sessions; it is an admission.Door. Create it with New.
type Server struct {
	cfg      Config
	commands map[string]command
	buffers  transfer.BufferPool // lent to sessions while they move data
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if cfg.Auth == nil || cfg.Homes == nil {
		return nil, errors.New("server: Auth and Homes are required")
	}
	return &Server{cfg: cfg, commands: commandTable()}, nil
}

// ServeConn serves one session on c until the client quits, the connection fails or times out,
// or ctx ends (the server shuts down: an idle session ends at once, a busy one after its current
// command). The login must succeed by c.LoginDeadline().
func (srv *Server) ServeConn(ctx context.Context, c *admission.Conn) {
	sess := newSession(ctx, srv, c)
	stop := context.AfterFunc(ctx, sess.stop)
	defer stop()
	sess.serve()
}

// Refuse sends a 421 reply with msg in plain text. Admission closes the connection afterwards.
func (srv *Server) Refuse(c net.Conn, msg string) {
	writeReply(c, proto.Reply{Code: proto.CodeUnavailable, Msg: msg})
}

// Waiting tells a queued connection that it waits for a free worker.
func (srv *Server) Waiting(c net.Conn) {
	writeReply(c, proto.Reply{Code: proto.CodeQueued, Msg: "waiting for a free server slot"})
}

// writeReply writes one reply frame directly to w.
func writeReply(w net.Conn, r proto.Reply) error {
	pw := proto.NewWriter(w)
	if err := pw.WriteJSON(proto.TypeReply, r); err != nil {
		return err
	}
	return pw.Flush()
}
