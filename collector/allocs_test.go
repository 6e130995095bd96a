//go:build !race

// The race detector makes sync.Pool drop items at random, so allocation
// counts are only exact without it: this file is left out of -race builds,
// and the test command runs it in a second pass without -race.

package collector

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestHandlerAllocsIndependentOfSeries checks a scrape allocates exactly the
// same whatever the number of data series and of jobs.
func TestHandlerAllocsIndependentOfSeries(t *testing.T) {
	allocs := func(s *Store, self prometheus.Gatherer, m *Metrics, accept, enc string) float64 {
		h := NewHandler(s, self, HandlerOpts{Metrics: m})
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept", accept)
		req.Header.Set("Accept-Encoding", enc)
		w := newDiscardResponse()
		return testing.AllocsPerRun(50, func() {
			w.reset()
			h.ServeHTTP(w, req)
		})
	}
	small, large := bigStore(t, 2, 1), bigStore(t, 20, 100)
	fewReg, few := jobMetricsFor(t, 2)
	manyReg, many := jobMetricsFor(t, 200)
	for _, accept := range []string{acceptText, acceptPrometheus} {
		for _, enc := range []string{"", "gzip"} {
			a, b := allocs(small, fewReg, few, accept, enc), allocs(large, manyReg, many, accept, enc)
			t.Logf("%s %q: %.0f allocs (%d series, 2 jobs), %.0f allocs (%d series, 200 jobs)", accept, enc,
				a, small.Load().Series(), b, large.Load().Series())
			if b != a {
				t.Errorf("%s %q: allocations grow with series or jobs: %.0f → %.0f", accept, enc, a, b)
			}
		}
	}
}
