package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/myftp/myftp/core/admission"
	"github.com/myftp/myftp/core/metrics"
)

// /healthz answers ok until the server drains, then 503, so that a balancer stops sending
// clients before the sessions end.
func TestHealthzDrains(t *testing.T) {
	m := metrics.New(func() admission.Stats { return admission.Stats{PoolSize: 4} })
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
