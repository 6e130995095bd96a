package collector

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/collectors/version"

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
// The per-job families (report_success, report_last_success_timestamp_seconds,
// report_duration_seconds, report_runs_total, report_skipped_runs_total,
// report_rows, report_folded_rows, report_reruns_total) are pre-encoded when
// they change (jobmetrics.go), and the per-bot API counters
// (api_requests_total, api_retries_total) are encoded at most once per
// change (apiblock.go); the /metrics handler given HandlerOpts.Metrics
// serves both. The others (report_job_progress_ratio, the API request
// durations, reload and shard metrics) are live instruments gathered at
// scrape time. Metrics is itself the prometheus.Collector of all of them,
// the per-job families as constant metrics.
type Metrics struct {
	jobs *jobMetrics
	api  *apiBlock // caches the encoding of apiRequests and apiRetries

	success           *jobFamily
	reportLastSuccess *jobFamily
	reportDuration    *jobFamily
	runsTotal         *jobFamily
	skipped           *jobFamily
	reportRows        *jobFamily
	reportFolded      *jobFamily
	reportReruns      *jobFamily
	reportRequests    *jobFamily

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
}

// NewMetrics creates the self-metrics and registers on reg those gathered
// at scrape time: everything but the per-job families and the API
// counters, which the /metrics handler serves from HandlerOpts.Metrics. To gather every
// self-metric through a registry, register the Metrics itself instead.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	jobs := newJobMetrics()
	counterVec := func(name, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help})
	}
	m := &Metrics{
		jobs:              jobs,
		success:           newJobFamily(jobs, jobSuccess),
		reportLastSuccess: newJobFamily(jobs, jobLastSuccess),
		reportDuration:    newJobFamily(jobs, jobDuration),
		runsTotal:         newJobFamily(jobs, jobRuns),
		skipped:           newJobFamily(jobs, jobSkipped),
		reportRows:        newJobFamily(jobs, jobRows),
		reportFolded:      newJobFamily(jobs, jobFolded),
		reportReruns:      newJobFamily(jobs, jobReruns),
		reportRequests:    newJobFamily(jobs, jobRequests),
		reportProgress: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "report_job_progress_ratio",
			Help: "Completion (0 to 1) of the job's running report, as Kore.ai reports it; absent when no run is going.",
		}, []string{"bot", "window"}),
		apiRequests: counterVec(strings.TrimPrefix(apiRequestsName, namespace+"_"),
			`Kore.ai API requests by bot, endpoint and HTTP status code (code "0": no response).`,
			[]string{"bot", "endpoint", "code"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "api_request_duration_seconds",
			Help:      "Duration of Kore.ai API requests by endpoint.",
			Buckets:   apiDurationBuckets,
		}, []string{"endpoint"}),
		apiRetries: counterVec(strings.TrimPrefix(apiRetriesName, namespace+"_"),
			"Kore.ai API requests repeated, by bot, endpoint and reason.", []string{"bot", "endpoint", "reason"}),
		configSuccess: gauge("config_last_reload_successful",
			"Whether the last configuration reload succeeded (1) or failed (0)."),
		configLastSuccess: gauge("config_last_reload_success_timestamp_seconds",
			"Unix time of the last successful configuration reload."),
		shardIndex: gauge("shard_index",
			"This exporter's shard (--shard.index), in [0, kore_exporter_shards): it runs the bots that rendezvous hashing of their bot_id assigns to it."),
		shardCount: gauge("shards",
			"Number of shards the configured bots are split over (--shard.count); 1 when unsharded."),
		jobSlots: gauge("job_slots",
			"Report jobs that may run at once (limits.max_concurrent_jobs, or the size the exporter chose when it is not set)."),
		jobsWaiting: gauge("jobs_waiting",
			"Report jobs due to run but waiting for a free job slot; often above 0 means too few slots (README, Sizing)."),
	}
	m.shardCount.Set(1)
	m.api = newAPIBlock(m.apiRequests, m.apiRetries)
	if err := reg.Register(m.live()); err != nil {
		return nil, errors.Join(errors.New("collector: register self-metrics"), err)
	}
	return m, nil
}

var _ prometheus.Collector = (*Metrics)(nil)

// Describe sends the descriptors of every self-metric.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.live().Describe(ch)
	m.preEncoded().Describe(ch)
}

// Collect sends every self-metric.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.live().Collect(ch)
	m.preEncoded().Collect(ch)
}

// live is the Collector of the self-metrics gathered at scrape time.
func (m *Metrics) live() collectorList {
	return collectorList{
		m.reportProgress, m.apiDuration,
		m.configSuccess, m.configLastSuccess, m.shardIndex, m.shardCount,
		m.jobSlots, m.jobsWaiting,
	}
}

// preEncoded is the Collector of the families the /metrics handler serves
// from an encoding made before the scrape: the per-job families, in
// jobFamilies order, and the API counters (apiblock.go).
func (m *Metrics) preEncoded() collectorList {
	return collectorList{
		m.reportDuration, m.reportFolded, m.reportLastSuccess, m.reportRequests, m.reportReruns,
		m.reportRows, m.runsTotal, m.skipped, m.success,
		m.apiRequests, m.apiRetries,
	}
}

// NewRegistry returns a registry holding the self-metrics, build_info
// (kore_exporter_build_info), and the Go runtime and process collectors:
// everything /metrics serves besides the data.
func NewRegistry() (*prometheus.Registry, *Metrics, error) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		return nil, nil, err
	}
	for _, c := range []prometheus.Collector{
		version.NewCollector(namespace),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, nil, errors.Join(errors.New("collector: register runtime metrics"), err)
		}
	}
	return reg, m, nil
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
	o.m.api.changed()
	o.m.apiDuration.WithLabelValues(string(endpoint)).Observe(d.Seconds())
}

// Retry counts one repeated request.
func (o botObserver) Retry(_ string, endpoint kore.Endpoint, reason string) {
	o.m.apiRetries.WithLabelValues(o.bot, string(endpoint), reason).Inc()
	o.m.api.changed()
}

// RunStarted marks a report run of bot × window as going: its progress
// starts at 0. It also creates the job's counters at zero, so rates work
// from the first run.
func (m *Metrics) RunStarted(bot, window string) {
	m.jobs.update(bot, window, func(j *jobState) bool {
		changed := j.addRun(ResultSuccess, 0)
		changed = j.create(jobSkipped) || changed
		return j.create(jobReruns) || changed
	})
	m.reportProgress.WithLabelValues(bot, window).Set(0)
}

// Progress records the running job's percentageComplete (0 to 100).
func (m *Metrics) Progress(bot, window string, percent int) {
	m.reportProgress.WithLabelValues(bot, window).Set(float64(min(max(percent, 0), 100)) / 100)
}

// RunOutcome is what one finished report run did, for its self-metrics.
type RunOutcome struct {
	// Result is ResultSuccess or an error class (Classify).
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
	m.jobs.update(bot, window, func(j *jobState) bool {
		j.addRun(validUTF8(o.Result), 1)
		j.set(jobDuration, o.Duration.Seconds())
		j.add(jobReruns, float64(max(o.Reruns, 0)))
		j.set(jobRequests, float64(max(o.Requests, 0)))
		if o.Result != ResultSuccess {
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
}

// RunCanceled records a run cut short by a reload or shutdown: not the
// job's fault, so only its progress series goes.
func (m *Metrics) RunCanceled(bot, window string) {
	m.reportProgress.DeleteLabelValues(bot, window)
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
}

// ConfigReloaded records a configuration (re)load attempt at at.
func (m *Metrics) ConfigReloaded(ok bool, at time.Time) {
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
