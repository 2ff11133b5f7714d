// Package metrics serves what an operator or a load balancer asks of a running myftps, over
// HTTP: Prometheus metrics at /metrics (github.com/prometheus/client_golang) and a health check
// at /healthz, which fails once the server drains (SIGTERM), before it stops, so that a balancer
// sends no new clients to a node on its way out.
//
// The counts come from decorators of the services every door is built from (door.Services):
// the authenticator counts logins, the homes count sessions, the transfer log counts transfers
// and bytes, and all three the failures of what the server depends on; the event log's handler
// counts its warnings and errors (Events). The doors themselves know nothing of metrics.
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
	"github.com/myftp/myftp/lib/storage"
)

// Metrics holds the counters of one server. Create it with New; it is safe for concurrent use.
type Metrics struct {
	reg       *prometheus.Registry
	logins    *prometheus.CounterVec // door, result
	sessions  *prometheus.CounterVec // door
	transfers *prometheus.CounterVec // door, direction, result
	bytes     *prometheus.CounterVec // door, direction
	quota     prometheus.Counter
	failures  *prometheus.CounterVec // door, dependency
	draining  atomic.Bool
}

// New returns the metrics of a server whose load stats reports (admission.Server.Stats) and
// whose event log counts its warnings and errors in events (nil: not counted).
func New(stats func() admission.Stats, events *Events) *Metrics {
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
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "myftp_unavailable_total",
		Help: "Logins, sessions and commands failed because what the server depends on did not answer, by door and dependency " +
			"(accounts: the account database; storage: the store of the homes; quota: the shared quota accounting)."}, []string{"door", "dependency"})
	gauge := func(name, help string, f func(admission.Stats) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(f(stats())) })
	}
	if events != nil {
		for level, n := range map[string]*atomic.Int64{"warn": &events.warn, "error": &events.err} {
			m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "myftp_log_events_total",
				Help:        "Warnings and errors of the event log, by level: what an administrator should know of.",
				ConstLabels: prometheus.Labels{"level": level}}, func() float64 { return float64(n.Load()) }))
		}
	}
	m.reg.MustRegister(m.logins, m.sessions, m.transfers, m.bytes, m.quota, m.failures,
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
	case errors.Is(err, account.ErrUnavailable):
		result = "unavailable"
		a.m.failures.WithLabelValues(a.door, "accounts").Inc()
	case err != nil:
		result = "failed"
	}
	a.m.logins.WithLabelValues(a.door, result).Inc()
	return acct, err
}

func (a countedAuth) Check(name string) (account.Account, error) {
	acct, err := a.Authenticator.Check(name)
	if errors.Is(err, account.ErrUnavailable) {
		a.m.failures.WithLabelValues(a.door, "accounts").Inc()
	}
	return acct, err
}

type countedHomes struct {
	door.Homes
	m    *Metrics
	door string
}

func (h countedHomes) Open(home string, quota int64) (*homefs.FS, error) {
	fs, err := h.Homes.Open(home, quota)
	switch {
	case err == nil:
		h.m.sessions.WithLabelValues(h.door).Inc()
	case errors.Is(err, storage.ErrUnavailable):
		h.m.failures.WithLabelValues(h.door, "storage").Inc()
	case errors.Is(err, account.ErrUnavailable):
		h.m.failures.WithLabelValues(h.door, "quota").Inc()
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
