package collector

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/expfmt"

	"github.com/kore-exporter/kore_exporter/collector/internal/expo"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

// namespace prefixes every self-metric.
const namespace = "kore_exporter"

// apiDurationBuckets suit Kore.ai calls: 10ms for a quick status poll up to
// the minute a page download may take.
var apiDurationBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Metrics are the exporter's self-metrics: report runs per bot × window,
// Kore.ai API calls, config reloads, shard, job slots and build info.
// Methods are safe for concurrent use.
//
// They are plain client_golang counters, gauges and a histogram, and none
// is gathered at scrape time: every change bumps a generation, and the
// first scrape that finds its cached block older than the generation
// gathers them all from the Metrics' registry and encodes them with expfmt
// into one block (per format), which every scrape until the next change
// serves, and compresses once (docs/performance.md). A job's series change
// together: each method changing them holds mu, and so does a rebuild
// while it gathers, so a block never holds half of a run's outcome. Metrics is itself the
// prometheus.Collector of all of them.
type Metrics struct {
	mu  sync.Mutex           // held by the changes of job series, and by a rebuild's Gather
	reg *prometheus.Registry // of the Metrics itself

	gen     atomic.Uint64 // bumped after every change
	rebuild sync.Mutex    // serialises rebuilds; readers of a fresh block never take it
	cur     [expo.NumFormats]atomic.Pointer[selfBlock]

	all   []prometheus.Collector
	names []string // of the families

	// Per job (bot, window).
	success, lastSuccess, duration, rows, folded, requests, interval, staleAfter, progress *prometheus.GaugeVec
	runs, skipped, reruns                                                                  *prometheus.CounterVec

	apiRequests *prometheus.CounterVec
	apiDuration *prometheus.HistogramVec
	apiRetries  *prometheus.CounterVec

	configSuccess, configLastSuccess prometheus.Gauge
	shardIndex, shardCount           prometheus.Gauge
	jobSlots, jobsWaiting            prometheus.Gauge
	slots, waiting                   int // what jobSlots and jobsWaiting hold; guarded by mu

	schedules map[[2]string][2]float64 // interval and stale_after by bot, window; guarded by mu
}

// selfBlock is the exposition of the Metrics in one format at one
// generation.
type selfBlock struct {
	gen uint64
	b   *expo.Body
}

// NewMetrics creates the self-metrics. The /metrics handler serves them
// given HandlerOpts.Metrics; to gather them through a registry, register
// the Metrics itself.
func NewMetrics() *Metrics {
	m := &Metrics{schedules: map[[2]string][2]float64{}}
	add := func(c prometheus.Collector, name string) {
		m.all = append(m.all, c)
		m.names = append(m.names, namespace+"_"+name)
	}
	gaugeVec := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
		add(v, name)
		return v
	}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
		add(v, name)
		return v
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help})
		add(g, name)
		return g
	}
	job := []string{"bot", "window"}
	m.duration = gaugeVec("report_duration_seconds",
		"Duration of the last report run of the job (submit, polls and pages).", job...)
	m.folded = gaugeVec("report_folded_rows",
		"Task rows of the job's last successful report folded into the reserved other-tasks rows because the bot's max_task_rows cap was reached.", job...)
	m.interval = gaugeVec("report_interval_seconds",
		"Configured interval between report runs of the bot × window job (interval).", job...)
	m.lastSuccess = gaugeVec("report_last_success_timestamp_seconds",
		"Unix time the last successful report run of the job finished.", job...)
	m.requests = gaugeVec("report_requests",
		"HTTP requests the job's last report run sent to Kore.ai: submits, polls and their retries, whatever the answer.", job...)
	m.reruns = counterVec("report_reruns_total",
		"Report runs started again from the first page because the pages of a multi-page report were inconsistent.", job...)
	m.rows = gaugeVec("report_rows", "Rows (task × status) of the job's last successful report.", job...)
	m.runs = counterVec("report_runs_total",
		"Report runs of the job, by result: success or an error class.", "bot", "window", "result")
	m.skipped = counterVec("report_skipped_runs_total",
		"Report runs skipped because the job's previous run, or its wait for a job slot, outlasted the interval.", job...)
	m.staleAfter = gaugeVec("report_stale_after_seconds",
		"Configured time the job's last good rows are served after its last successful run (stale_after).", job...)
	m.success = gaugeVec("report_success",
		"Whether the last report run of the bot × window job succeeded (1) or failed (0).", job...)
	m.progress = gaugeVec("report_job_progress_ratio",
		"Completion (0 to 1) of the job's running report, as Kore.ai reports it; absent when no run is going.", job...)
	m.apiRequests = counterVec("api_requests_total",
		`Kore.ai API requests by bot, endpoint and HTTP status code (code "0": no response).`, "bot", "endpoint", "code")
	m.apiDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "api_request_duration_seconds",
		Help:    "Duration of Kore.ai API requests by endpoint.",
		Buckets: apiDurationBuckets,
	}, []string{"endpoint"})
	add(m.apiDuration, "api_request_duration_seconds")
	m.apiRetries = counterVec("api_retries_total",
		"Kore.ai API requests repeated, by bot, endpoint and reason.", "bot", "endpoint", "reason")
	m.configSuccess = gauge("config_last_reload_successful",
		"Whether the last configuration reload succeeded (1) or failed (0).")
	m.configLastSuccess = gauge("config_last_reload_success_timestamp_seconds",
		"Unix time of the last successful configuration reload.")
	m.shardIndex = gauge("shard_index",
		"This exporter's shard (--shard.index), in [0, kore_exporter_shards): it runs the bots that rendezvous hashing of their bot_id assigns to it.")
	m.shardCount = gauge("shards",
		"Number of shards the configured bots are split over (--shard.count); 1 when unsharded.")
	m.jobSlots = gauge("job_slots",
		"Report jobs that may run at once (limits.max_concurrent_jobs, or the size the exporter chose when it is not set).")
	m.jobsWaiting = gauge("jobs_waiting",
		"Report jobs due to run but waiting for a free job slot; often above 0 means too few slots (docs/sizing.md).")
	add(version.NewCollector(namespace), "build_info")
	m.shardCount.Set(1)
	m.reg = prometheus.NewRegistry()
	m.reg.MustRegister(m)
	return m
}

var _ prometheus.Collector = (*Metrics)(nil)

// Describe sends the descriptors of every self-metric.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.all {
		c.Describe(ch)
	}
}

// Collect sends every self-metric.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.all {
		c.Collect(ch)
	}
}

// serves reports whether name is one of the self-metric families.
func (m *Metrics) serves(name string) bool { return slices.Contains(m.names, name) }

// changed records a change; call it after the change.
func (m *Metrics) changed() { m.gen.Add(1) }

// block returns the exposition of every self-metric in format f, encoded
// after the last change at the latest.
func (m *Metrics) block(f expo.Format) (*expo.Body, error) {
	if e := m.cur[f].Load(); e != nil && e.gen == m.gen.Load() {
		return e.b, nil
	}
	m.rebuild.Lock()
	defer m.rebuild.Unlock()
	// Changes made after this load bump the generation again, so the
	// next scrape sees them.
	gen := m.gen.Load()
	if e := m.cur[f].Load(); e != nil && e.gen == gen {
		return e.b, nil
	}
	m.mu.Lock() // the metrics are read until Gather returns
	mfs, err := m.reg.Gather()
	m.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("gather self-metrics: %w", err)
	}
	var raw bytes.Buffer
	for _, mf := range mfs {
		if f == expo.OpenMetrics {
			_, err = expfmt.MetricFamilyToOpenMetrics(&raw, mf)
		} else {
			_, err = expfmt.MetricFamilyToText(&raw, mf)
		}
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", mf.GetName(), err)
		}
	}
	e := &selfBlock{gen: gen, b: expo.BodyOf(raw.Bytes())}
	m.cur[f].Store(e)
	return e.b, nil
}

// NewRegistry returns the self-metrics and a registry of what /metrics
// gathers at scrape time: the Go runtime and process collectors.
func NewRegistry() (*prometheus.Registry, *Metrics, error) {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, nil, errors.Join(errors.New("collector: register runtime metrics"), err)
		}
	}
	return reg, NewMetrics(), nil
}

// Observer returns the kore.Observer of one bot: its API calls are counted
// with bot = the configured name (the botID the client passes is ignored).
func (m *Metrics) Observer(bot string) kore.Observer { return botObserver{m: m, bot: validUTF8(bot)} }

type botObserver struct {
	m   *Metrics
	bot string
}

// RequestDone counts one exchange and observes its duration.
func (o botObserver) RequestDone(_ string, endpoint kore.Endpoint, code int, d time.Duration) {
	o.m.apiRequests.WithLabelValues(o.bot, string(endpoint), strconv.Itoa(code)).Inc()
	o.m.apiDuration.WithLabelValues(string(endpoint)).Observe(d.Seconds())
	o.m.changed()
}

// Retry counts one repeated request.
func (o botObserver) Retry(_ string, endpoint kore.Endpoint, reason string) {
	o.m.apiRetries.WithLabelValues(o.bot, string(endpoint), reason).Inc()
	o.m.changed()
}

// jobChange runs change on the label values of bot × window, repaired to
// valid UTF-8, as one change of the job's series.
func (m *Metrics) jobChange(bot, window string, change func(lvs ...string)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	change(validUTF8(bot), validUTF8(window))
	m.changed()
}

// JobConfigured records the schedule of the bot × window job a
// configuration creates or changes: its interval and its stale_after, the
// series alerting rules judge the job's staleness by. They exist from then
// on, before the job's first run ends, until Forget. An unchanged schedule
// changes nothing.
func (m *Metrics) JobConfigured(bot, window string, interval, staleAfter time.Duration) {
	iv, sa := interval.Seconds(), staleAfter.Seconds()
	k := [2]string{validUTF8(bot), validUTF8(window)}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.schedules[k]; ok && s == [2]float64{iv, sa} {
		return
	}
	m.schedules[k] = [2]float64{iv, sa}
	m.interval.WithLabelValues(k[:]...).Set(iv)
	m.staleAfter.WithLabelValues(k[:]...).Set(sa)
	m.changed()
}

// RunStarted marks a report run of bot × window as going: its progress
// starts at 0. It also creates the job's counters at zero, so rates work
// from the first run.
func (m *Metrics) RunStarted(bot, window string) {
	m.jobChange(bot, window, func(lvs ...string) {
		m.runs.WithLabelValues(append(lvs, report.ResultSuccess)...)
		m.skipped.WithLabelValues(lvs...)
		m.reruns.WithLabelValues(lvs...)
		m.progress.WithLabelValues(lvs...).Set(0)
	})
}

// Progress records the running job's percentageComplete (0 to 100).
func (m *Metrics) Progress(bot, window string, percent int) {
	m.jobChange(bot, window, func(lvs ...string) {
		m.progress.WithLabelValues(lvs...).Set(float64(min(max(percent, 0), 100)) / 100)
	})
}

// RunOutcome is how one report run ended, for its self-metrics.
type RunOutcome struct {
	// Canceled is a run cut short by a reload or shutdown: not the job's
	// fault, so nothing else is recorded.
	Canceled bool
	// Result is report.ResultSuccess or an error class (report.Classify).
	Result string
	// Duration is how long the run took; At is when it ended.
	Duration time.Duration
	At       time.Time
	// Reruns is how many times the run started again from its first page.
	Reruns int
	// Requests is every HTTP request the run sent, retries included.
	Requests int
	// Rows and Folded are what the store published: rows served, and task
	// rows folded into the other-tasks rows (success only).
	Rows, Folded int
}

// RunEnded records the end of a run, all at once. Either way the progress
// series goes; a canceled run records nothing else. A success sets
// report_success to 1, the last-success timestamp, the rows and the folded
// rows; a failure sets report_success to 0.
func (m *Metrics) RunEnded(bot, window string, o RunOutcome) {
	m.jobChange(bot, window, func(lvs ...string) {
		m.progress.DeleteLabelValues(lvs...)
		if o.Canceled {
			return
		}
		m.runs.WithLabelValues(append(lvs, validUTF8(o.Result))...).Inc()
		m.duration.WithLabelValues(lvs...).Set(o.Duration.Seconds())
		m.reruns.WithLabelValues(lvs...).Add(float64(max(o.Reruns, 0)))
		m.requests.WithLabelValues(lvs...).Set(float64(max(o.Requests, 0)))
		if o.Result != report.ResultSuccess {
			m.success.WithLabelValues(lvs...).Set(0)
			return
		}
		m.success.WithLabelValues(lvs...).Set(1)
		m.lastSuccess.WithLabelValues(lvs...).Set(unixSeconds(o.At))
		m.rows.WithLabelValues(lvs...).Set(float64(o.Rows))
		m.folded.WithLabelValues(lvs...).Set(float64(o.Folded))
	})
}

// RunSkipped counts a run skipped because the job's previous run, or its
// wait for a job slot, outlasted the interval.
func (m *Metrics) RunSkipped(bot, window string) {
	m.jobChange(bot, window, func(lvs ...string) { m.skipped.WithLabelValues(lvs...).Inc() })
}

// Forget deletes every series of the bot × window job, on a reload that no
// longer configures it.
func (m *Metrics) Forget(bot, window string) {
	m.jobChange(bot, window, func(lvs ...string) {
		delete(m.schedules, [2]string{lvs[0], lvs[1]})
		labels := prometheus.Labels{"bot": lvs[0], "window": lvs[1]}
		for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
			m.success, m.lastSuccess, m.duration, m.rows, m.folded, m.requests, m.interval, m.staleAfter, m.progress,
			m.runs, m.skipped, m.reruns,
		} {
			v.DeletePartialMatch(labels)
		}
	})
}

// ForgetBot deletes the API series of a bot no longer configured (Forget
// handles its jobs).
func (m *Metrics) ForgetBot(bot string) {
	labels := prometheus.Labels{"bot": validUTF8(bot)}
	m.apiRequests.DeletePartialMatch(labels)
	m.apiRetries.DeletePartialMatch(labels)
	m.changed()
}

// SlotsChanged records the job slots and how many jobs wait for one.
func (m *Metrics) SlotsChanged(slots, waiting int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.slots == slots && m.waiting == waiting {
		return
	}
	m.slots, m.waiting = slots, waiting
	m.jobSlots.Set(float64(slots))
	m.jobsWaiting.Set(float64(waiting))
	m.changed()
}

// SetShard records this exporter's shard: index of count.
func (m *Metrics) SetShard(index, count int) {
	m.shardIndex.Set(float64(index))
	m.shardCount.Set(float64(count))
	m.changed()
}

// ConfigReloaded records a configuration (re)load attempt at at.
func (m *Metrics) ConfigReloaded(ok bool, at time.Time) {
	defer m.changed()
	if !ok {
		m.configSuccess.Set(0)
		return
	}
	m.configSuccess.Set(1)
	m.configLastSuccess.Set(unixSeconds(at))
}

// unixSeconds returns t as fractional Unix seconds.
func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
