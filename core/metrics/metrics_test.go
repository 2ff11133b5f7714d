package metrics_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/myftp/myftp/core/admission"
	"github.com/myftp/myftp/core/door"
	"github.com/myftp/myftp/core/metrics"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/storage"
)

// /healthz answers ok until the server drains, then 503, so that a balancer stops sending
// clients before the sessions end.
func TestHealthzDrains(t *testing.T) {
	m := metrics.New(func() admission.Stats { return admission.Stats{PoolSize: 4} }, nil)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	check := func(want int) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("/healthz: %d, want %d", resp.StatusCode, want)
		}
	}
	check(http.StatusOK)
	m.Drain()
	check(http.StatusServiceUnavailable)
}

// unavailable is an authenticator and homes whose dependencies do not answer.
type unavailable struct{}

func (unavailable) Login(context.Context, string, string, string) (account.Account, error) {
	return account.Account{}, fmt.Errorf("auth: %w", account.ErrUnavailable)
}

func (unavailable) Check(string) (account.Account, error) {
	return account.Account{}, fmt.Errorf("auth: %w", account.ErrUnavailable)
}

func (unavailable) Open(string, int64) (*homefs.FS, error) {
	return nil, fmt.Errorf("open home: %w", storage.ErrUnavailable)
}

// Failures of the account database and the store are counted by door and dependency, and a
// login that failed so is not counted as a wrong password; warnings and errors of the event
// log are counted by level.
func TestFailuresCounted(t *testing.T) {
	events := &metrics.Events{}
	m := metrics.New(func() admission.Stats { return admission.Stats{} }, events)
	s := m.Services("ftp", door.Services{Auth: unavailable{}, Homes: unavailable{}})
	s.Auth.Login(context.Background(), "bob", "pw", "127.0.0.1:1")
	s.Auth.Check("bob")
	s.Homes.Open("bob", 1)
	log := slog.New(events.Handler(slog.DiscardHandler))
	log.Info("not counted")
	log.Warn("one")
	log.With("k", "v").Error("two")
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`myftp_unavailable_total{dependency="accounts",door="ftp"} 2`,
		`myftp_unavailable_total{dependency="storage",door="ftp"} 1`,
		`myftp_logins_total{door="ftp",result="unavailable"} 1`,
		`myftp_log_events_total{level="warn"} 1`,
		`myftp_log_events_total{level="error"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics has no %q", want)
		}
	}
	if strings.Contains(string(body), `result="failed"`) {
		t.Error("a login the database could not answer was counted as failed")
	}
}
