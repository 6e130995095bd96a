package collector

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

func newTestMetrics(t *testing.T) *Metrics {
	t.Helper()
	m := NewMetrics()
	return m
}

// TestMetricsShard: the shard gauges say 0 of 1 until SetShard, then the
// shard set.
func TestMetricsShard(t *testing.T) {
	t.Parallel()
	m := newTestMetrics(t)
	check := func(index, count float64) {
		t.Helper()
		if got := testutil.ToFloat64(m.shardIndex); got != index {
			t.Errorf("kore_exporter_shard_index = %v, want %v", got, index)
		}
		if got := testutil.ToFloat64(m.shardCount); got != count {
			t.Errorf("kore_exporter_shards = %v, want %v", got, count)
		}
	}
	check(0, 1)
	m.SetShard(2, 3)
	check(2, 3)
}

func TestMetricsRunLifecycle(t *testing.T) {
	t.Parallel()
	m := newTestMetrics(t)
	at := time.Unix(1777636800, 500_000_000)

	m.JobConfigured("support", "24h", 5*time.Minute, 15*time.Minute)
	m.JobConfigured("support", "1h", 90*time.Second, 1500*time.Millisecond)
	m.RunStarted("support", "24h")
	m.Progress("support", "24h", 42)
	const running = `
# HELP kore_exporter_report_job_progress_ratio Completion (0 to 1) of the job's running report, as Kore.ai reports it; absent when no run is going.
# TYPE kore_exporter_report_job_progress_ratio gauge
kore_exporter_report_job_progress_ratio{bot="support",window="24h"} 0.42
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(running), "kore_exporter_report_job_progress_ratio"); err != nil {
		t.Error(err)
	}
	m.Progress("support", "24h", 250) // clamped
	if got := testutil.ToFloat64(m.progress.WithLabelValues("support", "24h")); got != 1 {
		t.Errorf("progress %v, want clamped to 1", got)
	}

	m.RunEnded("support", "24h", RunOutcome{Result: report.ResultSuccess, Duration: 3500 * time.Millisecond, At: at, Rows: 12, Reruns: 2, Requests: 7})
	m.RunStarted("support", "1h")
	m.RunEnded("support", "1h", RunOutcome{Result: report.ResultTimeout, Duration: 10 * time.Minute, At: at, Rows: 0, Reruns: 0, Requests: 31})
	m.RunSkipped("support", "1h")
	obs := m.Observer("support")
	obs.RequestDone("st-ignored", kore.EndpointSubmit, 200, 125*time.Millisecond)
	obs.RequestDone("st-ignored", kore.EndpointStatus, 429, 31250*time.Microsecond)
	obs.RequestDone("st-ignored", kore.EndpointStatus, 0, 30*time.Second)
	obs.Retry("st-ignored", kore.EndpointStatus, "rate_limited")
	m.ConfigReloaded(true, at)
	m.ConfigReloaded(false, at.Add(time.Hour))
	m.SlotsChanged(8, 3)

	const want = `
# HELP kore_exporter_api_request_duration_seconds Duration of Kore.ai API requests by endpoint.
# TYPE kore_exporter_api_request_duration_seconds histogram
kore_exporter_api_request_duration_seconds_bucket{endpoint="status",le="0.01"} 0
kore_exporter_api_request_duration_seconds_bucket{endpoint="status",le="0.025"} 0
kore_exporter_api_request_duration_seconds_bucket{endpoint="status",le="0.05"} 1
kore_exporter_api_request_duration_seconds_bucket{endpoint="status",le="0.1"} 1
kore_exporter_api_request_duration_seconds_bucket{endpoint="status",le="0.25"} 1
kore_exporter_api_request_duration_seconds_bucket{endpoint="status",le="0.5"} 1
kore_exporter_api_request_duration_seconds_bucket{endpoint="status",le="1"} 1
kore_exporter_api_request_duration_seconds_bucket{endpoint="status",le="2.5"} 1
kore_exporter_api_request_duration_seconds_bucket{endpoint="status",le="5"} 1
kore_exporter_api_request_duration_seconds_bucket{endpoint="status",le="10"} 1
kore_exporter_api_request_duration_seconds_bucket{endpoint="status",le="30"} 2
kore_exporter_api_request_duration_seconds_bucket{endpoint="status",le="60"} 2
kore_exporter_api_request_duration_seconds_bucket{endpoint="status",le="+Inf"} 2
kore_exporter_api_request_duration_seconds_sum{endpoint="status"} 30.03125
kore_exporter_api_request_duration_seconds_count{endpoint="status"} 2
kore_exporter_api_request_duration_seconds_bucket{endpoint="submit",le="0.01"} 0
kore_exporter_api_request_duration_seconds_bucket{endpoint="submit",le="0.025"} 0
kore_exporter_api_request_duration_seconds_bucket{endpoint="submit",le="0.05"} 0
kore_exporter_api_request_duration_seconds_bucket{endpoint="submit",le="0.1"} 0
kore_exporter_api_request_duration_seconds_bucket{endpoint="submit",le="0.25"} 1
kore_exporter_api_request_duration_seconds_bucket{endpoint="submit",le="0.5"} 1
kore_exporter_api_request_duration_seconds_bucket{endpoint="submit",le="1"} 1
kore_exporter_api_request_duration_seconds_bucket{endpoint="submit",le="2.5"} 1
kore_exporter_api_request_duration_seconds_bucket{endpoint="submit",le="5"} 1
kore_exporter_api_request_duration_seconds_bucket{endpoint="submit",le="10"} 1
kore_exporter_api_request_duration_seconds_bucket{endpoint="submit",le="30"} 1
kore_exporter_api_request_duration_seconds_bucket{endpoint="submit",le="60"} 1
kore_exporter_api_request_duration_seconds_bucket{endpoint="submit",le="+Inf"} 1
kore_exporter_api_request_duration_seconds_sum{endpoint="submit"} 0.125
kore_exporter_api_request_duration_seconds_count{endpoint="submit"} 1
# HELP kore_exporter_api_requests_total Kore.ai API requests by bot, endpoint and HTTP status code (code "0": no response).
# TYPE kore_exporter_api_requests_total counter
kore_exporter_api_requests_total{bot="support",code="0",endpoint="status"} 1
kore_exporter_api_requests_total{bot="support",code="200",endpoint="submit"} 1
kore_exporter_api_requests_total{bot="support",code="429",endpoint="status"} 1
# HELP kore_exporter_api_retries_total Kore.ai API requests repeated, by bot, endpoint and reason.
# TYPE kore_exporter_api_retries_total counter
kore_exporter_api_retries_total{bot="support",endpoint="status",reason="rate_limited"} 1
# HELP kore_exporter_config_last_reload_success_timestamp_seconds Unix time of the last successful configuration reload.
# TYPE kore_exporter_config_last_reload_success_timestamp_seconds gauge
kore_exporter_config_last_reload_success_timestamp_seconds 1.7776368005e+09
# HELP kore_exporter_config_last_reload_successful Whether the last configuration reload succeeded (1) or failed (0).
# TYPE kore_exporter_config_last_reload_successful gauge
kore_exporter_config_last_reload_successful 0
# HELP kore_exporter_job_slots Report jobs that may run at once (limits.max_concurrent_jobs, or the size the exporter chose when it is not set).
# TYPE kore_exporter_job_slots gauge
kore_exporter_job_slots 8
# HELP kore_exporter_jobs_waiting Report jobs due to run but waiting for a free job slot; often above 0 means too few slots (docs/sizing.md).
# TYPE kore_exporter_jobs_waiting gauge
kore_exporter_jobs_waiting 3
# HELP kore_exporter_report_duration_seconds Duration of the last report run of the job (submit, polls and pages).
# TYPE kore_exporter_report_duration_seconds gauge
kore_exporter_report_duration_seconds{bot="support",window="1h"} 600
kore_exporter_report_duration_seconds{bot="support",window="24h"} 3.5
# HELP kore_exporter_report_folded_rows Task rows of the job's last successful report folded into the reserved other-tasks rows because the bot's max_task_rows cap was reached.
# TYPE kore_exporter_report_folded_rows gauge
kore_exporter_report_folded_rows{bot="support",window="24h"} 0
# HELP kore_exporter_report_interval_seconds Configured interval between report runs of the bot × window job (interval).
# TYPE kore_exporter_report_interval_seconds gauge
kore_exporter_report_interval_seconds{bot="support",window="1h"} 90
kore_exporter_report_interval_seconds{bot="support",window="24h"} 300
# HELP kore_exporter_report_last_success_timestamp_seconds Unix time the last successful report run of the job finished.
# TYPE kore_exporter_report_last_success_timestamp_seconds gauge
kore_exporter_report_last_success_timestamp_seconds{bot="support",window="24h"} 1.7776368005e+09
# HELP kore_exporter_report_requests HTTP requests the job's last report run sent to Kore.ai: submits, polls and their retries, whatever the answer.
# TYPE kore_exporter_report_requests gauge
kore_exporter_report_requests{bot="support",window="1h"} 31
kore_exporter_report_requests{bot="support",window="24h"} 7
# HELP kore_exporter_report_reruns_total Report runs started again from the first page because the pages of a multi-page report were inconsistent.
# TYPE kore_exporter_report_reruns_total counter
kore_exporter_report_reruns_total{bot="support",window="1h"} 0
kore_exporter_report_reruns_total{bot="support",window="24h"} 2
# HELP kore_exporter_report_rows Rows (task × status) of the job's last successful report.
# TYPE kore_exporter_report_rows gauge
kore_exporter_report_rows{bot="support",window="24h"} 12
# HELP kore_exporter_report_runs_total Report runs of the job, by result: success or an error class.
# TYPE kore_exporter_report_runs_total counter
kore_exporter_report_runs_total{bot="support",result="success",window="1h"} 0
kore_exporter_report_runs_total{bot="support",result="success",window="24h"} 1
kore_exporter_report_runs_total{bot="support",result="timeout",window="1h"} 1
# HELP kore_exporter_report_skipped_runs_total Report runs skipped because the job's previous run, or its wait for a job slot, outlasted the interval.
# TYPE kore_exporter_report_skipped_runs_total counter
kore_exporter_report_skipped_runs_total{bot="support",window="1h"} 1
kore_exporter_report_skipped_runs_total{bot="support",window="24h"} 0
# HELP kore_exporter_report_stale_after_seconds Configured time the job's last good rows are served after its last successful run (stale_after).
# TYPE kore_exporter_report_stale_after_seconds gauge
kore_exporter_report_stale_after_seconds{bot="support",window="1h"} 1.5
kore_exporter_report_stale_after_seconds{bot="support",window="24h"} 900
# HELP kore_exporter_report_success Whether the last report run of the bot × window job succeeded (1) or failed (0).
# TYPE kore_exporter_report_success gauge
kore_exporter_report_success{bot="support",window="1h"} 0
kore_exporter_report_success{bot="support",window="24h"} 1
# HELP kore_exporter_shard_index This exporter's shard (--shard.index), in [0, kore_exporter_shards): it runs the bots that rendezvous hashing of their bot_id assigns to it.
# TYPE kore_exporter_shard_index gauge
kore_exporter_shard_index 0
# HELP kore_exporter_shards Number of shards the configured bots are split over (--shard.count); 1 when unsharded.
# TYPE kore_exporter_shards gauge
kore_exporter_shards 1
`
	// The progress series are gone: no run is going. build_info, whose
	// labels depend on the build, is left out.
	if err := testutil.CollectAndCompare(m, strings.NewReader(want), typedNames(want)...); err != nil {
		t.Error(err)
	}

	// A reload that drops support/1h forgets its series, and ForgetBot the
	// API series of a bot no longer configured.
	m.Forget("support", "1h")
	if n := testutil.CollectAndCount(m, "kore_exporter_report_runs_total", "kore_exporter_report_success",
		"kore_exporter_report_skipped_runs_total", "kore_exporter_report_duration_seconds",
		"kore_exporter_report_interval_seconds", "kore_exporter_report_stale_after_seconds"); n != 6 {
		t.Errorf("after Forget: %d job series, want 6 (support/24h only)", n)
	}
	m.ForgetBot("support")
	if n := testutil.CollectAndCount(m, "kore_exporter_api_requests_total", "kore_exporter_api_retries_total"); n != 0 {
		t.Errorf("after ForgetBot: %d API series", n)
	}
}

// TestMetricsJobConfigured: a job's interval and stale_after series exist
// from JobConfigured on, before any run (and alone: no run series yet),
// survive its runs, follow a new configuration, are not re-encoded by an
// unchanged one, and go with the job on Forget.
func TestMetricsJobConfigured(t *testing.T) {
	t.Parallel()
	m := newTestMetrics(t)
	schedule := func(interval, staleAfter string) string {
		return `
# HELP kore_exporter_report_interval_seconds Configured interval between report runs of the bot × window job (interval).
# TYPE kore_exporter_report_interval_seconds gauge
kore_exporter_report_interval_seconds{bot="support",window="1h"} ` + interval + `
# HELP kore_exporter_report_stale_after_seconds Configured time the job's last good rows are served after its last successful run (stale_after).
# TYPE kore_exporter_report_stale_after_seconds gauge
kore_exporter_report_stale_after_seconds{bot="support",window="1h"} ` + staleAfter + `
`
	}
	check := func(when string, want string) {
		t.Helper()
		if err := testutil.CollectAndCompare(m, strings.NewReader(want),
			"kore_exporter_report_interval_seconds", "kore_exporter_report_stale_after_seconds"); err != nil {
			t.Errorf("%s: %v", when, err)
		}
	}

	m.JobConfigured("support", "1h", 5*time.Minute, 15*time.Minute)
	check("configured, no run yet", schedule("300", "900"))
	if n := testutil.CollectAndCount(m, jobFamilyNames...); n != 2 {
		t.Errorf("configured, no run yet: %d job series, want the 2 of the schedule", n)
	}
	// The pre-encoded block /metrics serves has them too.
	h := NewHandler(NewStore(), nil, HandlerOpts{Metrics: m})
	_, body := scrape(t, h, http.MethodGet, acceptText, "")
	for _, line := range []string{
		`kore_exporter_report_interval_seconds{bot="support",window="1h"} 300`,
		`kore_exporter_report_stale_after_seconds{bot="support",window="1h"} 900`,
	} {
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("/metrics before the first run lacks %s:\n%s", line, body)
		}
	}

	m.RunStarted("support", "1h")
	m.RunEnded("support", "1h", RunOutcome{Result: report.ResultSuccess, Duration: time.Second, At: time.Unix(1777636800, 0), Rows: 3})
	check("after a run", schedule("300", "900"))

	before := m.gen.Load()
	m.JobConfigured("support", "1h", 5*time.Minute, 15*time.Minute)
	if m.gen.Load() != before {
		t.Error("an unchanged schedule published a new job set")
	}

	m.JobConfigured("support", "1h", 2*time.Minute, 90*time.Second)
	check("reconfigured", schedule("120", "90"))
	if got := testutil.ToFloat64(m.success.WithLabelValues("support", "1h")); got != 1 {
		t.Errorf("a new schedule reset report_success to %v", got)
	}

	m.Forget("support", "1h")
	check("forgotten", "")
	if n := testutil.CollectAndCount(m, jobFamilyNames...); n != 0 {
		t.Errorf("after Forget: %d job series", n)
	}
}

// TestPromlint lints everything /metrics exposes: the registry NewRegistry
// builds (self-metrics, build_info, Go and process collectors) with every
// self-metric present, and the data metrics.
func TestPromlint(t *testing.T) {
	t.Parallel()
	reg, m, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	m.JobConfigured("a", "1h", 5*time.Minute, 15*time.Minute)
	m.JobConfigured("a", "24h", 5*time.Minute, 15*time.Minute)
	m.RunStarted("a", "1h")
	m.Progress("a", "1h", 50)
	m.RunStarted("a", "24h")
	m.RunEnded("a", "24h", RunOutcome{Result: report.ResultSuccess, Duration: time.Second, At: time.Now(), Rows: 10, Reruns: 1})
	m.RunSkipped("a", "24h")
	m.Observer("a").RequestDone("st-a", kore.EndpointSubmit, 200, time.Second)
	m.Observer("a").Retry("st-a", kore.EndpointSubmit, "network")
	m.ConfigReloaded(true, time.Now())
	if err := reg.Register(NewDataCollector(trickyStore(t))); err != nil {
		t.Fatal(err)
	}
	// The self-metrics /metrics serves from their cached block.
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{
		"kore_exporter_build_info", "kore_exporter_report_job_progress_ratio", "kore_exporter_api_retries_total",
		"go_goroutines", "process_cpu_seconds_total", "kore_task_executions", "kore_bot_info",
		"kore_exporter_report_success", "kore_exporter_report_runs_total", "kore_exporter_report_rows",
		"kore_exporter_report_interval_seconds", "kore_exporter_report_stale_after_seconds",
	} {
		if !names[want] && !(strings.HasPrefix(want, "process_") && !processMetricsSupported()) {
			t.Errorf("%s not exposed", want)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// processMetricsSupported reports whether the process collector exposes
// anything on this platform.
func processMetricsSupported() bool {
	return testutil.CollectAndCount(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})) > 0
}

// typedNames returns the families an exposition declares with TYPE lines.
func typedNames(exposition string) []string {
	var names []string
	for line := range strings.Lines(exposition) {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, _, _ := strings.Cut(rest, " ")
			names = append(names, name)
		}
	}
	return names
}

// jobFamilyNames are the self-metric families with a series per job.
var jobFamilyNames = []string{
	"kore_exporter_report_duration_seconds", "kore_exporter_report_folded_rows",
	"kore_exporter_report_interval_seconds", "kore_exporter_report_job_progress_ratio",
	"kore_exporter_report_last_success_timestamp_seconds", "kore_exporter_report_requests",
	"kore_exporter_report_reruns_total", "kore_exporter_report_rows", "kore_exporter_report_runs_total",
	"kore_exporter_report_skipped_runs_total", "kore_exporter_report_stale_after_seconds",
	"kore_exporter_report_success",
}
