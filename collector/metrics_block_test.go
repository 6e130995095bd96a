package collector

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

// TestAPIBlockFollowsChanges checks the cached self-metrics block is shared
// between scrapes while nothing changes, and that every change (a request,
// a retry, a forgotten bot) shows in the next scrape.
func TestAPIBlockFollowsChanges(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	h := NewHandler(NewStore(), nil, HandlerOpts{Metrics: m})
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
	encodedOnce(t, m)

	obs.RequestDone("st-a", kore.EndpointSubmit, 200, time.Second)
	if !has(acceptText, `kore_exporter_api_requests_total{bot="a",code="200",endpoint="submit"} 2`) ||
		!has(acceptText, `kore_exporter_api_request_duration_seconds_count{endpoint="submit"} 2`) {
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
	m := NewMetrics()
	h := NewHandler(NewStore(), nil, HandlerOpts{Metrics: m})
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

// TestStateBlockFollowsChanges checks every change of a state metric
// (progress, reloads, shard, job slots) shows in the next scrape, and
// that the block is encoded once while nothing changes.
func TestStateBlockFollowsChanges(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	h := NewHandler(NewStore(), nil, HandlerOpts{Metrics: m})
	body := func() string {
		_, plain := scrape(t, h, http.MethodGet, acceptText, "")
		_, gz := scrape(t, h, http.MethodGet, acceptPrometheus, "gzip")
		if !strings.HasSuffix(string(gz), "# EOF\n") {
			t.Fatalf("gzip OpenMetrics answer does not end with # EOF:\n%s", gz)
		}
		return string(plain)
	}
	if b := body(); !strings.Contains(b, "kore_exporter_build_info{") || !strings.Contains(b, "kore_exporter_shards 1\n") {
		t.Errorf("build_info or the shard count missing:\n%s", b)
	}
	encodedOnce(t, m)
	for _, step := range []struct {
		change  func()
		line    string
		present bool
	}{
		{func() { m.RunStarted("a", "1h") }, `kore_exporter_report_job_progress_ratio{bot="a",window="1h"} 0`, true},
		{func() { m.Progress("a", "1h", 40) }, `kore_exporter_report_job_progress_ratio{bot="a",window="1h"} 0.4`, true},
		{func() { m.RunEnded("a", "1h", RunOutcome{Result: report.ResultSuccess, At: t0}) }, `kore_exporter_report_job_progress_ratio{`, false},
		{func() { m.RunStarted("a", "1h") }, `kore_exporter_report_job_progress_ratio{bot="a",window="1h"} 0`, true},
		{func() { m.RunEnded("a", "1h", RunOutcome{Canceled: true}) }, `kore_exporter_report_job_progress_ratio{`, false},
		{func() { m.RunStarted("b", "24h") }, `kore_exporter_report_job_progress_ratio{bot="b",window="24h"} 0`, true},
		{func() { m.Forget("b", "24h") }, `kore_exporter_report_job_progress_ratio{`, false},
		{func() { m.SlotsChanged(7, 3) }, "kore_exporter_job_slots 7", true},
		{func() { m.SlotsChanged(7, 4) }, "kore_exporter_jobs_waiting 4", true},
		{func() { m.SetShard(2, 5) }, "kore_exporter_shard_index 2", true},
		{func() { m.ConfigReloaded(true, t0) }, "kore_exporter_config_last_reload_successful 1", true},
		{func() { m.ConfigReloaded(false, t0) }, "kore_exporter_config_last_reload_successful 0", true},
	} {
		step.change()
		if b := body(); strings.Contains(b, step.line) != step.present {
			t.Errorf("after the change, %q present: %v, want %v:\n%s", step.line, !step.present, step.present, b)
		}
	}
}

// encodedOnce checks that m's block, read twice without a change between,
// is encoded once.
func encodedOnce(t *testing.T, m *Metrics) {
	t.Helper()
	first, err := m.block(fmtText)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := m.block(fmtText); again != first {
		t.Error("the block was encoded again without a change")
	}
}
