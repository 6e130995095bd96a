package collector

import (
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

// namespace prefixes every self-metric.
const namespace = "kore_exporter"

// apiDurationBuckets suit Kore.ai calls: 10ms for a quick status poll up to
// the minute a page download may take.
var apiDurationBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Metrics are the exporter's self-metrics: report runs per bot × window,
// Kore.ai API calls, and config reloads. Methods are safe for concurrent
// use.
//
// None is gathered at scrape time. The per-job families (report_success,
// report_last_success_timestamp_seconds, report_duration_seconds,
// report_runs_total, report_skipped_runs_total, report_rows,
// report_folded_rows, report_reruns_total, report_requests,
// report_interval_seconds, report_stale_after_seconds) are pre-encoded
// when they change (jobmetrics.go); the others are encoded at
// most once per change, in two blocks (selfblock.go): the API block (the
// per-bot request and retry counters and the request durations) and the
// state block (run progress, reloads, shard, job slots, build_info). The
// /metrics handler given HandlerOpts.Metrics serves them all. Metrics is
// itself the prometheus.Collector of all of them, the per-job families as
// constant metrics.
type Metrics struct {
	jobs  *jobMetrics
	api   *selfBlock // apiRequests, apiRetries, apiDuration
	state *selfBlock // the other non-job metrics
	names []string   // of the families of api and state

	success           *jobFamily
	reportLastSuccess *jobFamily
	reportDuration    *jobFamily
	runsTotal         *jobFamily
	skipped           *jobFamily
	reportRows        *jobFamily
	reportFolded      *jobFamily
	reportReruns      *jobFamily
	reportRequests    *jobFamily
	reportInterval    *jobFamily
	reportStaleAfter  *jobFamily

	reportProgress *prometheus.GaugeVec

	apiRequests *prometheus.CounterVec
	apiDuration *prometheus.HistogramVec
	apiRetries  *prometheus.CounterVec

	configSuccess     prometheus.Gauge
	configLastSuccess prometheus.Gauge

	shardIndex prometheus.Gauge
	shardCount prometheus.Gauge

	jobSlots    prometheus.Gauge
	jobsWaiting prometheus.Gauge

	buildInfo prometheus.Collector
}

// buildInfoName is the family of version.NewCollector(namespace).
const buildInfoName = namespace + "_build_info"

// NewMetrics creates the self-metrics. The /metrics handler serves them
// given HandlerOpts.Metrics; to gather them through a registry, register
// the Metrics itself.
func NewMetrics() *Metrics {
	jobs := newJobMetrics()
	m := &Metrics{jobs: jobs}
	// name returns name and records the family's full name.
	name := func(name string) string {
		m.names = append(m.names, namespace+"_"+name)
		return name
	}
	counterVec := func(n, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name(n), Help: help}, labels)
	}
	gauge := func(n, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name(n), Help: help})
	}
	m.success = newJobFamily(jobs, jobSuccess)
	m.reportLastSuccess = newJobFamily(jobs, jobLastSuccess)
	m.reportDuration = newJobFamily(jobs, jobDuration)
	m.runsTotal = newJobFamily(jobs, jobRuns)
	m.skipped = newJobFamily(jobs, jobSkipped)
	m.reportRows = newJobFamily(jobs, jobRows)
	m.reportFolded = newJobFamily(jobs, jobFolded)
	m.reportReruns = newJobFamily(jobs, jobReruns)
	m.reportRequests = newJobFamily(jobs, jobRequests)
	m.reportInterval = newJobFamily(jobs, jobInterval)
	m.reportStaleAfter = newJobFamily(jobs, jobStaleAfter)
	m.reportProgress = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: name("report_job_progress_ratio"),
		Help: "Completion (0 to 1) of the job's running report, as Kore.ai reports it; absent when no run is going.",
	}, []string{"bot", "window"})
	m.apiRequests = counterVec("api_requests_total",
		`Kore.ai API requests by bot, endpoint and HTTP status code (code "0": no response).`,
		[]string{"bot", "endpoint", "code"})
	m.apiDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      name("api_request_duration_seconds"),
		Help:      "Duration of Kore.ai API requests by endpoint.",
		Buckets:   apiDurationBuckets,
	}, []string{"endpoint"})
	m.apiRetries = counterVec("api_retries_total",
		"Kore.ai API requests repeated, by bot, endpoint and reason.", []string{"bot", "endpoint", "reason"})
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
	m.buildInfo = version.NewCollector(namespace)
	m.names = append(m.names, buildInfoName)
	m.shardCount.Set(1)
	m.api = newSelfBlock(m.apiRequests, m.apiRetries, m.apiDuration)
	m.state = newSelfBlock(m.reportProgress, m.configSuccess, m.configLastSuccess, m.shardIndex, m.shardCount,
		m.jobSlots, m.jobsWaiting, m.buildInfo)
	return m
}

var _ prometheus.Collector = (*Metrics)(nil)

// Describe sends the descriptors of every self-metric.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) { m.preEncoded().Describe(ch) }

// Collect sends every self-metric.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) { m.preEncoded().Collect(ch) }

// preEncoded is the Collector of every self-metric, which the /metrics
// handler serves from an encoding made before the scrape: the per-job
// families, in jobFamilies order, then the API block's and the state
// block's.
func (m *Metrics) preEncoded() collectorList {
	return append(m.jobCollectors(),
		m.apiRequests, m.apiRetries, m.apiDuration,
		m.reportProgress, m.configSuccess, m.configLastSuccess, m.shardIndex, m.shardCount,
		m.jobSlots, m.jobsWaiting, m.buildInfo)
}

// jobCollectors is the Collector of the per-job families, in jobFamilies
// order.
func (m *Metrics) jobCollectors() collectorList {
	return collectorList{
		m.reportDuration, m.reportFolded, m.reportInterval, m.reportLastSuccess, m.reportRequests,
		m.reportReruns, m.reportRows, m.runsTotal, m.skipped, m.reportStaleAfter, m.success,
	}
}

// serves reports whether name is one of the self-metric families.
func (m *Metrics) serves(name string) bool {
	return inFamilies(jobFamilies[:], name) || slices.Contains(m.names, name)
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
func (m *Metrics) Observer(bot string) kore.Observer { return botObserver{m: m, bot: bot} }

type botObserver struct {
	m   *Metrics
	bot string
}

// RequestDone counts one exchange and observes its duration.
func (o botObserver) RequestDone(_ string, endpoint kore.Endpoint, code int, d time.Duration) {
	o.m.apiRequests.WithLabelValues(o.bot, string(endpoint), strconv.Itoa(code)).Inc()
	o.m.apiDuration.WithLabelValues(string(endpoint)).Observe(d.Seconds())
	o.m.api.changed()
}

// Retry counts one repeated request.
func (o botObserver) Retry(_ string, endpoint kore.Endpoint, reason string) {
	o.m.apiRetries.WithLabelValues(o.bot, string(endpoint), reason).Inc()
	o.m.api.changed()
}

// JobConfigured records the schedule of the bot × window job a
// configuration creates or changes: its interval and its stale_after, the
// series alerting rules judge the job's staleness by. They exist from then
// on, before the job's first run ends, until Forget.
func (m *Metrics) JobConfigured(bot, window string, interval, staleAfter time.Duration) {
	iv, sa := interval.Seconds(), staleAfter.Seconds()
	m.jobs.update(bot, window, func(j *jobState) bool {
		if j.has[jobInterval] && j.has[jobStaleAfter] && j.values[jobInterval] == iv && j.values[jobStaleAfter] == sa {
			return false
		}
		j.set(jobInterval, iv)
		j.set(jobStaleAfter, sa)
		return true
	})
}

// RunStarted marks a report run of bot × window as going: its progress
// starts at 0. It also creates the job's counters at zero, so rates work
// from the first run.
func (m *Metrics) RunStarted(bot, window string) {
	m.jobs.update(bot, window, func(j *jobState) bool {
		changed := j.addRun(report.ResultSuccess, 0)
		changed = j.create(jobSkipped) || changed
		return j.create(jobReruns) || changed
	})
	m.reportProgress.WithLabelValues(bot, window).Set(0)
	m.state.changed()
}

// Progress records the running job's percentageComplete (0 to 100).
func (m *Metrics) Progress(bot, window string, percent int) {
	m.reportProgress.WithLabelValues(bot, window).Set(float64(min(max(percent, 0), 100)) / 100)
	m.state.changed()
}

// RunOutcome is what one finished report run did, for its self-metrics.
type RunOutcome struct {
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

// RunFinished records the end of a run. A success sets report_success to 1,
// the last-success timestamp, the rows and the folded rows; a failure sets
// report_success to 0; either removes the progress series.
func (m *Metrics) RunFinished(bot, window string, o RunOutcome) {
	m.reportProgress.DeleteLabelValues(bot, window)
	m.state.changed()
	m.jobs.update(bot, window, func(j *jobState) bool {
		j.addRun(validUTF8(o.Result), 1)
		j.set(jobDuration, o.Duration.Seconds())
		j.add(jobReruns, float64(max(o.Reruns, 0)))
		j.set(jobRequests, float64(max(o.Requests, 0)))
		if o.Result != report.ResultSuccess {
			j.set(jobSuccess, 0)
			return true
		}
		j.set(jobSuccess, 1)
		j.set(jobLastSuccess, unixSeconds(o.At))
		j.set(jobRows, float64(o.Rows))
		j.set(jobFolded, float64(o.Folded))
		return true
	})
}

// SlotsChanged records the job slots and how many jobs wait for one.
func (m *Metrics) SlotsChanged(slots, waiting int) {
	m.jobSlots.Set(float64(slots))
	m.jobsWaiting.Set(float64(waiting))
	m.state.changed()
}

// RunCanceled records a run cut short by a reload or shutdown: not the
// job's fault, so only its progress series goes.
func (m *Metrics) RunCanceled(bot, window string) {
	m.reportProgress.DeleteLabelValues(bot, window)
	m.state.changed()
}

// RunSkipped counts a run skipped because the job's previous run, or its
// wait for a job slot, outlasted the interval.
func (m *Metrics) RunSkipped(bot, window string) {
	m.jobs.update(bot, window, func(j *jobState) bool {
		j.add(jobSkipped, 1)
		return true
	})
}

// SetShard records this exporter's shard: index of count.
func (m *Metrics) SetShard(index, count int) {
	m.shardIndex.Set(float64(index))
	m.shardCount.Set(float64(count))
	m.state.changed()
}

// ConfigReloaded records a configuration (re)load attempt at at.
func (m *Metrics) ConfigReloaded(ok bool, at time.Time) {
	defer m.state.changed()
	if !ok {
		m.configSuccess.Set(0)
		return
	}
	m.configSuccess.Set(1)
	m.configLastSuccess.Set(unixSeconds(at))
}

// Forget deletes every series of the bot × window job, on a reload that no
// longer configures it.
func (m *Metrics) Forget(bot, window string) {
	m.reportProgress.DeletePartialMatch(prometheus.Labels{"bot": bot, "window": window})
	m.state.changed()
	m.jobs.forget(bot, window)
}

// ForgetBot deletes the API series of a bot no longer configured (Forget
// handles its jobs).
func (m *Metrics) ForgetBot(bot string) {
	labels := prometheus.Labels{"bot": bot}
	m.apiRequests.DeletePartialMatch(labels)
	m.apiRetries.DeletePartialMatch(labels)
	m.api.changed()
}

// unixSeconds returns t as fractional Unix seconds.
func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
