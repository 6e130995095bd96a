package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

// fakeRunner is a report.Runner whose answers a test scripts.
type fakeRunner struct {
	mu       sync.Mutex
	calls    []kore.ReportRequest
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	// run decides each call's answer; it may block on ctx.
	run func(ctx context.Context, n int, req kore.ReportRequest) (*kore.Report, error)
}

func (f *fakeRunner) RunContainmentReport(ctx context.Context, botID string, req kore.ReportRequest) (*kore.Report, error) {
	cur := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxSeen.Load()
		if cur <= m || f.maxSeen.CompareAndSwap(m, cur) {
			break
		}
	}
	f.mu.Lock()
	f.calls = append(f.calls, req)
	n := len(f.calls)
	f.mu.Unlock()
	return f.run(ctx, n, req)
}

func (f *fakeRunner) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// slowRunner answers an empty report after d, or ctx's error.
func slowRunner(d time.Duration) *fakeRunner {
	return &fakeRunner{run: func(ctx context.Context, _ int, _ kore.ReportRequest) (*kore.Report, error) {
		select {
		case <-time.After(d):
			return rowsReport(), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}}
}

func rowsReport(rows ...kore.TaskRow) *kore.Report { return &kore.Report{Rows: rows} }

func testBot(name string, windows ...string) config.Bot {
	b := config.Bot{Name: name, BotID: "st-" + name, ClientID: "cs-" + name, ClientSecret: config.Secret("s3cr3t-canary-" + name),
		Host: "https://platform.kore.ai", Interval: time.Minute, Timeout: 30 * time.Second,
		StaleAfter: 3 * time.Minute, PageSize: 100}
	for _, w := range windows {
		d, err := time.ParseDuration(w)
		if err != nil {
			panic(err)
		}
		b.Windows = append(b.Windows, config.Window{Name: w, Duration: d})
	}
	return b
}

type harness struct {
	sched   *Scheduler
	store   *Store
	metrics *Metrics
}

func newHarness(t *testing.T, runners map[string]*fakeRunner) *harness {
	t.Helper()
	m := NewMetrics()
	store := NewStore()
	s := NewScheduler(SchedulerOpts{
		Store: store, Metrics: m, MaxStartSpread: time.Second,
		NewClient: func(b config.Bot, _ *kore.Budgets, _ kore.Observer) (report.Runner, error) {
			r, ok := runners[b.Name]
			if !ok {
				return nil, fmt.Errorf("no runner for %s", b.Name)
			}
			return r, nil
		},
	})
	return &harness{sched: s, store: store, metrics: m}
}

// runFor applies cfg, lets d of fake time pass, and stops the jobs.
func (h *harness) runFor(t *testing.T, cfg *config.Config, d time.Duration) {
	t.Helper()
	err := h.sched.Apply(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	synctest.Wait()
	h.sched.Stop()
}

func TestSchedulerPublishesAndBecomesReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		row := kore.TaskRow{TaskName: "Book Flight", TaskType: "dialog", Status: "success", TotalExecution: 5, TotalSession: 4, SelfServiceSessions: 3, DropOffSessions: 1}
		r := &fakeRunner{run: func(context.Context, int, kore.ReportRequest) (*kore.Report, error) { return rowsReport(row), nil }}
		h := newHarness(t, map[string]*fakeRunner{"a": r})
		cfg := &config.Config{Bots: []config.Bot{testBot("a", "1h", "24h")}, Limits: config.Limits{MaxConcurrentJobs: 2}}
		err := h.sched.Apply(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if h.sched.Ready() {
			t.Fatal("ready before any job ran")
		}
		time.Sleep(2 * time.Second) // past the start spread
		synctest.Wait()
		if !h.sched.Ready() {
			t.Fatal("not ready after every job ran once")
		}
		for _, w := range []string{"1h", "24h"} {
			if got := h.store.Load().Rows("a", w); len(got) != 1 || got[0] != row {
				t.Errorf("window %s rows = %+v, want [%+v]", w, got, row)
			}
		}
		if got := testutil.ToFloat64(h.metrics.runs.WithLabelValues("a", "1h", report.ResultSuccess)); got != 1 {
			t.Errorf("runs_total{result=success} = %v, want 1", got)
		}
		// One run per interval (±5 % jitter): 3.5 minutes later, 4 runs per
		// window (the 4th at most 1 s + 3 × 63 s, the 5th at least 4 × 57 s
		// after the start).
		time.Sleep(3*time.Minute + 30*time.Second)
		synctest.Wait()
		if got := r.count(); got != 8 {
			t.Errorf("runs after 3 intervals = %d, want 8 (4 per window)", got)
		}
		h.sched.Stop()
	})
}

func TestSchedulerWindowBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &fakeRunner{run: func(context.Context, int, kore.ReportRequest) (*kore.Report, error) { return rowsReport(), nil }}
		h := newHarness(t, map[string]*fakeRunner{"a": r})
		b := testBot("a", "24h")
		b.Delay = 15 * time.Minute
		b.Filters = config.Filters{ConversationType: "Interactive", ConversationStatus: "Closed", IncludeTaskNames: []string{"Book Flight"}, Tags: []config.Tag{{Name: "region", Values: []string{"eu"}, Type: "session"}}}
		h.runFor(t, &config.Config{Bots: []config.Bot{b}, Limits: config.Limits{MaxConcurrentJobs: 1}}, 2*time.Second)
		if r.count() != 1 {
			t.Fatalf("calls = %d, want 1", r.count())
		}
		req := r.calls[0]
		if got := req.To.Sub(req.From); got != 24*time.Hour {
			t.Errorf("window length = %v, want 24h", got)
		}
		if lag := time.Since(req.To); lag < 15*time.Minute || lag > 15*time.Minute+2*time.Second {
			t.Errorf("window end lags now by %v, want the 15m delay", lag)
		}
		if req.AggregationType != kore.AggregationCumulative || req.PageSize != 100 || req.ConversationType != "Interactive" ||
			req.ConversationStatus != "Closed" || len(req.IncludeTaskNames) != 1 || len(req.Tags) != 1 || req.Tags[0].Type != "session" {
			t.Errorf("request = %+v, filters not passed through", req)
		}
	})
}

func TestSchedulerKeepsLastGoodDataUntilStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		row := kore.TaskRow{TaskName: "FAQ", TaskType: "faq", Status: "success", TotalExecution: 1, TotalSession: 1, SelfServiceSessions: 1}
		r := &fakeRunner{run: func(_ context.Context, n int, _ kore.ReportRequest) (*kore.Report, error) {
			if n == 1 {
				return rowsReport(row), nil
			}
			return nil, &kore.APIError{Endpoint: kore.EndpointSubmit, StatusCode: 503}
		}}
		h := newHarness(t, map[string]*fakeRunner{"a": r})
		err := h.sched.Apply(t.Context(), &config.Config{Bots: []config.Bot{testBot("a", "1h")}, Limits: config.Limits{MaxConcurrentJobs: 1}})
		if err != nil {
			t.Fatal(err)
		}
		defer h.sched.Stop()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		// Failed runs at +1m and +2m: the good rows are still served.
		time.Sleep(2*time.Minute + 10*time.Second)
		synctest.Wait()
		if got := h.store.Load().Rows("a", "1h"); len(got) != 1 {
			t.Fatalf("rows after failed runs within stale_after = %v, want the last good row", got)
		}
		if got := testutil.ToFloat64(h.metrics.runs.WithLabelValues("a", "1h", report.ResultAPIError)); got != 2 {
			t.Errorf("runs_total{result=api_error} = %v, want 2", got)
		}
		if got := testutil.ToFloat64(h.metrics.success.WithLabelValues("a", "1h")); got != 0 {
			t.Errorf("report_success = %v after a failed run, want 0", got)
		}
		// stale_after (3m) past the last success: the series disappear.
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := h.store.Load().Rows("a", "1h"); len(got) != 0 {
			t.Fatalf("rows past stale_after = %v, want none", got)
		}
		st := h.sched.Status()
		if len(st) != 1 || st[0].LastResult != report.ResultAPIError || !strings.Contains(st[0].LastError, "503") {
			t.Errorf("status = %+v, want the last error", st)
		}
	})
}

func TestSchedulerSkipsOverlappingRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Each run takes 150 s with a 60 s interval: the job never runs
		// twice at once nor catches up in a burst. Each next run starts as
		// the previous one ends, for the latest tick that passed; the other
		// ticks it missed (about 1.5 a run) are counted.
		r := slowRunner(150 * time.Second)
		var starts []time.Time
		run := r.run
		r.run = func(ctx context.Context, n int, req kore.ReportRequest) (*kore.Report, error) {
			starts = append(starts, time.Now())
			return run(ctx, n, req)
		}
		h := newHarness(t, map[string]*fakeRunner{"a": r})
		b := testBot("a", "1h")
		b.Timeout = 10 * time.Minute
		h.runFor(t, &config.Config{Bots: []config.Bot{b}, Limits: config.Limits{MaxConcurrentJobs: 4}}, 10*time.Minute)
		if m := r.maxSeen.Load(); m != 1 {
			t.Errorf("max concurrent runs of one job = %d, want 1", m)
		}
		if len(starts) != 4 {
			t.Fatalf("runs in 10m = %d, want 4 (one every 150 s)", len(starts))
		}
		for i := 1; i < len(starts); i++ {
			if gap := starts[i].Sub(starts[i-1]); gap != 150*time.Second {
				t.Errorf("run %d started %v after the previous one, want 150s (as it ended)", i+1, gap)
			}
		}
		skipped := testutil.ToFloat64(h.metrics.skipped.WithLabelValues("a", "1h"))
		if skipped < 4 || skipped > 6 {
			t.Errorf("skipped runs in 10m = %v, want 4 to 6 (ten ticks, the first run off the ticks, 1.5 a run missed)", skipped)
		}
	})
}

// TestSchedulerPhases: after its first run, each job runs on its own phase
// of the interval, a stable hash of bot and window: a fleet's runs spread
// evenly over the interval, and the phases survive a restart.
func TestSchedulerPhases(t *testing.T) {
	t.Parallel()
	const interval = time.Minute
	const jobs = 2000
	var buckets [12]int // 5 s each
	for i := range jobs {
		p := phase(fmt.Sprintf("bot-%04d", i/2), []string{"1h", "24h"}[i%2], interval)
		if p < 0 || p >= interval || p != phase(fmt.Sprintf("bot-%04d", i/2), []string{"1h", "24h"}[i%2], interval) {
			t.Fatalf("phase %v out of [0, %v) or not stable", p, interval)
		}
		buckets[p/(5*time.Second)]++
	}
	for i, n := range buckets {
		if want := jobs / len(buckets); n < want*8/10 || n > want*12/10 {
			t.Errorf("phases in [%ds, %ds): %d of %d jobs, want about %d", i*5, i*5+5, n, jobs, want)
		}
	}
	t0 := time.Date(2026, 5, 1, 12, 0, 7, 0, time.UTC)
	for _, tt := range []struct {
		t      time.Time
		offset time.Duration
		want   time.Time
	}{
		{t0, 10 * time.Second, t0.Truncate(interval).Add(10 * time.Second)},
		{t0, 5 * time.Second, t0.Truncate(interval).Add(interval + 5*time.Second)},
		{t0, 7 * time.Second, t0},
	} {
		if got := onPhase(tt.t, interval, tt.offset); !got.Equal(tt.want) {
			t.Errorf("onPhase(%v, %v) = %v, want %v", tt.t, tt.offset, got, tt.want)
		}
	}
	synctest.Test(t, func(t *testing.T) {
		r := &fakeRunner{run: func(context.Context, int, kore.ReportRequest) (*kore.Report, error) { return rowsReport(), nil }}
		h := newHarness(t, map[string]*fakeRunner{"a": r})
		var at []time.Time
		r.run = func(context.Context, int, kore.ReportRequest) (*kore.Report, error) {
			at = append(at, time.Now())
			return rowsReport(), nil
		}
		h.runFor(t, &config.Config{Bots: []config.Bot{testBot("a", "1h")}, Limits: config.Limits{MaxConcurrentJobs: 1}}, 5*time.Minute)
		off := phase("a", "1h", time.Minute)
		for i, a := range at[1:] {
			if got := a.Sub(a.Truncate(time.Minute)); got != off {
				t.Errorf("run %d at %v: %v into its minute, want the phase %v", i+2, a, got, off)
			}
		}
		if len(at) < 5 || at[1].Sub(at[0]) < 30*time.Second {
			t.Errorf("runs at %v: want about one a minute, the second at least 30 s after the first", at)
		}
	})
}

func TestSchedulerGlobalConcurrencyLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := slowRunner(5 * time.Second)
		runners := map[string]*fakeRunner{}
		var bots []config.Bot
		for i := range 5 {
			name := fmt.Sprintf("b%d", i)
			runners[name] = r
			bots = append(bots, testBot(name, "1h", "24h"))
		}
		h := newHarness(t, runners)
		// 10 runs of 5 s through 3 slots take 20 s; no job runs again within
		// half an interval (30 s) of its first run.
		h.runFor(t, &config.Config{Bots: bots, Limits: config.Limits{MaxConcurrentJobs: 3}}, 25*time.Second)
		if got := r.count(); got != 10 {
			t.Errorf("runs = %d, want 10 (every job once)", got)
		}
		if m := r.maxSeen.Load(); m != 3 {
			t.Errorf("max jobs in flight = %d, want the limit 3", m)
		}
	})
}

func TestSchedulerStopCancelsRunningJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		started := make(chan struct{})
		r := &fakeRunner{run: func(ctx context.Context, _ int, _ kore.ReportRequest) (*kore.Report, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		}}
		h := newHarness(t, map[string]*fakeRunner{"a": r})
		err := h.sched.Apply(t.Context(), &config.Config{Bots: []config.Bot{testBot("a", "1h")}, Limits: config.Limits{MaxConcurrentJobs: 1}})
		if err != nil {
			t.Fatal(err)
		}
		<-started
		before := time.Now()
		h.sched.Stop() // returns only when the job's goroutines are gone
		if d := time.Since(before); d != 0 {
			t.Errorf("stop took %v of fake time, want immediate", d)
		}
		if n := testutil.CollectAndCount(h.metrics.success); n != 0 {
			t.Errorf("a cancelled run set report_success (%d series); it is not the job's fault", n)
		}
		if n := testutil.CollectAndCount(h.metrics.progress); n != 0 {
			t.Errorf("a cancelled run left %d progress series", n)
		}
	})
}

func TestSchedulerJobDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &fakeRunner{run: func(ctx context.Context, _ int, _ kore.ReportRequest) (*kore.Report, error) {
			<-ctx.Done()
			return nil, fmt.Errorf("poll: %w", ctx.Err())
		}}
		h := newHarness(t, map[string]*fakeRunner{"a": r})
		b := testBot("a", "1h")
		b.Timeout = 20 * time.Second
		h.runFor(t, &config.Config{Bots: []config.Bot{b}, Limits: config.Limits{MaxConcurrentJobs: 1}}, 30*time.Second)
		if got := testutil.ToFloat64(h.metrics.runs.WithLabelValues("a", "1h", report.ResultTimeout)); got != 1 {
			t.Errorf("runs_total{result=timeout} = %v, want 1", got)
		}
	})
}

func TestSchedulerRedactsSecretsInStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := testBot("a", "1h")
		canary := b.ClientSecret.Reveal()
		r := &fakeRunner{run: func(context.Context, int, kore.ReportRequest) (*kore.Report, error) {
			// A misbehaving server echoing the secret must not get it shown.
			return nil, &kore.APIError{StatusCode: 400, Message: "bad token " + canary}
		}}
		h := newHarness(t, map[string]*fakeRunner{"a": r})
		h.runFor(t, &config.Config{Bots: []config.Bot{b}, Limits: config.Limits{MaxConcurrentJobs: 1}}, 2*time.Second)
		st := h.sched.Status()
		if len(st) != 1 || st[0].LastError == "" {
			t.Fatalf("status = %+v, want an error", st)
		}
		if strings.Contains(st[0].LastError, canary) {
			t.Errorf("status shows the client secret: %q", st[0].LastError)
		}
	})
}

func TestSchedulerStartFailsOnBadClient(t *testing.T) {
	h := newHarness(t, map[string]*fakeRunner{})
	err := h.sched.Apply(t.Context(), &config.Config{Bots: []config.Bot{testBot("x", "1h")}})
	if err == nil || !strings.Contains(err.Error(), "bots[0] (x)") {
		t.Fatalf("err = %v, want one naming bots[0] (x)", err)
	}
}

func TestSchedulerReloadForgetsRemovedJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		row := kore.TaskRow{TaskName: "FAQ", TaskType: "faq", Status: "success", TotalSession: 1, SelfServiceSessions: 1, TotalExecution: 1}
		ok := func() *fakeRunner {
			return &fakeRunner{run: func(context.Context, int, kore.ReportRequest) (*kore.Report, error) { return rowsReport(row), nil }}
		}
		h := newHarness(t, map[string]*fakeRunner{"a": ok(), "b": ok()})
		first := &config.Config{Bots: []config.Bot{testBot("a", "1h", "24h"), testBot("b", "1h")}, Limits: config.Limits{MaxConcurrentJobs: 4}}
		if err := h.sched.Apply(t.Context(), first); err != nil {
			t.Fatal(err)
		}
		defer h.sched.Stop()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		h.metrics.Observer("b").RequestDone("st-b", kore.EndpointSubmit, 200, time.Second)

		// The new configuration drops bot b and a's 24h window.
		second := &config.Config{Bots: []config.Bot{testBot("a", "1h")}, Limits: config.Limits{MaxConcurrentJobs: 4}}
		if err := h.sched.Apply(t.Context(), second); err != nil {
			t.Fatal(err)
		}
		sn := h.store.Load()
		if len(sn.Rows("a", "1h")) != 1 || len(sn.Rows("a", "24h")) != 0 || len(sn.Rows("b", "1h")) != 0 {
			t.Errorf("store after reload: a/1h %d rows, a/24h %d, b/1h %d; want 1, 0, 0",
				len(sn.Rows("a", "1h")), len(sn.Rows("a", "24h")), len(sn.Rows("b", "1h")))
		}
		if n := testutil.CollectAndCount(h.metrics.success); n != 1 {
			t.Errorf("report_success series after reload = %d, want 1 (a/1h)", n)
		}
		if n := testutil.CollectAndCount(h.metrics.apiRequests); n != 0 {
			t.Errorf("api_requests_total keeps %d series of the removed bot", n)
		}
		if st := h.sched.Status(); len(st) != 1 || !st[0].Attempted || st[0].LastResult != report.ResultSuccess {
			t.Errorf("status after reload = %+v, want a/1h with its history", st)
		}
		if !h.sched.Ready() {
			t.Error("not ready after a reload that kept an attempted job")
		}
	})
}

// TestSchedulerJobScheduleMetrics: every job's interval and stale_after
// series exist as soon as Apply returns, before any run ends; a reload that
// changes a bot's interval and stale_after updates them, keeps those of an
// unchanged job, and removes those of the jobs it drops.
func TestSchedulerJobScheduleMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		blocked := func() *fakeRunner { // a run that never ends before its deadline
			return &fakeRunner{run: func(ctx context.Context, _ int, _ kore.ReportRequest) (*kore.Report, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			}}
		}
		h := newHarness(t, map[string]*fakeRunner{"a": blocked(), "b": blocked(), "c": blocked()})
		defer h.sched.Stop()
		// check compares the schedule series with want: job → interval
		// and stale_after in seconds.
		check := func(when string, want map[string][2]float64) {
			t.Helper()
			if n := testutil.CollectAndCount(h.metrics.interval); n != len(want) {
				t.Errorf("%s: %d report_interval_seconds series, want %d", when, n, len(want))
			}
			if n := testutil.CollectAndCount(h.metrics.staleAfter); n != len(want) {
				t.Errorf("%s: %d report_stale_after_seconds series, want %d", when, n, len(want))
			}
			for job, w := range want {
				bot, window, _ := strings.Cut(job, "/")
				if got := testutil.ToFloat64(h.metrics.interval.WithLabelValues(bot, window)); got != w[0] {
					t.Errorf("%s: report_interval_seconds of %s = %v, want %v", when, job, got, w[0])
				}
				if got := testutil.ToFloat64(h.metrics.staleAfter.WithLabelValues(bot, window)); got != w[1] {
					t.Errorf("%s: report_stale_after_seconds of %s = %v, want %v", when, job, got, w[1])
				}
			}
		}

		first := &config.Config{Bots: []config.Bot{testBot("a", "1h", "24h"), testBot("b", "1h"), testBot("c", "1h")},
			Limits: config.Limits{MaxConcurrentJobs: 4}}
		if err := h.sched.Apply(t.Context(), first); err != nil {
			t.Fatal(err)
		}
		// At once, before any run has started or ended.
		if n := testutil.CollectAndCount(h.metrics.success); n != 0 {
			t.Fatalf("%d report_success series before any run ended", n)
		}
		check("after Apply", map[string][2]float64{"a/1h": {60, 180}, "a/24h": {60, 180}, "b/1h": {60, 180}, "c/1h": {60, 180}})
		time.Sleep(2 * time.Second) // every job's run has started, none has ended
		synctest.Wait()
		if n := testutil.CollectAndCount(h.metrics.success); n != 0 {
			t.Fatalf("%d report_success series: a run ended", n)
		}
		check("while the first runs go", map[string][2]float64{"a/1h": {60, 180}, "a/24h": {60, 180}, "b/1h": {60, 180}, "c/1h": {60, 180}})

		// The reload changes a's interval and stale_after, drops a's 24h
		// window and bot b, and leaves c alone.
		a := testBot("a", "1h")
		a.Interval, a.StaleAfter = 2*time.Minute, 10*time.Minute
		second := &config.Config{Bots: []config.Bot{a, testBot("c", "1h")}, Limits: config.Limits{MaxConcurrentJobs: 4}}
		if err := h.sched.Apply(t.Context(), second); err != nil {
			t.Fatal(err)
		}
		check("after the reload", map[string][2]float64{"a/1h": {120, 600}, "c/1h": {60, 180}})

		// The same configuration again changes nothing.
		before := h.metrics.gen.Load()
		again := &config.Config{Bots: []config.Bot{a, testBot("c", "1h")}, Limits: config.Limits{MaxConcurrentJobs: 4}}
		if err := h.sched.Apply(t.Context(), again); err != nil {
			t.Fatal(err)
		}
		if h.metrics.gen.Load() != before {
			t.Error("an unchanged Apply re-published the per-job self-metrics")
		}
		check("after an unchanged reload", map[string][2]float64{"a/1h": {120, 600}, "c/1h": {60, 180}})
	})
}

func TestSchedulerSurvivesPanickingRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := testBot("a", "1h")
		r := &fakeRunner{run: func(context.Context, int, kore.ReportRequest) (*kore.Report, error) {
			panic("decoder bug")
		}}
		h := newHarness(t, map[string]*fakeRunner{"a": r})
		h.runFor(t, &config.Config{Bots: []config.Bot{b}, Limits: config.Limits{MaxConcurrentJobs: 1}}, 2*time.Minute+10*time.Second)
		if got := r.count(); got != 3 {
			t.Errorf("runs = %d, want 3: the job keeps its schedule after a panic", got)
		}
		if got := testutil.ToFloat64(h.metrics.runs.WithLabelValues("a", "1h", report.ResultError)); got != 3 {
			t.Errorf("runs_total{result=error} = %v, want 3", got)
		}
		if st := h.sched.Status(); len(st) != 1 || !strings.Contains(st[0].LastError, "decoder bug") {
			t.Errorf("status = %+v, want the panic as the last error", st)
		}
	})
}

// TestSchedulerCapsTaskRows: a report beyond the bot's max_task_rows is
// folded before it is published; the totals stay exact, the folded rows are
// counted and a warning is logged.
func TestSchedulerCapsTaskRows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rows []kore.TaskRow // 10 tasks × 2 statuses, task i with i+1 sessions
		for i := range 10 {
			for _, st := range []string{"success", "failtask"} {
				rows = append(rows, kore.TaskRow{TaskName: fmt.Sprintf("task %03d", i), TaskType: "dialog", Status: st,
					TotalExecution: int64(2 * (i + 1)), TotalSession: int64(i + 1)})
			}
		}
		want, _, err := report.ExportedRows(rows, 9)
		if err != nil {
			t.Fatal(err)
		}
		r := &fakeRunner{run: func(context.Context, int, kore.ReportRequest) (*kore.Report, error) {
			return &kore.Report{Rows: rows, Reruns: 1}, nil
		}}
		h := newHarness(t, map[string]*fakeRunner{"a": r})
		var logs bytes.Buffer
		h.sched.opts.Logger = log.NewLogfmtLogger(log.NewSyncWriter(&logs))
		b := testBot("a", "1h")
		b.MaxTaskRows, b.MaxReportRows = 9, 500
		h.runFor(t, &config.Config{Bots: []config.Bot{b}, Limits: config.Limits{MaxConcurrentJobs: 1}}, 2*time.Second)
		got := h.store.Load().Rows("a", "1h")
		if len(got) != 8 || !slices.Equal(got, want) {
			t.Fatalf("published %d rows %v, want the 8 rows of report.ExportedRows", len(got), got)
		}
		if v := testutil.ToFloat64(h.metrics.folded.WithLabelValues("a", "1h")); v != 14 {
			t.Errorf("report_folded_rows = %v, want 14", v)
		}
		if v := testutil.ToFloat64(h.metrics.reruns.WithLabelValues("a", "1h")); v != 1 {
			t.Errorf("report_reruns_total = %v, want 1", v)
		}
		if r.calls[0].MaxRows != 500 {
			t.Errorf("request MaxRows = %d, want max_report_rows 500", r.calls[0].MaxRows)
		}
		if n := strings.Count(logs.String(), "max_task_rows=9"); n != 1 || !strings.Contains(logs.String(), "level=warn") {
			t.Errorf("want one warning naming the cap, logs:\n%s", logs.String())
		}
	})
}

// TestSchedulerFailureLogSaysWhatIsServed: a job that never succeeded does
// not claim to serve last good data; one that did, does.
func TestSchedulerFailureLogSaysWhatIsServed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &fakeRunner{run: func(_ context.Context, n int, _ kore.ReportRequest) (*kore.Report, error) {
			if n == 2 {
				return rowsReport(), nil
			}
			return nil, &kore.APIError{Endpoint: kore.EndpointSubmit, StatusCode: 503}
		}}
		h := newHarness(t, map[string]*fakeRunner{"a": r})
		var logs bytes.Buffer
		h.sched.opts.Logger = log.NewLogfmtLogger(log.NewSyncWriter(&logs))
		h.runFor(t, &config.Config{Bots: []config.Bot{testBot("a", "1h")}, Limits: config.Limits{MaxConcurrentJobs: 1}}, 2*time.Minute+30*time.Second)
		lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
		var failures []string
		for _, l := range lines {
			if strings.Contains(l, "report run failed") {
				failures = append(failures, l)
			}
		}
		if len(failures) != 2 || !strings.Contains(failures[0], "no data for this window yet") ||
			!strings.Contains(failures[1], "serving the last good data") {
			t.Errorf("failure logs:\n%s", strings.Join(failures, "\n"))
		}
	})
}

// TestSchedulerApplyKeepsUnchangedJobs: applying the same configuration
// again builds no client and makes no report request; a changed bot
// restarts only its own jobs; a configuration whose client cannot be built
// changes nothing.
func TestSchedulerApplyKeepsUnchangedJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		runners := map[string]*fakeRunner{}
		for _, name := range []string{"a", "b"} {
			runners[name] = &fakeRunner{run: func(context.Context, int, kore.ReportRequest) (*kore.Report, error) { return rowsReport(), nil }}
		}
		var built []string
		m := NewMetrics()
		s := NewScheduler(SchedulerOpts{Store: NewStore(), Metrics: m, MaxStartSpread: time.Second,
			NewClient: func(b config.Bot, _ *kore.Budgets, _ kore.Observer) (report.Runner, error) {
				if b.Host == "https://broken.example" {
					return nil, errors.New("cannot build")
				}
				built = append(built, b.Name)
				return runners[b.Name], nil
			}})
		defer s.Stop()
		cfg := func() *config.Config { // a fresh copy each time, as a reload loads it
			return &config.Config{Bots: []config.Bot{testBot("a", "1h", "24h"), testBot("b", "1h")}, Limits: config.Limits{MaxConcurrentJobs: 4}}
		}
		if err := s.Apply(t.Context(), cfg()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Second) // every job ran once (interval 1m)
		synctest.Wait()
		calls := map[string]int{"a": runners["a"].count(), "b": runners["b"].count()}
		next := map[string]time.Time{}
		for _, st := range s.Status() {
			next[st.Bot+"/"+st.Window] = st.NextRun
		}
		if calls["a"] != 2 || calls["b"] != 1 || !slices.Equal(built, []string{"a", "b"}) {
			t.Fatalf("after the first Apply: calls %v, clients built %v", calls, built)
		}

		// The same configuration again: nothing is built, run or moved.
		if err := s.Apply(t.Context(), cfg()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if runners["a"].count() != 2 || runners["b"].count() != 1 || len(built) != 2 {
			t.Errorf("an unchanged Apply ran reports or built clients: calls a %d b %d, built %v", runners["a"].count(), runners["b"].count(), built)
		}
		for _, st := range s.Status() {
			if st.NextRun != next[st.Bot+"/"+st.Window] {
				t.Errorf("%s/%s: next run moved from %v to %v", st.Bot, st.Window, next[st.Bot+"/"+st.Window], st.NextRun)
			}
		}

		// More job slots: resized in place; nothing is built, run or moved.
		more := cfg()
		more.Limits.MaxConcurrentJobs = 40
		if err := s.Apply(t.Context(), more); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if runners["a"].count() != 2 || len(built) != 2 || s.slots.limit != 40 {
			t.Errorf("a new max_concurrent_jobs restarted jobs or kept the old size: calls a %d, built %v, slots %d", runners["a"].count(), built, s.slots.limit)
		}
		for _, st := range s.Status() {
			if st.NextRun != next[st.Bot+"/"+st.Window] {
				t.Errorf("a new max_concurrent_jobs moved %s/%s's next run from %v to %v", st.Bot, st.Window, next[st.Bot+"/"+st.Window], st.NextRun)
			}
		}

		// A bot whose client cannot be built: an error, and nothing changes.
		bad := cfg()
		bad.Bots[1].Host = "https://broken.example"
		bad.Bots[0].Interval = 2 * time.Minute
		if err := s.Apply(t.Context(), bad); err == nil || !strings.Contains(err.Error(), "bots[1] (b)") {
			t.Fatalf("Apply with a broken bot: err = %v", err)
		}
		synctest.Wait()
		if runners["a"].count() != 2 {
			t.Errorf("a failed Apply ran reports: calls a %d", runners["a"].count())
		}
		for _, st := range s.Status() {
			if st.Interval != time.Minute || st.NextRun != next[st.Bot+"/"+st.Window] {
				t.Errorf("a failed Apply changed %s/%s: interval %v, next run %v", st.Bot, st.Window, st.Interval, st.NextRun)
			}
		}
		built = built[:0]

		// Bot b's filters change: only b's job restarts (and runs soon);
		// a's jobs keep their schedule.
		changed := cfg()
		changed.Bots[1].Filters.ConversationType = "Interactive"
		if err := s.Apply(t.Context(), changed); err != nil {
			t.Fatal(err)
		}
		time.Sleep(7 * time.Second) // within b's new start spread, before a's next runs
		synctest.Wait()
		if runners["a"].count() != 2 || runners["b"].count() != 2 || !slices.Equal(built, []string{"b"}) {
			t.Errorf("after changing b: calls a %d b %d, built %v; want a 2, b 2, built only b", runners["a"].count(), runners["b"].count(), built)
		}
	})
}
