package deploy_test

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// The alert-quality simulation: kore_exporter's series as Prometheus
// scrapes them from simulated Poisson traffic, evaluated with the shipped
// rule files by Prometheus' own rule engine (ruleEngine).
//
// Traffic arrives in 5-minute bins: each bin's sessions are Poisson with
// mean rate/12; each session drops off with probability p, else is handed
// to an agent with probability simAgentTransfer, else ends self-service.
// Every 5 minutes (the exporter's default report interval) the exporter
// publishes, per bot, window and task, the counts over the window ending
// then: the 1h window is the sum of the last 12 bins, the 24h window of the
// last 288. A window without sessions has no row, so its series go absent
// (the scrape writes staleness markers). Beside them it exposes the
// self-metrics of a healthy exporter. Prometheus scrapes every minute.
//
// The rules are evaluated every 5 minutes, at the publishes, not every
// minute as their groups ask: every minute takes five times as long, and
// changes nothing here.
// Every series changes only at a publish (the scrapes in between repeat
// it), and every `for` and `keep_firing_for` of the shipped rules is a
// multiple of 5 minutes, so an alert goes pending, fires and resolves at
// the same publishes either way; TestAlertQualitySmoke checks that the
// alerts are the same. What a 5-minute evaluation needs: the groups are
// evaluated in dependency order at the same instant (ruleEngine), so an
// alert reads the series recorded at that instant (a server's concurrent
// groups read them up to a minute old; a 5-minute-old sample would be out
// of the lookback delta). A rule whose `for` is not a multiple of 5
// minutes would be measured rounded up to one.
//
// History: every run scrapes 8 days of steady traffic before its measured
// span, enough for the rules' 1-week baselines. The rules are evaluated
// from ruleEngine.warmup (plus an hour) before it; earlier, the raw series
// are only scraped, as history imported with `kore_exporter backfill` is.
// Samples older than the rules read (ruleEngine.reach, plus an hour) are
// dropped once a simulated day, which keeps a query's cost from growing
// over the 38 simulated days and changes no result.
const (
	simStep          = time.Minute     // scrape interval
	simEval          = 5 * time.Minute // rule evaluation interval
	simPublish       = 5 * time.Minute // the exporter's report interval
	simAgentTransfer = 0.10            // agent transfers among the sessions that did not drop off
	simBins1h        = 12              // 5-minute bins in the 1h window
	simBins24h       = 288             // 5-minute bins in the 24h window
	simWarmup        = 8 * 24 * time.Hour
	simFalseSpan     = 30 * 24 * time.Hour // measured span of a false-alert run
	simDetectHorizon = 12 * time.Hour      // how long a detection run watches a task after its step
	simDetectWithin  = 2 * time.Hour
	simTaskName      = "CheckBalance"
	simInstance      = "sim:10027"
)

// simStart is the first simulated instant: a Monday, 00:00 UTC.
var simStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// simTargetLabels are the labels the scrape adds to every series.
var simTargetLabels = []string{"job", "kore_exporter", "instance", simInstance, "namespace", "kore"}

// Outcome indices of a bin's or a window's counts.
const (
	outSessions = iota
	outSelfService
	outDropOff
	outAgentTransfer
	numOutcomes
)

// simTaskSpec is one simulated task, alone in its own bot.
type simTaskSpec struct {
	bot     string
	rate    float64   // sessions per hour
	dropOff float64   // drop-off probability of a session
	step    time.Time // if set, the bins from step on have drop-off after
	after   float64
}

// simScenario is one simulation: tasks sharing one Prometheus (one
// ruleEngine), simulated from simStart to end; firing episodes count from
// measureFrom.
type simScenario struct {
	name        string
	seed        uint64
	tasks       []simTaskSpec
	measureFrom time.Time
	end         time.Time
	ruleFiles   []string
	evalEvery   time.Duration // rule evaluation interval; 0 for simEval
	spread      time.Duration // of the steps of a detection scenario

	// Filled in by run.
	evalFrom       time.Time
	reach          time.Duration // ruleEngine.reach
	evals          int
	appended       int // raw samples
	elapsed        time.Duration
	episodes       []simEpisode
	recordedSeries int // series with a colon in their name at the last evaluation
}

// simEpisode is one firing episode: an alert's transition to firing.
type simEpisode struct {
	at       time.Time // FiredAt
	name     string    // alertname
	bot      string    // the bot label, "" for an alert without one
	severity string
}

// String renders ep as its time, alertname, bot and severity.
func (ep simEpisode) String() string {
	return fmt.Sprintf("%s %s{bot=%q,severity=%q}", ep.at.UTC().Format(time.RFC3339), ep.name, ep.bot, ep.severity)
}

// simTask is a task's state: its bins and the series it exposes.
type simTask struct {
	spec   simTaskSpec
	bins   [simBins24h][numOutcomes]int
	next   int // index of the next bin to write in bins
	sum1h  [numOutcomes]int
	sum24h [numOutcomes]int
	shown  [2]bool // whether the window's rows were exposed at the last scrape

	lastPublish time.Time
	publishes   int

	// Series labels, built once.
	task        [2][5]labels.Labels // by window (1h, 24h), then taskMetrics
	job         [2][5]labels.Labels // by window, then jobMetrics
	runsTotal   [2]labels.Labels    // by window
	botInfo     labels.Labels
	apiRequests labels.Labels
}

// simWindows are the exporter's windows, as configured with
// `windows: [1h, 24h]`.
var simWindows = [2]string{"1h", "24h"}

// taskMetrics are the per-task families, and the outcome each counts.
var taskMetrics = [5]struct {
	name    string
	outcome int
}{
	{"kore_task_sessions", outSessions},
	{"kore_task_executions", outSessions},
	{"kore_task_self_service_sessions", outSelfService},
	{"kore_task_drop_off_sessions", outDropOff},
	{"kore_task_agent_transfer_sessions", outAgentTransfer},
}

// jobMetrics are the per-job (bot × window) gauges of a healthy exporter.
// The first one's value is the time of the last publish, not value.
var jobMetrics = [5]struct {
	name  string
	value float64
}{
	{"kore_exporter_report_last_success_timestamp_seconds", 0},
	{"kore_exporter_report_success", 1},
	{"kore_exporter_report_interval_seconds", simPublish.Seconds()},
	{"kore_exporter_report_stale_after_seconds", 900},
	{"kore_exporter_report_rows", 1},
}

// simSeriesLabels returns the labels of a series the scrape of the simulated
// exporter returns: the target's labels and kv.
func simSeriesLabels(kv ...string) labels.Labels {
	return labels.FromStrings(append(slices.Clone(simTargetLabels), kv...)...)
}

// newSimTask builds the series of spec's task and fills its 24 hours of
// bins before simStart, so its windows are full from the first scrape.
func newSimTask(spec simTaskSpec, rng *rand.Rand) *simTask {
	s := &simTask{spec: spec}
	for w, window := range simWindows {
		for m, tm := range taskMetrics {
			s.task[w][m] = simSeriesLabels("__name__", tm.name, "bot", spec.bot, "window", window,
				"task_name", simTaskName, "task_type", "dialog", "status", "success")
		}
		for m, jm := range jobMetrics {
			s.job[w][m] = simSeriesLabels("__name__", jm.name, "bot", spec.bot, "window", window)
		}
		s.runsTotal[w] = simSeriesLabels("__name__", "kore_exporter_report_runs_total", "bot", spec.bot, "window", window, "result", "success")
	}
	s.botInfo = simSeriesLabels("__name__", "kore_bot_info", "bot", spec.bot, "bot_id", "st-"+spec.bot, "host", "bots.kore.ai")
	s.apiRequests = simSeriesLabels("__name__", "kore_exporter_api_requests_total", "bot", spec.bot, "endpoint", "submit", "code", "200")
	for k := simBins24h; k > 0; k-- {
		s.addBin(simStart.Add(-time.Duration(k)*simPublish), rng)
	}
	return s
}

// addBin draws the bin of the 5 minutes from from on and rolls the
// windows on.
func (s *simTask) addBin(from time.Time, rng *rand.Rand) {
	p := s.spec.dropOff
	if !s.spec.step.IsZero() && !from.Before(s.spec.step) {
		p = s.spec.after
	}
	var c [numOutcomes]int
	c[outSessions] = poisson(rng, s.spec.rate/simBins1h)
	for range c[outSessions] {
		switch u := rng.Float64(); {
		case u < p:
			c[outDropOff]++
		case u < p+(1-p)*simAgentTransfer:
			c[outAgentTransfer]++
		default:
			c[outSelfService]++
		}
	}
	i := s.next
	old24, old1 := s.bins[i], s.bins[(i-simBins1h+simBins24h)%simBins24h]
	for o := range numOutcomes {
		s.sum24h[o] += c[o] - old24[o]
		s.sum1h[o] += c[o] - old1[o]
	}
	s.bins[i] = c
	s.next = (i + 1) % simBins24h
}

// publish runs the exporter's report at t: the bin that ended at t joins
// the windows.
func (s *simTask) publish(t time.Time, rng *rand.Rand) {
	s.addBin(t.Add(-simPublish), rng)
	s.lastPublish = t
	s.publishes++
}

// scrape appends the series s exposes at t, and staleness markers for the
// rows of a window that has no sessions any more; it returns how many
// samples it appended.
func (s *simTask) scrape(e *ruleEngine, t time.Time) int {
	n := 0
	for w := range simWindows {
		sums := &s.sum1h
		if w == 1 {
			sums = &s.sum24h
		}
		switch {
		case sums[outSessions] > 0:
			for m, tm := range taskMetrics {
				e.add(t, s.task[w][m], float64(sums[tm.outcome]))
			}
			s.shown[w] = true
			n += len(taskMetrics)
		case s.shown[w]:
			for m := range taskMetrics {
				e.stale(t, s.task[w][m])
			}
			s.shown[w] = false
			n += len(taskMetrics)
		}
		for m, jm := range jobMetrics {
			v := jm.value
			if m == 0 {
				v = float64(s.lastPublish.Unix())
			}
			e.add(t, s.job[w][m], v)
		}
		e.add(t, s.runsTotal[w], float64(s.publishes))
		n += len(jobMetrics) + 1
	}
	e.add(t, s.botInfo, 1)
	e.add(t, s.apiRequests, float64(3*s.publishes)) // a submit and two polls per report
	return n + 2
}

// poisson draws a Poisson variate of mean lambda (Knuth's method; lambda
// is small).
func poisson(rng *rand.Rand, lambda float64) int {
	limit, k, p := math.Exp(-lambda), 0, rng.Float64()
	for p > limit {
		k++
		p *= rng.Float64()
	}
	return k
}

// run simulates sc on e. It fails e's tb on a rule error.
func (sc *simScenario) run(e *ruleEngine) {
	began := time.Now()
	rng := rand.New(rand.NewPCG(sc.seed, 0x6b6f7265))
	tasks := make([]*simTask, len(sc.tasks))
	for i, spec := range sc.tasks {
		tasks[i] = newSimTask(spec, rng)
	}
	up := simSeriesLabels("__name__", "up")
	reload := simSeriesLabels("__name__", "kore_exporter_config_last_reload_successful")
	sc.evalFrom = sc.measureFrom.Add(-e.warmup() - time.Hour)
	every := sc.evalEvery
	if every == 0 {
		every = simEval
	}

	sc.reach = e.reach()
	retention := sc.reach + time.Hour
	var last time.Time
	for t := simStart; t.Before(sc.end); t = t.Add(simStep) {
		if t.Sub(simStart)%(24*time.Hour) == 0 && t.Sub(simStart) > retention {
			e.forget(t.Add(-retention))
		}
		if t.Sub(simStart)%simPublish == 0 {
			for _, s := range tasks {
				s.publish(t, rng)
			}
		}
		for _, s := range tasks {
			sc.appended += s.scrape(e, t)
		}
		e.add(t, up, 1)
		e.add(t, reload, 1)
		sc.appended += 2
		if t.Before(sc.evalFrom) || t.Sub(simStart)%every != 0 {
			continue
		}
		e.eval(t)
		sc.evals++
		last = t
		if t.Before(sc.measureFrom) {
			continue
		}
		for _, a := range e.firedAt(t) {
			sc.episodes = append(sc.episodes, simEpisode{
				at: a.FiredAt, name: a.Name, bot: a.Labels.Get("bot"), severity: a.Labels.Get("severity"),
			})
		}
	}
	sc.recordedSeries = len(e.query(last, `{__name__=~".+:.+"}`))
	sc.elapsed = time.Since(began)
}

// workerTB is the testing.TB of a simulation run on a goroutine of its
// own: Fatal reports the error on the test or benchmark and ends the
// goroutine only (FailNow may only end the test's own goroutine), and the
// Cleanup functions run when the run ends, which frees its storage early.
type workerTB struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
}

// Cleanup registers f to run when the worker's run ends.
func (w *workerTB) Cleanup(f func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cleanups = append(w.cleanups, f)
}

// Fatalf reports the failure and ends the worker's goroutine.
func (w *workerTB) Fatalf(format string, args ...any) {
	w.TB.Helper()
	w.TB.Errorf(format, args...)
	runtime.Goexit()
}

// Fatal reports the failure and ends the worker's goroutine.
func (w *workerTB) Fatal(args ...any) {
	w.TB.Helper()
	w.TB.Error(args...)
	runtime.Goexit()
}

// FailNow marks the run failed and ends the worker's goroutine.
func (w *workerTB) FailNow() {
	w.TB.Fail()
	runtime.Goexit()
}

// runScenarios runs the scenarios, GOMAXPROCS at a time in the order
// given, each on its own goroutine with its own storage, and fails tb if
// one failed.
func runScenarios(tb testing.TB, scenarios []*simScenario) {
	tb.Helper()
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for _, sc := range scenarios {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			w := &workerTB{TB: tb}
			defer func() {
				for i := len(w.cleanups) - 1; i >= 0; i-- {
					w.cleanups[i]()
				}
			}()
			sc.run(newRuleEngine(w, sc.ruleFiles...))
		}()
	}
	wg.Wait()
	if tb.Failed() {
		tb.FailNow()
	}
}

// alertQualityRuleFiles returns the rule files the simulation evaluates:
// the *.yml files of $KORE_RULES_DIR, or else of prometheus/rules.
func alertQualityRuleFiles(tb testing.TB) (dir string, files []string) {
	tb.Helper()
	dir = os.Getenv("KORE_RULES_DIR")
	if dir == "" {
		dir = rulesDir
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(files) == 0 {
		tb.Fatalf("no *.yml rule files in %s", dir)
	}
	slices.Sort(files)
	return dir, files
}

// falseAlertConfig is one steady-traffic configuration of the false-alert
// measurement.
type falseAlertConfig struct {
	rate    float64 // sessions per hour
	dropOff float64
}

// detectionConfig is one step-change configuration of the detection
// measurement.
type detectionConfig struct {
	rate          float64 // sessions per hour
	before, after float64 // drop-off
}

// falseAlertScenario returns the steady-traffic scenario of c: tasks
// tasks, each in its own bot, measured for span after simWarmup.
func falseAlertScenario(id int, c falseAlertConfig, tasks int, span time.Duration, files []string) *simScenario {
	sc := &simScenario{
		name:        fmt.Sprintf("false-%d", id),
		seed:        uint64(1000 + id),
		measureFrom: simStart.Add(simWarmup),
		end:         simStart.Add(simWarmup + span),
		ruleFiles:   files,
	}
	for i := range tasks {
		sc.tasks = append(sc.tasks, simTaskSpec{
			bot: fmt.Sprintf("steady%d-%02d", id, i), rate: c.rate, dropOff: c.dropOff,
		})
	}
	return sc
}

// detectionScenario returns the step-change scenario of c: tasks tasks,
// each in its own bot, whose drop-off steps from c.before to c.after at
// instants spread evenly over spread (on 5-minute boundaries) from an hour
// after simWarmup on, watched for simDetectHorizon after the last step.
func detectionScenario(id int, c detectionConfig, tasks int, spread time.Duration, files []string) *simScenario {
	first := simStart.Add(simWarmup + time.Hour)
	sc := &simScenario{
		name:        fmt.Sprintf("detect-%d", id),
		seed:        uint64(2000 + id),
		measureFrom: first,
		ruleFiles:   files,
		spread:      spread,
	}
	var last time.Time
	for i := range tasks {
		last = first.Add((spread / time.Duration(tasks) * time.Duration(i)).Truncate(simPublish))
		sc.tasks = append(sc.tasks, simTaskSpec{
			bot: fmt.Sprintf("step%d-%02d", id, i), rate: c.rate, dropOff: c.before, step: last, after: c.after,
		})
	}
	sc.end = last.Add(simDetectHorizon + simStep)
	return sc
}

// notDetected is the delay of a step no alert followed within
// simDetectHorizon.
const notDetected = time.Duration(math.MaxInt64)

// detectionDelays returns, per task of sc, sorted, the time from its step
// to the first alert named KoreTaskDropOff* for its bot that went firing
// at or after the step, or notDetected if none did within
// simDetectHorizon; and how many tasks each alertname detected first.
func detectionDelays(sc *simScenario) ([]time.Duration, map[string]int) {
	type first struct {
		at   time.Time
		name string
	}
	step := map[string]time.Time{}
	for _, spec := range sc.tasks {
		step[spec.bot] = spec.step
	}
	firsts := map[string]first{}
	for _, ep := range sc.episodes {
		s, ok := step[ep.bot]
		if !ok || !strings.HasPrefix(ep.name, "KoreTaskDropOff") || ep.at.Before(s) || ep.at.Sub(s) > simDetectHorizon {
			continue
		}
		if f, ok := firsts[ep.bot]; !ok || ep.at.Before(f.at) {
			firsts[ep.bot] = first{ep.at, ep.name}
		}
	}
	var delays []time.Duration
	by := map[string]int{}
	for _, spec := range sc.tasks {
		f, ok := firsts[spec.bot]
		if !ok {
			delays = append(delays, notDetected)
			continue
		}
		delays = append(delays, f.at.Sub(spec.step))
		by[f.name]++
	}
	slices.Sort(delays)
	return delays, by
}

// median returns the median of sorted ds, and false if it is notDetected.
func median(ds []time.Duration) (time.Duration, bool) {
	n := len(ds)
	if n == 0 {
		return 0, false
	}
	lo, hi := ds[(n-1)/2], ds[n/2]
	if hi == notDetected {
		return 0, false
	}
	return lo + (hi-lo)/2, true
}

// share returns the share of ds at most limit.
func share(ds []time.Duration, limit time.Duration) float64 {
	n := 0
	for _, d := range ds {
		if d <= limit {
			n++
		}
	}
	return float64(n) / float64(len(ds))
}

// episodeCounts returns the firing episodes of sc that carry the bot
// label of one of its tasks, all and critical ones, and per alertname; and
// how many episodes carried no such label (pipeline alerts).
func episodeCounts(sc *simScenario) (total, critical int, byName map[string]int, unlabelled int) {
	bots := map[string]bool{}
	for _, spec := range sc.tasks {
		bots[spec.bot] = true
	}
	byName = map[string]int{}
	for _, ep := range sc.episodes {
		if !bots[ep.bot] {
			unlabelled++
			continue
		}
		total++
		if ep.severity == "critical" {
			critical++
		}
		byName[ep.name]++
	}
	return total, critical, byName, unlabelled
}

// countsString renders counts by name as "name n, name n", most first,
// or "–".
func countsString(counts map[string]int) string {
	names := slices.Collect(maps.Keys(counts))
	slices.SortFunc(names, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s %d", k, counts[k])
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, ", ")
}

// The benchmark's measurements.
const (
	falseAlertTasks = 20 // tasks (bots) per false-alert configuration
	detectionTasks  = 36 // tasks (bots) per detection configuration: a step every 40 minutes
)

var (
	falseAlertConfigs = []falseAlertConfig{
		{30, 0.15}, {30, 0.30}, {60, 0.15}, {60, 0.30}, {120, 0.15}, {120, 0.30},
	}
	detectionConfigs = []detectionConfig{
		{30, 0.10, 0.40}, {60, 0.30, 0.60},
	}
)

// BenchmarkAlertQuality measures the shipped rules (or those of
// $KORE_RULES_DIR) on simulated traffic and prints a markdown table: false
// alerts per task per 30 days of steady traffic, and how soon a drop-off
// step is alerted on. Run it once:
//
//	cd deploy && go test -run '^$' -bench AlertQuality -benchtime 1x .
//
// Each of the 6 false-alert configurations simulates falseAlertTasks
// tasks for 8 days of history and 30 measured days; each of the 2
// detection configurations detectionTasks tasks for 8 days of history and
// a day and a half of steps. Each configuration has its own storage; they
// run GOMAXPROCS at a time.
func BenchmarkAlertQuality(b *testing.B) {
	dir, files := alertQualityRuleFiles(b)
	// The runs allocate query results by the million; a larger heap
	// target saves about a sixth of the time.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	for b.Loop() {
		began := time.Now()
		var falseRuns, detectRuns []*simScenario
		for i, c := range falseAlertConfigs {
			falseRuns = append(falseRuns, falseAlertScenario(i, c, falseAlertTasks, simFalseSpan, files))
		}
		for i, c := range detectionConfigs {
			detectRuns = append(detectRuns, detectionScenario(i, c, detectionTasks, 24*time.Hour, files))
		}
		runScenarios(b, append(slices.Clone(falseRuns), detectRuns...)) // the long runs first
		report := alertQualityReport(dir, falseRuns, detectRuns, time.Since(began))
		b.Log("\n" + report)
		fmt.Println(report)
	}
}

// alertQualityReport renders the results as markdown.
func alertQualityReport(dir string, falseRuns, detectRuns []*simScenario, took time.Duration) string {
	var sb strings.Builder
	first := falseRuns[0]
	fmt.Fprintf(&sb, "Alert quality of the rules in %s: Prometheus' rule engine on simulated Poisson traffic, the exporter reporting every %s, scraped every %s, the rules evaluated every %s from %s before each measured span on %s of history (the rules read up to %s back); agent transfer %.0f %% of the sessions that do not drop off.\n\n",
		dir, span(simPublish), span(simStep), span(simEval), span(first.measureFrom.Sub(first.evalFrom)), days(simWarmup), span(first.reach), simAgentTransfer*100)
	if first.reach > simWarmup {
		fmt.Fprintf(&sb, "WARNING: the rules read further back than the %s of history; the first days measured lack some of it.\n\n", days(simWarmup))
	}

	fmt.Fprintf(&sb, "False alerts per task per 30 days of steady traffic (%d tasks per row, each in its own bot, %s measured; an alert is a firing episode of an alertname and label set that carries the task's bot):\n\n",
		len(first.tasks), days(first.end.Sub(first.measureFrom)))
	sb.WriteString("| sessions/h | drop-off | any alert | critical | firing episodes by alert |\n")
	sb.WriteString("|-----------:|---------:|----------:|---------:|--------------------------|\n")
	unlabelled := 0
	for _, sc := range falseRuns {
		c := sc.tasks[0]
		total, critical, byName, u := episodeCounts(sc)
		unlabelled += u
		taskMonths := float64(len(sc.tasks)) * float64(sc.end.Sub(sc.measureFrom)) / float64(simFalseSpan)
		fmt.Fprintf(&sb, "| %.0f | %.0f %% | %.2f | %.2f | %s |\n",
			c.rate, c.dropOff*100, float64(total)/taskMonths, float64(critical)/taskMonths, countsString(byName))
	}

	fmt.Fprintf(&sb, "\nDetection of a drop-off step (%d tasks per row, each in its own bot, the steps spread over %s; time from the step to the first KoreTaskDropOff* alert of the task going firing, watched for %s):\n\n",
		len(detectRuns[0].tasks), span(detectRuns[0].spread), hours(simDetectHorizon))
	sb.WriteString("| step | sessions/h | median time to alert | detected ≤ 2 h | detected ≤ 12 h | first alert |\n")
	sb.WriteString("|------|-----------:|---------------------:|---------------:|----------------:|-------------|\n")
	for _, sc := range detectRuns {
		c := sc.tasks[0]
		ds, by := detectionDelays(sc)
		med := "> " + hours(simDetectHorizon)
		if m, ok := median(ds); ok {
			med = fmt.Sprintf("%.0f min", m.Minutes())
		}
		_, _, _, u := episodeCounts(sc)
		unlabelled += u
		fmt.Fprintf(&sb, "| %.0f %% → %.0f %% | %.0f | %s | %.0f %% | %.0f %% | %s |\n",
			c.dropOff*100, c.after*100, c.rate, med, share(ds, simDetectWithin)*100, share(ds, simDetectHorizon)*100, countsString(by))
	}

	var evals, appended int
	var busy time.Duration
	for _, sc := range append(slices.Clone(falseRuns), detectRuns...) {
		evals += sc.evals
		appended += sc.appended
		busy += sc.elapsed
	}
	fmt.Fprintf(&sb, "\nAlerts without a simulated task's bot label (pipeline alerts) in the measured spans: %d. %d evaluations of every group, %d raw samples; took %s (the runs %s, %d at a time).\n",
		unlabelled, evals, appended, took.Round(time.Second), busy.Round(time.Second), runtime.GOMAXPROCS(0))
	return sb.String()
}

// days renders d in days.
func days(d time.Duration) string { return fmt.Sprintf("%g days", d.Hours()/24) }

// span renders d in days, hours and minutes: "7 d 1 h 5 min".
func span(d time.Duration) string {
	var parts []string
	for _, u := range []struct {
		unit string
		d    time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"min", time.Minute}} {
		if n := d / u.d; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, u.unit))
			d -= n * u.d
		}
	}
	if len(parts) == 0 {
		return "0 min"
	}
	return strings.Join(parts, " ")
}

// hours renders d in hours.
func hours(d time.Duration) string { return fmt.Sprintf("%g h", d.Hours()) }

// TestAlertQualitySmoke runs a small alert-quality simulation on the
// shipped rules (or those of $KORE_RULES_DIR), so that a broken benchmark
// fails CI: 8 days of history, then a few steady tasks for 6 hours and a
// few tasks whose drop-off jumps from 10 % to 60 % at 120 sessions/h. The
// rules must evaluate without an error and record series, and a
// KoreTaskDropOff* alert must fire for a stepped task. The stepped tasks
// are simulated again with the rules evaluated every minute: the alerts
// must be the same as with the benchmark's 5-minute evaluation.
func TestAlertQualitySmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 8 days of series (-short)")
	}
	dir, files := alertQualityRuleFiles(t)
	steady := falseAlertScenario(0, falseAlertConfig{60, 0.15}, 3, 6*time.Hour, files)
	step := detectionScenario(0, detectionConfig{120, 0.10, 0.60}, 3, time.Hour, files)
	stepEveryMinute := detectionScenario(0, detectionConfig{120, 0.10, 0.60}, 3, time.Hour, files)
	stepEveryMinute.evalEvery = time.Minute
	stepEveryMinute.end = stepEveryMinute.measureFrom.Add(4 * time.Hour)
	runScenarios(t, []*simScenario{steady, step, stepEveryMinute})

	var every5 []simEpisode
	for _, ep := range step.episodes {
		if ep.at.Before(stepEveryMinute.end) {
			every5 = append(every5, ep)
		}
	}
	if len(every5) == 0 {
		t.Errorf("no alert in the first 4 hours of the steps")
	}
	if a, b := fmt.Sprint(every5), fmt.Sprint(stepEveryMinute.episodes); a != b {
		t.Errorf("alerts with the rules evaluated every %s:\n%s\nevery minute:\n%s", simEval, a, b)
	}

	for _, sc := range []*simScenario{steady, step} {
		if sc.evals == 0 || sc.appended == 0 {
			t.Errorf("%s: %d evaluations, %d samples", sc.name, sc.evals, sc.appended)
		}
		if sc.recordedSeries == 0 {
			t.Errorf("%s: the rules of %s recorded no series", sc.name, dir)
		}
		for _, ep := range sc.episodes {
			t.Logf("%s: %s", sc.name, ep)
		}
	}
	t.Log("\n" + alertQualityReport(dir, []*simScenario{steady}, []*simScenario{step}, 0))
	ds, _ := detectionDelays(step)
	if ds[0] == notDetected {
		t.Errorf("no KoreTaskDropOff* alert fired within %s for the %d tasks whose drop-off stepped 10 %% → 60 %% at 120 sessions/h",
			hours(simDetectHorizon), len(step.tasks))
	}
	t.Logf("detection delays: %v", ds)
}
