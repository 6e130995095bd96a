package deploy_test

import (
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/kore-exporter/kore_exporter/collector"
	"github.com/kore-exporter/kore_exporter/collector/contract"
	"github.com/kore-exporter/kore_exporter/kore"
)

// standardMetrics are series Prometheus itself writes for every target or
// rule, which dashboards and rules may query beside the exporter's.
var standardMetrics = []string{
	"up", "scrape_duration_seconds", "scrape_samples_scraped",
	"scrape_samples_post_metric_relabeling", "scrape_series_added",
	"ALERTS", "ALERTS_FOR_STATE",
}

// metricSet is what a query may select: metric names and, where the
// exporter says so, each metric's label names (nil: not known, not
// checked).
type metricSet map[string]map[string]bool

// has reports whether name is in the set.
func (s metricSet) has(name string) bool {
	_, ok := s[name]
	return ok
}

// names returns the sorted metric names.
func (s metricSet) names() []string {
	out := make([]string, 0, len(s))
	for n := range s {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// with returns a copy of s plus the given names (label sets unknown).
func (s metricSet) with(names ...string) metricSet {
	out := make(metricSet, len(s)+len(names))
	for n, l := range s {
		out[n] = l
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			out[n] = nil
		}
	}
	return out
}

// targetLabels are attached by Prometheus to every scraped series.
var targetLabels = []string{"job", "instance"}

// exporterMetrics lists every series name the exporter serves on /metrics,
// from its own code: the data families (contract.TaskFamilies,
// contract.BotSessions, contract.BotInfo) and every collector of collector.NewRegistry plus the
// pre-encoded per-job self-metrics, with histogram and summary series
// names expanded. Label sets are recorded where the exporter fixes them.
func exporterMetrics(t testing.TB) metricSet {
	t.Helper()
	set := metricSet{}
	labelSet := func(names ...string) map[string]bool {
		m := map[string]bool{}
		for _, n := range append(names, targetLabels...) {
			m[n] = true
		}
		return m
	}
	for _, f := range contract.TaskFamilies() {
		set[f.Name] = labelSet(contract.TaskLabels()...)
	}
	set[contract.BotInfo().Name] = nil // bot, bot_id, host and each bot's static labels
	set[contract.BotSessions().Name] = labelSet(contract.SessionLabels()...)

	reg, m, err := collector.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	// Give every vector a child, so that Gather reports each family with
	// its type and labels.
	m.RunStarted("b", "1h")
	m.Progress("b", "1h", 50)
	m.RunEnded("b", "1h", collector.RunOutcome{Result: "success", Duration: time.Second, At: time.Now(), Reruns: 1, Rows: 2, Folded: 1})
	m.RunStarted("b", "1h")
	m.RunSkipped("b", "1h")
	m.ConfigReloaded(true, time.Now())
	m.Observer("b").RequestDone("id", kore.Endpoint("submit"), 200, time.Second)
	m.Observer("b").Retry("id", kore.Endpoint("submit"), "network")

	// Every self-metric (Metrics is the Collector of all of them) and the
	// rest of the registry (build info, Go runtime, process).
	all := prometheus.NewRegistry()
	if err := all.Register(m); err != nil {
		t.Fatal(err)
	}
	for _, g := range []prometheus.Gatherer{reg, all} {
		mfs, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			labels := map[string]bool{}
			for _, metric := range mf.GetMetric() {
				for _, lp := range metric.GetLabel() {
					labels[lp.GetName()] = true
				}
			}
			for _, l := range targetLabels {
				labels[l] = true
			}
			name := mf.GetName()
			switch mf.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				withLE := labelSet("le")
				for l := range labels {
					withLE[l] = true
				}
				set[name+"_bucket"] = withLE
				set[name+"_sum"] = labels
				set[name+"_count"] = labels
			case dto.MetricType_SUMMARY:
				withQ := labelSet("quantile")
				for l := range labels {
					withQ[l] = true
				}
				set[name] = withQ
				set[name+"_sum"] = labels
				set[name+"_count"] = labels
			default:
				set[name] = labels
			}
		}
	}
	// Families with no child yet (none expected after the calls above,
	// but a new vector would land here): names only.
	descs := make(chan *prometheus.Desc, 1000)
	go func() {
		reg.Describe(descs)
		m.Describe(descs)
		close(descs)
	}()
	for d := range descs {
		name := descName(t, d)
		if !set.has(name) && !set.has(name+"_bucket") && !set.has(name+"_count") {
			set[name] = nil
		}
	}
	for _, n := range standardMetrics {
		set[n] = nil
	}
	return set
}

// TestExporterMetricsList guards the list the other checks rely on: it must
// hold the data families and the self-metrics the README documents.
func TestExporterMetricsList(t *testing.T) {
	set := exporterMetrics(t)
	for _, want := range []string{
		"kore_task_sessions", "kore_task_drop_off_sessions", "kore_task_executions",
		"kore_bot_info", "kore_exporter_report_success",
		"kore_exporter_report_last_success_timestamp_seconds",
		"kore_exporter_report_runs_total", "kore_exporter_api_requests_total",
		"kore_exporter_api_request_duration_seconds_bucket",
		"kore_exporter_build_info", "kore_exporter_report_folded_rows",
		"process_resident_memory_bytes", "up",
	} {
		if !set.has(want) {
			t.Errorf("%s missing from the exporter's metrics: %v", want, set.names())
		}
	}
	if set.has("kore_exporter_api_request_duration_seconds") {
		t.Error("histogram kept under its bare name: only _bucket, _sum and _count are series")
	}
	if l := set["kore_task_sessions"]; !l["task_name"] || l["task"] {
		t.Errorf("kore_task_sessions labels = %v", l)
	}
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// descName returns the metric name of d (Desc has no accessor for it).
func descName(t testing.TB, d *prometheus.Desc) string {
	t.Helper()
	m := fqName.FindStringSubmatch(d.String())
	if m == nil {
		t.Fatalf("cannot read the name of %s", d)
	}
	return m[1]
}
