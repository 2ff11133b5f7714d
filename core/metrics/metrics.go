// Package metrics serves what an operator or a load balancer asks of a running myftps, over
// HTTP: Prometheus metrics at /metrics (github.com/prometheus/client_golang) and a health check
// at /healthz, which fails once the server drains (SIGTERM), before it stops, so that a balancer
// sends no new clients to a node on its way out.
//
// The counts come from decorators of the services every door is built from (door.Services):
// the authenticator counts logins, the homes count sessions, the transfer log counts transfers
// and bytes. The doors themselves know nothing of metrics.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/myftp/myftp/core/admission"
	"github.com/myftp/myftp/core/auth"
	"github.com/myftp/myftp/core/door"
	"github.com/myftp/myftp/core/logger"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/homefs"
)

// Metrics holds the counters of one server. Create it with New; it is safe for concurrent use.
type Metrics struct {
	reg       *prometheus.Registry
	logins    *prometheus.CounterVec // door, result
	sessions  *prometheus.CounterVec // door
	transfers *prometheus.CounterVec // door, direction, result
	bytes     *prometheus.CounterVec // door, direction
	quota     prometheus.Counter
	draining  atomic.Bool
}

// New returns the metrics of a server whose load stats reports (admission.Server.Stats).
func New(stats func() admission.Stats) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "myftp_logins_total",
		Help: "Password logins, by door and result: ok, failed (a wrong password or account), throttled."}, []string{"door", "result"})
	m.sessions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "myftp_sessions_total",
		Help: "Logged-in sessions begun, by door."}, []string{"door"})
	m.transfers = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "myftp_transfers_total",
		Help: "Transfers ended, by door, direction (upload, download) and result (complete, incomplete)."}, []string{"door", "direction", "result"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "myftp_transfer_bytes_total",
		Help: "Bytes transferred, by door and direction."}, []string{"door", "direction"})
	m.quota = prometheus.NewCounter(prometheus.CounterOpts{Name: "myftp_quota_refusals_total",
		Help: "Uploads, directories and writes refused for a quota (bytes, entries, unfinished uploads), every door."})
	gauge := func(name, help string, f func(admission.Stats) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(f(stats())) })
	}
	m.reg.MustRegister(m.logins, m.sessions, m.transfers, m.bytes, m.quota,
		gauge("myftp_connections_served", "Connections being served by a worker, of every door.", func(s admission.Stats) int { return s.Running }),
		gauge("myftp_connections_waiting", "Connections waiting in the queue for a worker.", func(s admission.Stats) int { return s.Waiting }),
		gauge("myftp_connections_not_logged_in", "Connections, waiting or served, that have not logged in.", func(s admission.Stats) int { return s.NotLoggedIn }),
		gauge("myftp_pool_size", "Workers: the most sessions served at once (pool_size).", func(s admission.Stats) int { return s.PoolSize }),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves /metrics and /healthz.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if m.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	return mux
}

// QuotaRefused counts a refusal for a quota (homefs.Options.QuotaRefused).
func (m *Metrics) QuotaRefused() { m.quota.Inc() }

// Drain makes /healthz fail from now on: the server is shutting down.
func (m *Metrics) Drain() { m.draining.Store(true) }

// Services returns s, the services of the door named door ("myftp", "ftp", "sftp"), with its
// logins, sessions and transfers counted.
func (m *Metrics) Services(doorName string, s door.Services) door.Services {
	s.Auth = countedAuth{Authenticator: s.Auth, m: m, door: doorName}
	s.Homes = countedHomes{Homes: s.Homes, m: m, door: doorName}
	if s.Transfers != nil {
		s.Transfers = countedTransfers{TransferLogger: s.Transfers, m: m}
	}
	return s
}

type countedAuth struct {
	door.Authenticator
	m    *Metrics
	door string
}

func (a countedAuth) Login(ctx context.Context, name, password, remote string) (account.Account, error) {
	acct, err := a.Authenticator.Login(ctx, name, password, remote)
	result := "ok"
	switch {
	case errors.Is(err, auth.ErrThrottled):
		result = "throttled"
	case err != nil:
		result = "failed"
	}
	a.m.logins.WithLabelValues(a.door, result).Inc()
	return acct, err
}

type countedHomes struct {
	door.Homes
	m    *Metrics
	door string
}

func (h countedHomes) Open(home string, quota int64) (*homefs.FS, error) {
	fs, err := h.Homes.Open(home, quota)
	if err == nil {
		h.m.sessions.WithLabelValues(h.door).Inc()
	}
	return fs, err
}

type countedTransfers struct {
	door.TransferLogger
	m *Metrics
}

func (t countedTransfers) Log(x logger.Transfer) error {
	service := x.Service
	if service == "" {
		service = "myftp"
	}
	direction, result := "upload", "complete"
	if x.Dir == logger.Outgoing {
		direction = "download"
	}
	if !x.Complete {
		result = "incomplete"
	}
	t.m.transfers.WithLabelValues(service, direction, result).Inc()
	t.m.bytes.WithLabelValues(service, direction).Add(float64(x.Bytes))
	return t.TransferLogger.Log(x)
}
