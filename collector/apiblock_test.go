package collector

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kore-exporter/kore_exporter/kore"
)

// TestAPIBlockFollowsChanges checks the cached API counter block is shared
// between scrapes while nothing changes, and that every change (a request,
// a retry, a forgotten bot) shows in the next scrape.
func TestAPIBlockFollowsChanges(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(NewStore(), reg, HandlerOpts{Metrics: m})
	has := func(accept, line string) bool {
		_, body := scrape(t, h, http.MethodGet, accept, "gzip")
		return strings.Contains(string(body), line+"\n")
	}
	obs := m.Observer("a")
	obs.RequestDone("st-a", kore.EndpointSubmit, 200, time.Second)
	for accept, one := range map[string]string{acceptText: "1", acceptPrometheus: "1.0"} {
		if !has(accept, `kore_exporter_api_requests_total{bot="a",code="200",endpoint="submit"} `+one) {
			t.Errorf("%s: first request missing", accept)
		}
	}
	first, err := m.api.block(fmtText)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := m.api.block(fmtText); again != first {
		t.Error("the block was encoded again without a change")
	}

	obs.RequestDone("st-a", kore.EndpointSubmit, 200, time.Second)
	if !has(acceptText, `kore_exporter_api_requests_total{bot="a",code="200",endpoint="submit"} 2`) {
		t.Error("second request missing")
	}
	obs.Retry("st-a", kore.EndpointStatus, "rate_limited")
	if !has(acceptPrometheus, `kore_exporter_api_retries_total{bot="a",endpoint="status",reason="rate_limited"} 1.0`) {
		t.Error("retry missing")
	}
	m.ForgetBot("a")
	if _, body := scrape(t, h, http.MethodGet, acceptText, ""); strings.Contains(string(body), `bot="a"`) {
		t.Errorf("forgotten bot still served:\n%s", body)
	}
}

// TestAPIBlockConcurrent counts requests while scrapers read the block:
// the last scrape, after the counting, sees every request.
func TestAPIBlockConcurrent(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(NewStore(), reg, HandlerOpts{Metrics: m})
	const bots, calls = 4, 200
	var wg sync.WaitGroup
	for b := range bots {
		wg.Go(func() {
			obs := m.Observer(fmt.Sprintf("bot-%d", b))
			for range calls {
				obs.RequestDone("", kore.EndpointStatus, 200, time.Millisecond)
			}
		})
		wg.Go(func() {
			for range 20 {
				if _, _, err := scrapeErr(h, http.MethodGet, acceptPrometheus, "gzip"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	_, body := scrape(t, h, http.MethodGet, acceptText, "")
	for b := range bots {
		line := fmt.Sprintf(`kore_exporter_api_requests_total{bot="bot-%d",code="200",endpoint="status"} %d`, b, calls)
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("missing %s", line)
		}
	}
}
