package collector

import (
	"errors"
	"strconv"
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
// Kore.ai API calls, and config reloads. They are live instruments, gathered
// at scrape time; Metrics is itself the prometheus.Collector of all of them.
// Methods are safe for concurrent use.
type Metrics struct {
	success           *prometheus.GaugeVec
	reportLastSuccess *prometheus.GaugeVec
	reportDuration    *prometheus.GaugeVec
	runsTotal         *prometheus.CounterVec
	skipped           *prometheus.CounterVec
	reportProgress    *prometheus.GaugeVec
	reportRows        *prometheus.GaugeVec
	reportDuplicates  *prometheus.CounterVec

	apiRequests *prometheus.CounterVec
	apiDuration *prometheus.HistogramVec
	apiRetries  *prometheus.CounterVec

	configSuccess     prometheus.Gauge
	configLastSuccess prometheus.Gauge
}

// NewMetrics creates the self-metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	job := []string{"bot", "window"}
	gaugeVec := func(name, help string, labels []string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
	}
	counterVec := func(name, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	}
	m := &Metrics{
		success: gaugeVec("report_success",
			"Whether the last report run of the bot × window job succeeded (1) or failed (0).", job),
		reportLastSuccess: gaugeVec("report_last_success_timestamp_seconds",
			"Unix time the last successful report run of the job finished.", job),
		reportDuration: gaugeVec("report_duration_seconds",
			"Duration of the last report run of the job (submit, polls and pages).", job),
		runsTotal: counterVec("report_runs_total",
			"Report runs of the job, by result: success or an error class.", []string{"bot", "window", "result"}),
		skipped: counterVec("report_skipped_runs_total",
			"Report runs skipped because the job's previous run was still going.", job),
		reportProgress: gaugeVec("report_job_progress_ratio",
			"Completion (0 to 1) of the job's running report, as Kore.ai reports it; absent when no run is going.", job),
		reportRows: gaugeVec("report_rows",
			"Rows (task × status) of the job's last successful report.", job),
		reportDuplicates: counterVec("report_duplicate_rows_total",
			"Duplicate rows Kore.ai returned for the job, merged into one series each.", job),
		apiRequests: counterVec("api_requests_total",
			`Kore.ai API requests by bot, endpoint and HTTP status code (code "0": no response).`,
			[]string{"bot", "endpoint", "code"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "api_request_duration_seconds",
			Help:      "Duration of Kore.ai API requests by endpoint.",
			Buckets:   apiDurationBuckets,
		}, []string{"endpoint"}),
		apiRetries: counterVec("api_retries_total",
			"Kore.ai API requests repeated, by bot, endpoint and reason.", []string{"bot", "endpoint", "reason"}),
		configSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "config_last_reload_successful",
			Help: "Whether the last configuration reload succeeded (1) or failed (0).",
		}),
		configLastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration reload.",
		}),
	}
	if err := reg.Register(m); err != nil {
		return nil, errors.Join(errors.New("collector: register self-metrics"), err)
	}
	return m, nil
}

var _ prometheus.Collector = (*Metrics)(nil)

// Describe sends the descriptors of every self-metric.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect sends every self-metric.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.success, m.reportLastSuccess, m.reportDuration, m.runsTotal,
		m.skipped, m.reportProgress, m.reportRows, m.reportDuplicates,
		m.apiRequests, m.apiDuration, m.apiRetries,
		m.configSuccess, m.configLastSuccess,
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
	o.m.apiDuration.WithLabelValues(string(endpoint)).Observe(d.Seconds())
}

// Retry counts one repeated request.
func (o botObserver) Retry(_ string, endpoint kore.Endpoint, reason string) {
	o.m.apiRetries.WithLabelValues(o.bot, string(endpoint), reason).Inc()
}

// RunStarted marks a report run of bot × window as going: its progress
// starts at 0. It also creates the job's counters at zero, so rates work
// from the first run.
func (m *Metrics) RunStarted(bot, window string) {
	m.runsTotal.WithLabelValues(bot, window, ResultSuccess)
	m.skipped.WithLabelValues(bot, window)
	m.reportDuplicates.WithLabelValues(bot, window)
	m.reportProgress.WithLabelValues(bot, window).Set(0)
}

// Progress records the running job's percentageComplete (0 to 100).
func (m *Metrics) Progress(bot, window string, percent int) {
	m.reportProgress.WithLabelValues(bot, window).Set(float64(min(max(percent, 0), 100)) / 100)
}

// RunFinished records the end of a run: result is ResultSuccess or an error
// class, d its duration, at when it ended, rows and duplicates what the
// store published (success only). A success sets report_success to 1 and
// the last-success timestamp, a failure sets report_success to 0; either
// removes the progress series.
func (m *Metrics) RunFinished(bot, window, result string, d time.Duration, at time.Time, rows, duplicates int) {
	m.reportProgress.DeleteLabelValues(bot, window)
	m.runsTotal.WithLabelValues(bot, window, result).Inc()
	m.reportDuration.WithLabelValues(bot, window).Set(d.Seconds())
	m.reportDuplicates.WithLabelValues(bot, window).Add(float64(max(duplicates, 0)))
	if result != ResultSuccess {
		m.success.WithLabelValues(bot, window).Set(0)
		return
	}
	m.success.WithLabelValues(bot, window).Set(1)
	m.reportLastSuccess.WithLabelValues(bot, window).Set(unixSeconds(at))
	m.reportRows.WithLabelValues(bot, window).Set(float64(rows))
}

// RunCanceled records a run cut short by a reload or shutdown: not the
// job's fault, so only its progress series goes.
func (m *Metrics) RunCanceled(bot, window string) {
	m.reportProgress.DeleteLabelValues(bot, window)
}

// RunSkipped counts a run skipped because the previous one was still going.
func (m *Metrics) RunSkipped(bot, window string) {
	m.skipped.WithLabelValues(bot, window).Inc()
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
	labels := prometheus.Labels{"bot": bot, "window": window}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.success, m.reportLastSuccess, m.reportDuration, m.runsTotal,
		m.skipped, m.reportProgress, m.reportRows, m.reportDuplicates,
	} {
		v.DeletePartialMatch(labels)
	}
}

// ForgetBot deletes the API series of a bot no longer configured (Forget
// handles its jobs).
func (m *Metrics) ForgetBot(bot string) {
	labels := prometheus.Labels{"bot": bot}
	m.apiRequests.DeletePartialMatch(labels)
	m.apiRetries.DeletePartialMatch(labels)
}

// unixSeconds returns t as fractional Unix seconds.
func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
