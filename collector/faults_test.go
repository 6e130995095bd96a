package collector_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/kore-exporter/kore_exporter/collector"
	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/contract"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

// The exporter's failure contract: one row per fault of the Kore.ai API,
// injected through the simulator into the real Scheduler, Store, Metrics,
// kore.Client and /metrics handler, inside a synctest bubble (half an hour
// of fake time per row, no wall-clock waits). docs/reliability.md holds
// the same table; `go test -run '^TestFailureContract$' -v ./collector`
// prints it with the figures of the run.

// The bot of every row: the defaults' timing (interval 5m, stale_after 3 ×
// interval, timeout 10m), one 24h window, and a page that holds the whole
// report (the simulated bot has 20 tasks, at most 40 rows).
const (
	fcInterval   = 5 * time.Minute
	fcStaleAfter = 3 * fcInterval
	fcTimeout    = 10 * time.Minute
	fcBotName    = "faulty"
	fcWindow     = "24h"
	fcMaxTasks   = 100 // max_task_rows
	fcScrape     = 15 * time.Second
	fcJobLength  = 3 * time.Second // a simulated job's run time
	// fcRecovery bounds the time from a fault's end (or the end of the run
	// that was in flight then, which was submitted under the fault) to the
	// data being served again: the next tick, within one interval, plus a
	// run.
	fcRecovery = fcInterval + time.Minute
)

var fcBot = koretest.Bot{
	ID:           "st-7a1c0de5-0000-5000-8000-00000000fa01",
	ClientID:     "cs-7a1c0de5-0000-5000-8000-00000000fa02",
	ClientSecret: "fault-matrix-secret-0123456789",
	Tasks:        20,
	Seed:         7,
}

// faultCase is one row of the failure contract.
type faultCase struct {
	name  string // the fault, as the table of docs/reliability.md names it
	fault koretest.Fault
	does  string // what the exporter does, for the table
	// kept: the exporter absorbs the fault and the data stays served
	// throughout; else every run fails and the data is dropped
	// stale_after after the last success.
	kept bool
	// What must move while the fault lasts: runs_total{result},
	// api_retries_total{reason} (if set), api_requests_total{code} (if
	// set).
	result, retry, code string
	// check, if set, checks the last scrape under the fault.
	check func(t *testing.T, s *scrape)
}

func faultCases() []faultCase {
	rateLimited := func(name string, f koretest.Fault, does string) faultCase {
		f.RateLimited = true
		return faultCase{name: name, fault: f, does: does, result: report.ResultRateLimited, retry: "rate_limited", code: "429"}
	}
	return []faultCase{
		{name: "one 5xx on submit", fault: koretest.Fault{ServerErrors: 1},
			does: "the run fails (a POST that may have created a job is not repeated); the next run succeeds",
			kept: true, result: report.ResultAPIError, code: "500"},
		{name: "5xx burst on poll (3)", fault: koretest.Fault{StatusServerErrors: 3},
			does: "retries the status call (backoff 1 s, doubling, ±50 %); the run succeeds",
			kept: true, result: report.ResultSuccess, retry: "server_error", code: "502"},
		{name: "5xx outage (every call)", fault: koretest.Fault{ServerErrors: math.MaxInt32},
			does: "every run fails at its submit", result: report.ResultAPIError, code: "500"},
		rateLimited("429, Retry-After: 30 (seconds)", koretest.Fault{RetryAfter: 30 * time.Second},
			"waits 30 s between attempts, 5 attempts, then fails the run; the bot's limiter pauses too"),
		rateLimited("429, Retry-After: HTTP date (+30 s)", koretest.Fault{RetryAfter: 30 * time.Second, RetryAfterDate: true},
			"as with seconds"),
		rateLimited("429, Retry-After: 86400 (huge)", koretest.Fault{RetryAfterHeader: "86400"},
			"waits at most 2 min (the cap) between attempts"),
		rateLimited("429, Retry-After: -30 (negative)", koretest.Fault{RetryAfterHeader: "-30"},
			"ignores the header: waits 60–70 s between attempts"),
		rateLimited("429, Retry-After: soon (garbage)", koretest.Fault{RetryAfterHeader: "soon"},
			"ignores the header: waits 60–70 s between attempts"),
		{name: "hung connection", fault: koretest.Fault{Hang: true},
			does: "gives up on the submit after the 30 s request timeout; not repeated", result: report.ResultNetwork, code: "0"},
		{name: "endless slow body", fault: koretest.Fault{SlowBody: true},
			does: "gives up reading after the 30 s request timeout; not repeated", result: report.ResultNetwork, code: "200"},
		{name: "body over the size cap", fault: koretest.Fault{Oversize: 2 << 20},
			does: "reads 1 MiB + 1 byte of the submit's answer, fails the run", result: report.ResultInvalidResponse, code: "200"},
		{name: "truncated JSON", fault: koretest.Fault{Truncated: true},
			does: "fails the run on the short body", result: report.ResultNetwork, code: "200"},
		{name: "HTML instead of JSON", fault: koretest.Fault{Malformed: true},
			does: "fails the run, naming the bad body", result: report.ResultInvalidResponse, code: "200"},
		{name: "wrong field types", fault: koretest.Fault{WrongTypes: true},
			does: "fails the run, naming the field", result: report.ResultInvalidResponse, code: "200"},
		{name: "job failed", fault: koretest.Fault{FailJobs: true},
			does: "fails the run when the job says FAILED", result: report.ResultJobFailed, code: "200"},
		{name: "job never finishes", fault: koretest.Fault{NeverFinish: true},
			does: "polls until the run's timeout (10 m); the ticks it outlasts are skipped", result: report.ResultTimeout, code: "200"},
		{name: "job id expired (404)", fault: koretest.Fault{ForgetJobs: true},
			does: "fails the run at the first 404 on the job's status", result: report.ResultJobExpired, code: "404"},
		{name: "401 (bad credentials)", fault: koretest.Fault{BadCredentials: true},
			does: "fails the run at once; not retried", result: report.ResultUnauthorized, code: "401"},
		{name: "connection refused", fault: koretest.Fault{Refuse: true},
			does: "retries the submit (the server never saw it), 5 attempts, then fails the run", result: report.ResultNetwork,
			retry: "network", code: "0"},
		{name: "a total that lies (+3)", fault: koretest.Fault{TotalOffset: 3},
			does: "runs the report again twice, then fails the run", result: report.ResultInvalidResponse, code: "200",
			check: func(t *testing.T, s *scrape) {
				if v := s.sum("kore_exporter_report_reruns_total", nil); v < 2 {
					t.Errorf("report_reruns_total = %v, want ≥ 2", v)
				}
			}},
		{name: "rows that overflow int64", fault: koretest.Fault{OverflowCounts: true},
			does: "fails the run instead of wrapping around", result: report.ResultInvalidResponse, code: "200"},
		{name: "task-name flood (+300 tasks)", fault: koretest.Fault{TaskFlood: 300},
			does: "keeps the largest tasks up to max_task_rows (100), folds the rest into __other_tasks__; totals exact",
			kept: true, result: report.ResultSuccess, code: "200",
			check: func(t *testing.T, s *scrape) {
				if rows := s.botRows(); rows > fcMaxTasks {
					t.Errorf("%d task rows served, want at most max_task_rows = %d", rows, fcMaxTasks)
				}
				// At least 300 − max_task_rows of the flood's rows are folded.
				if v := s.sum("kore_exporter_report_folded_rows", nil); v < 300-fcMaxTasks {
					t.Errorf("report_folded_rows = %v, want ≥ %d", v, 300-fcMaxTasks)
				}
				if v := s.sum("kore_task_sessions", map[string]string{"task_name": contract.OtherTasks}); v <= 0 {
					t.Errorf("sessions of %s = %v, want the folded tasks' sessions", contract.OtherTasks, v)
				}
			}},
	}
}

// faultResult is what one row measured, for the table.
type faultResult struct {
	c                   faultCase
	healthyRequests     float64       // requests of the first, healthy run
	faultRunCosts       []int64       // requests of each run under the fault
	recovery            time.Duration // from the fault's end to data served again
	inFlightAtClear     bool
	resultDelta, skipDt float64
}

func TestFailureContract(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	cases := faultCases()
	results := make([]*faultResult, len(cases))
	t.Run("rows", func(t *testing.T) {
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				results[i] = runFaultCase(t, c)
			})
		}
	})
	if t.Failed() {
		return
	}
	goleak.VerifyNone(t, leaks)
	checkContractTable(t, contractTable(results))
}

// updateContract makes TestFailureContract write its table into
// docs/reliability.md instead of comparing it.
var updateContract = flag.Bool("update", false, "rewrite the failure-contract table of docs/reliability.md (TestFailureContract)")

// contractDoc holds the table between these markers.
const (
	contractDoc   = "../docs/reliability.md"
	contractBegin = "<!-- failure contract: begin; written by go test -run '^TestFailureContract$' ./collector -update -->\n"
	contractEnd   = "<!-- failure contract: end -->\n"
)

// checkContractTable compares table with the one in contractDoc, or with
// -update writes it there.
func checkContractTable(t *testing.T, table string) {
	doc, err := os.ReadFile(contractDoc)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(doc), contractBegin)
	old, after, ok2 := strings.Cut(rest, contractEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s: the failure-contract markers are missing", contractDoc)
	}
	if *updateContract {
		if err := os.WriteFile(contractDoc, []byte(before+contractBegin+table+contractEnd+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if old != table {
		var diff []string
		was, now := strings.Split(old, "\n"), strings.Split(table, "\n")
		for i := range max(len(was), len(now)) {
			if i >= len(was) || i >= len(now) || was[i] != now[i] {
				diff = append(diff, fmt.Sprintf("row %d:\n  doc: %s\n  now: %s", i, at(was, i), at(now, i)))
			}
		}
		t.Errorf("the failure contract differs from %s (rewrite it with go test -run '^TestFailureContract$' ./collector -update):\n%s", contractDoc, strings.Join(diff, "\n"))
	}
}

// at is lines[i], or "(none)" past the end.
func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(none)"
}

func runFaultCase(t *testing.T, c faultCase) *faultResult {
	res := &faultResult{c: c}
	synctest.Test(t, func(t *testing.T) {
		sim := koretest.NewInMemory(koretest.WithJobDuration(fcJobLength))
		defer sim.Close()
		sim.AddBot(fcBot)

		// Every request the client sends, refused ones included, and the
		// requests of each run (runs are one at a time: one job).
		transport := &countingTransport{rt: sim.Client().Transport}
		var runner *recordingRunner
		var logs bytes.Buffer

		reg := prometheus.NewPedanticRegistry()
		metrics := collector.NewMetrics()
		store := collector.NewStore()
		sched := collector.NewScheduler(collector.SchedulerOpts{
			Logger: log.NewLogfmtLogger(log.NewSyncWriter(&logs)),
			Store:  store, Metrics: metrics, MaxStartSpread: time.Second,
			NewClient: func(b config.Bot, budgets *kore.Budgets, obs kore.Observer) (report.Runner, error) {
				c, err := kore.NewClient(
					kore.WithHost(b.Host),
					kore.WithCredentials(kore.Credentials{ClientID: b.ClientID, ClientSecret: b.ClientSecret.Reveal()}),
					kore.WithObserver(obs),
					kore.WithBudgets(budgets),
					kore.WithHTTPClient(&http.Client{Transport: transport}),
				)
				if err != nil {
					return nil, err
				}
				runner = &recordingRunner{Runner: c, sent: &transport.n}
				return runner, nil
			},
		})
		handler := collector.NewHandler(store, reg, collector.HandlerOpts{Metrics: metrics})
		cfg := &config.Config{
			Bots: []config.Bot{{
				Name: fcBotName, BotID: fcBot.ID, ClientID: fcBot.ClientID, ClientSecret: config.Secret(fcBot.ClientSecret),
				Host: sim.URL, Interval: fcInterval, Timeout: fcTimeout, StaleAfter: fcStaleAfter,
				PageSize: kore.DefaultPageSize, MaxTaskRows: fcMaxTasks, MaxReportRows: kore.DefaultMaxReportRows,
				Windows: []config.Window{{Name: fcWindow, Duration: 24 * time.Hour}},
			}},
			Limits: config.Limits{MaxConcurrentJobs: 1, RequestsPerMinutePerBot: kore.DefaultRequestsPerMinute},
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := sched.Apply(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		defer sched.Stop()
		scrapeNow := func() *scrape {
			t.Helper()
			synctest.Wait()
			return scrapeMetrics(t, handler)
		}

		// Healthy: one good run publishes the data.
		s := waitFor(t, scrapeNow, time.Minute, func(s *scrape) bool { return s.botRows() > 0 })
		if s.runs(report.ResultSuccess) != 1 {
			t.Fatalf("healthy start: runs %v", s.sum("kore_exporter_report_runs_total", nil))
		}
		res.healthyRequests = s.requests("")
		before := s

		// The fault: sample /metrics every fcScrape until the data would be
		// stale (for kept rows: as long as for the others).
		sim.SetFault(fcBot.ID, c.fault)
		faultStart := time.Now()
		lastGood := s.lastSuccess()
		sawGone := false
		// runsEnded: a run that started under the fault has ended (its
		// result counted).
		runsEnded := func(s *scrape) bool {
			return s.sum("kore_exporter_report_runs_total", nil) > before.sum("kore_exporter_report_runs_total", nil)
		}
		for {
			time.Sleep(fcScrape)
			s = scrapeNow()
			now := time.Now()
			if c.kept {
				if s.botRows() == 0 {
					t.Fatalf("at +%v under the fault: data gone; want it kept", now.Sub(faultStart))
				}
				if now.Sub(faultStart) > fcStaleAfter+time.Minute && runsEnded(s) {
					break
				}
				continue
			}
			if got := s.lastSuccess(); !got.Equal(lastGood) {
				t.Fatalf("at +%v under the fault: a run succeeded (last success %v, was %v)", now.Sub(faultStart), got, lastGood)
			}
			staleAt := lastGood.Add(fcStaleAfter)
			switch present := s.botRows() > 0; {
			case now.Before(staleAt) && !present:
				t.Fatalf("data gone at +%v, %v before stale_after passed", now.Sub(faultStart), staleAt.Sub(now))
			case now.After(staleAt.Add(2*time.Second)) && present: // the sweeper runs every second
				t.Fatalf("data still served %v after stale_after passed", now.Sub(staleAt))
			case !present && !sawGone:
				sawGone = true
			}
			if now.After(staleAt.Add(time.Minute)) && runsEnded(s) {
				break
			}
			if now.Sub(faultStart) > time.Hour {
				t.Fatal("the data never went stale")
			}
		}
		if !c.kept && !sawGone {
			t.Fatal("the data never disappeared")
		}
		switch got := s.value("kore_exporter_report_success", nil); {
		case !c.kept && got != 0:
			t.Errorf("report_success = %v after failed runs, want 0", got)
		case c.result == report.ResultSuccess && got != 1:
			t.Errorf("report_success = %v under an absorbed fault, want 1", got)
		}
		// The self-metrics that show the fault.
		res.resultDelta = s.runs(c.result) - before.runs(c.result)
		if c.result == report.ResultSuccess {
			res.resultDelta-- // the first run of the fault window may have been healthy anyway; at least one more
		}
		if res.resultDelta <= 0 {
			t.Errorf("runs_total{result=%q} did not move under the fault (runs by result: %v)", c.result, s.byLabel("kore_exporter_report_runs_total", "result"))
		}
		if c.retry != "" && s.retries(c.retry) <= before.retries(c.retry) {
			t.Errorf("api_retries_total{reason=%q} did not move (retries: %v)", c.retry, s.byLabel("kore_exporter_api_retries_total", "reason"))
		}
		if c.code != "" && s.requests(c.code) <= before.requests(c.code) {
			t.Errorf("api_requests_total{code=%q} did not move (requests: %v)", c.code, s.byLabel("kore_exporter_api_requests_total", "code"))
		}
		if c.check != nil {
			c.check(t, s)
		}
		res.skipDt = s.sum("kore_exporter_report_skipped_runs_total", nil) - before.sum("kore_exporter_report_skipped_runs_total", nil)

		// The fault clears: the data is back within one interval (plus a
		// run) of its end, or of the end of a run still in flight then.
		sim.SetFault(fcBot.ID, koretest.Fault{})
		cleared := time.Now()
		ready := cleared
		if st := sched.Status(); len(st) == 1 && st[0].Running {
			res.inFlightAtClear = true
			inFlight := st[0].LastRun
			for {
				time.Sleep(time.Second)
				synctest.Wait()
				if st := sched.Status(); !st[0].Running || !st[0].LastRun.Equal(inFlight) {
					break
				}
			}
			ready = time.Now()
		}
		successes := s.runs(report.ResultSuccess)
		waitFor(t, scrapeNow, fcTimeout+fcRecovery, func(s *scrape) bool {
			return s.botRows() > 0 && s.runs(report.ResultSuccess) > successes && s.value("kore_exporter_report_success", nil) == 1
		})
		res.recovery = time.Since(cleared)
		if d := time.Since(ready); d > fcRecovery {
			t.Errorf("data back %v after the fault cleared (%v after the run in flight ended), want within %v", res.recovery, d, fcRecovery)
		}

		sched.Stop()
		cancel()
		sim.Close()
		scrapeMetrics(t, handler) // still valid once stopped

		// What each run under the fault cost: the runs that started and
		// ended while it lasted.
		for _, r := range runner.list() {
			if !r.start.Before(faultStart) && !r.end.After(cleared) {
				res.faultRunCosts = append(res.faultRunCosts, r.requests)
			}
		}
		if len(res.faultRunCosts) == 0 {
			t.Error("no run started and ended under the fault")
		}
		// No secret in the logs or the status: not the client secret, not
		// a token.
		for what, text := range map[string]string{"logs": logs.String(), "status": fmt.Sprint(sched.Status())} {
			if strings.Contains(text, fcBot.ClientSecret) || strings.Contains(text, "eyJ") {
				t.Errorf("%s hold a credential:\n%s", what, text)
			}
		}
	})
	return res
}

// countingTransport counts the requests sent through it.
type countingTransport struct {
	rt http.RoundTripper
	n  atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// recordingRunner records the time and the requests of each run.
type recordingRunner struct {
	report.Runner
	sent *atomic.Int64
	mu   sync.Mutex
	runs []runCost
}

type runCost struct {
	start, end time.Time
	requests   int64
}

func (r *recordingRunner) RunContainmentReport(ctx context.Context, botID string, req kore.ReportRequest) (*kore.Report, error) {
	start, n := time.Now(), r.sent.Load()
	rep, err := r.Runner.RunContainmentReport(ctx, botID, req)
	r.mu.Lock()
	r.runs = append(r.runs, runCost{start: start, end: time.Now(), requests: r.sent.Load() - n})
	r.mu.Unlock()
	return rep, err
}

func (r *recordingRunner) list() []runCost {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.runs)
}

// waitFor scrapes every fcScrape until ok, for at most d.
func waitFor(t *testing.T, scrapeNow func() *scrape, d time.Duration, ok func(*scrape) bool) *scrape {
	t.Helper()
	for end := time.Now().Add(d); ; {
		s := scrapeNow()
		if ok(s) {
			return s
		}
		if time.Now().After(end) {
			t.Fatalf("not within %v; runs by result: %v", d, s.byLabel("kore_exporter_report_runs_total", "result"))
		}
		time.Sleep(fcScrape)
	}
}

// scrape is one parsed /metrics answer.
type scrape struct {
	fams map[string]*dto.MetricFamily
}

// scrapeMetrics GETs /metrics in the text format and checks that it is
// valid exposition: HTTP 200, parsed by expfmt (as Prometheus' text parser
// does), no series twice, no promlint problem.
func scrapeMetrics(t *testing.T, h http.Handler) *scrape {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d: %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not valid exposition: %v", err)
	}
	// promlint's own check for duplicate series is quadratic; it is done
	// here, and promlint gets one series per family and set of label
	// names, which is all its other checks look at.
	seen := map[string]bool{}
	list := make([]*dto.MetricFamily, 0, len(fams))
	for name, mf := range fams {
		shapes := map[string]bool{}
		lint := &dto.MetricFamily{Name: mf.Name, Help: mf.Help, Type: mf.Type, Unit: mf.Unit}
		for _, m := range mf.GetMetric() {
			key := name + labelKey(m)
			if seen[key] {
				t.Fatalf("/metrics: series %s twice", key)
			}
			seen[key] = true
			var shape strings.Builder
			for _, l := range m.GetLabel() {
				shape.WriteString(l.GetName() + ",")
			}
			if !shapes[shape.String()] {
				shapes[shape.String()] = true
				lint.Metric = append(lint.Metric, m)
			}
		}
		list = append(list, lint)
	}
	problems, err := promlint.NewWithMetricFamilies(list).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	return &scrape{fams: fams}
}

func labelKey(m *dto.Metric) string {
	var b strings.Builder
	for _, l := range m.GetLabel() {
		fmt.Fprintf(&b, "{%s=%q}", l.GetName(), l.GetValue())
	}
	return b.String()
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue()
	}
	return math.NaN()
}

// sum adds the values of the series of name that have the labels of match.
func (s *scrape) sum(name string, match map[string]string) float64 {
	total := 0.0
	for _, m := range s.fams[name].GetMetric() {
		ok := true
		for k, v := range match {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if ok {
			total += metricValue(m)
		}
	}
	return total
}

// value is sum for a gauge with one series.
func (s *scrape) value(name string, match map[string]string) float64 { return s.sum(name, match) }

// byLabel sums name by the values of label, for failure messages.
func (s *scrape) byLabel(name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range s.fams[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				out[l.GetValue()] += metricValue(m)
			}
		}
	}
	return out
}

func (s *scrape) runs(result string) float64 {
	return s.sum("kore_exporter_report_runs_total", map[string]string{"result": result})
}

func (s *scrape) retries(reason string) float64 {
	return s.sum("kore_exporter_api_retries_total", map[string]string{"reason": reason})
}

// requests counts the API requests with code (every code if empty).
func (s *scrape) requests(code string) float64 {
	if code == "" {
		return s.sum("kore_exporter_api_requests_total", nil)
	}
	return s.sum("kore_exporter_api_requests_total", map[string]string{"code": code})
}

// botRows is the number of task rows served for the bot's window.
func (s *scrape) botRows() int {
	return len(s.fams["kore_task_sessions"].GetMetric())
}

func (s *scrape) lastSuccess() time.Time {
	v := s.value("kore_exporter_report_last_success_timestamp_seconds", nil)
	return time.Unix(0, int64(v*1e9)).Round(time.Millisecond)
}

// contractTable renders the results as the table of docs/reliability.md.
func contractTable(results []*faultResult) string {
	var b strings.Builder
	b.WriteString("| fault | what the exporter does | self-metric that shows it | data | recovery after the fault ends | requests per run under the fault |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range results {
		if r == nil {
			continue
		}
		c := r.c
		var sig []string
		sig = append(sig, "`runs_total{result=\""+c.result+"\"}`")
		if c.retry != "" {
			sig = append(sig, "`api_retries_total{reason=\""+c.retry+"\"}`")
		}
		if c.code != "" {
			sig = append(sig, "`api_requests_total{code=\""+c.code+"\"}`")
		}
		if r.skipDt > 0 {
			sig = append(sig, "`report_skipped_runs_total`")
		}
		data := "unaffected"
		if !c.kept {
			data = "kept until stale_after, then gone"
		}
		// A run still in flight when the fault ends ends at a time its
		// jittered waits decide; the next run's is then checked against
		// the bound, not written down.
		rec := "next run: " + fmtDur(r.recovery)
		if r.inFlightAtClear {
			rec = "the run in flight, then the next run"
		}
		perRun := "–"
		if len(r.faultRunCosts) > 0 {
			lo, hi := slices.Min(r.faultRunCosts), slices.Max(r.faultRunCosts)
			perRun = strconv.FormatInt(lo, 10)
			if hi != lo {
				perRun += "–" + strconv.FormatInt(hi, 10)
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s (healthy: %.0f) |\n",
			c.name, c.does, strings.Join(sig, ", "), data, rec, perRun, r.healthyRequests)
	}
	return b.String()
}

func fmtDur(d time.Duration) string {
	d = d.Round(time.Second)
	if d >= time.Minute && d%time.Minute == 0 {
		return strconv.Itoa(int(d/time.Minute)) + " min"
	}
	if d >= time.Minute {
		return fmt.Sprintf("%d min %d s", int(d/time.Minute), int((d%time.Minute)/time.Second))
	}
	return strconv.Itoa(int(d/time.Second)) + " s"
}
