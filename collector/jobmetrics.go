package collector

import (
	"cmp"
	"iter"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kore-exporter/kore_exporter/collector/internal/expo"
)

// The per-job self-metrics (kore_exporter_report_*{bot,window}) change only
// when a configuration creates or changes the job, when a run of the job
// starts, finishes or is skipped, or when a reload forgets the job: minutes
// apart, like the data. So they are pre-encoded the
// same way (docs/performance.md): every change re-encodes the lines of
// that one job, per family and format, into pieces (package expo), and
// publishes a new immutable jobSet with one atomic pointer swap. A scrape
// writes the jobSet's body after the data block with the same piece
// machinery (package expo). The other self-metrics, which change at any time (run
// progress, API calls, reloads, job slots), are encoded by the first scrape
// after a change (selfblock.go); only the Go runtime and process metrics
// are gathered live.

// The per-job families, indexed in the order a registry gathers them
// (sorted by name).
const (
	jobDuration = iota
	jobFolded
	jobInterval
	jobLastSuccess
	jobRequests
	jobReruns
	jobRows
	jobRuns
	jobSkipped
	jobStaleAfter
	jobSuccess
	numJobFamilies
)

// jobFamilies is the contract of the per-job self-metrics (docs/metrics.md), indexed by the job* constants.
var jobFamilies = [numJobFamilies]expo.Family{
	jobDuration: {
		Name: namespace + "_report_duration_seconds",
		Help: "Duration of the last report run of the job (submit, polls and pages).",
	},
	jobFolded: {
		Name: namespace + "_report_folded_rows",
		Help: "Task rows of the job's last successful report folded into the reserved other-tasks rows because the bot's max_task_rows cap was reached.",
	},
	jobInterval: {
		Name: namespace + "_report_interval_seconds",
		Help: "Configured interval between report runs of the bot × window job (interval).",
	},
	jobLastSuccess: {
		Name: namespace + "_report_last_success_timestamp_seconds",
		Help: "Unix time the last successful report run of the job finished.",
	},
	jobRequests: {
		Name: namespace + "_report_requests",
		Help: "HTTP requests the job's last report run sent to Kore.ai: submits, polls and their retries, whatever the answer.",
	},
	jobReruns: {
		Name:    namespace + "_report_reruns_total",
		Help:    "Report runs started again from the first page because the pages of a multi-page report were inconsistent.",
		Counter: true,
	},
	jobRows: {
		Name: namespace + "_report_rows",
		Help: "Rows (task × status) of the job's last successful report.",
	},
	jobRuns: {
		Name:    namespace + "_report_runs_total",
		Help:    "Report runs of the job, by result: success or an error class.",
		Counter: true,
	},
	jobSkipped: {
		Name:    namespace + "_report_skipped_runs_total",
		Help:    "Report runs skipped because the job's previous run, or its wait for a job slot, outlasted the interval.",
		Counter: true,
	},
	jobStaleAfter: {
		Name: namespace + "_report_stale_after_seconds",
		Help: "Configured time the job's last good rows are served after its last successful run (stale_after).",
	},
	jobSuccess: {
		Name: namespace + "_report_success",
		Help: "Whether the last report run of the bot × window job succeeded (1) or failed (0).",
	},
}

// jobState is the state of one job's series. Published states are
// immutable: a change works on a clone.
type jobState struct {
	bot, window string
	values      [numJobFamilies]float64 // by family; jobRuns uses runs
	has         [numJobFamilies]bool    // whether the family's series exists
	runs        []runCount              // report_runs_total, sorted by result
	pieces      expo.Pieces
}

// runCount is one report_runs_total series of a job.
type runCount struct {
	result string
	n      float64
}

// clone returns a copy of j's values, without its pieces.
func (j *jobState) clone() *jobState {
	return &jobState{bot: j.bot, window: j.window, values: j.values, has: j.has, runs: slices.Clone(j.runs)}
}

// set sets the series of fam to v, creating it.
func (j *jobState) set(fam int, v float64) { j.values[fam], j.has[fam] = v, true }

// add adds v to the series of fam, creating it at 0 first.
func (j *jobState) add(fam int, v float64) { j.values[fam], j.has[fam] = j.values[fam]+v, true }

// create creates the series of fam at 0 and reports whether it was absent.
func (j *jobState) create(fam int) bool {
	if j.has[fam] {
		return false
	}
	j.has[fam] = true
	return true
}

// addRun adds n to the runs of result, creating the series at 0 first, and
// reports whether anything changed.
func (j *jobState) addRun(result string, n float64) bool {
	i, found := slices.BinarySearchFunc(j.runs, result, func(r runCount, result string) int {
		return cmp.Compare(r.result, result)
	})
	if !found {
		j.runs = slices.Insert(j.runs, i, runCount{result: result})
	} else if n == 0 {
		return false
	}
	j.runs[i].n += n
	return true
}

// samples yields the series of family fam: the result label (empty but for
// report_runs_total) and the value.
func (j *jobState) samples(fam int) iter.Seq2[string, float64] {
	return func(yield func(string, float64) bool) {
		if fam != jobRuns {
			if j.has[fam] {
				yield("", j.values[fam])
			}
			return
		}
		for _, r := range j.runs {
			if !yield(r.result, r.n) {
				return
			}
		}
	}
}

// labelValues returns the label values of a series of family fam, in the
// order of jobLabelNames(fam).
func (j *jobState) labelValues(fam int, result string) []string {
	if fam == jobRuns {
		return []string{j.bot, j.window, result}
	}
	return []string{j.bot, j.window}
}

// jobLabels are the variable labels of the per-job families, in the order
// their Descs declare them; only report_runs_total has the last, result.
var jobLabels = []string{"bot", "window", "result"}

// jobLabelNames returns the variable labels of the per-job family fam.
func jobLabelNames(fam int) []string {
	if fam == jobRuns {
		return jobLabels
	}
	return jobLabels[:2]
}

// jobSet is an immutable view of every job's self-metrics with their
// exposition pre-encoded, as a scrape serves them.
type jobSet struct {
	jobs   []*jobState // sorted by (bot, window)
	bodies [expo.NumFormats]expo.Body
}

func (s *jobSet) find(bot, window string) (int, bool) {
	return findBotWindow(s.jobs, bot, window, func(j *jobState) (string, string) { return j.bot, j.window })
}

// jobMetrics holds the current jobSet (see published); readers (scrapes,
// Collect) never wait for a writer.
type jobMetrics struct {
	published[jobSet]
}

func newJobMetrics() *jobMetrics {
	// The pieces are a line or two each: each body is compressed at once,
	// at the fastest level, by the first gzip scrape after a change.
	s := &jobMetrics{published[jobSet]{enc: expo.NewEncoder(jobFamilies[:])}}
	s.cur.Store(s.build(nil))
	return s
}

// update applies change to a copy of the state of bot × window (a new,
// empty one if the job has none) and, if change reports a change,
// re-encodes that job and publishes a new jobSet. change runs with the
// writer lock held.
func (s *jobMetrics) update(bot, window string, change func(j *jobState) bool) {
	bot, window = validUTF8(bot), validUTF8(window)
	s.swap(func(old *jobSet) *jobSet {
		i, found := old.find(bot, window)
		j := &jobState{bot: bot, window: window}
		if found {
			j = old.jobs[i].clone()
		}
		if !change(j) {
			return nil
		}
		s.encode(j)
		return s.build(spliceAt(old.jobs, i, found, j))
	})
}

// forget removes the job bot × window, if it has any series.
func (s *jobMetrics) forget(bot, window string) {
	bot, window = validUTF8(bot), validUTF8(window)
	s.swap(func(old *jobSet) *jobSet {
		i, found := old.find(bot, window)
		if !found {
			return nil
		}
		return s.build(slices.Delete(slices.Clone(old.jobs), i, i+1))
	})
}

// encode pre-encodes j's lines, one piece per format and family.
func (s *jobMetrics) encode(j *jobState) {
	mfs := s.enc.Families()
	for fam, mf := range mfs {
		for result, v := range j.samples(fam) {
			expo.AddSample(mf, v, labelPairs(jobLabelNames(fam), j.labelValues(fam, result)...))
		}
	}
	j.pieces = s.enc.Encode(mfs)
}

// build assembles a jobSet: family by family, the pieces of every job.
func (s *jobMetrics) build(jobs []*jobState) *jobSet {
	js := &jobSet{jobs: jobs}
	s.enc.Layout(&js.bodies, len(jobs), func(i int) *expo.Pieces { return &jobs[i].pieces })
	return js
}

// jobFamily is one per-job family as a prometheus.Collector: constant
// metrics, from a fixed Desc, of the current jobSet's values. It serves
// registries that want the family (tests, anyone gathering Metrics); the
// /metrics handler writes the pre-encoded lines instead.
type jobFamily struct {
	jobs *jobMetrics
	fam  int
	desc *prometheus.Desc
	typ  prometheus.ValueType
}

func newJobFamily(jobs *jobMetrics, fam int) *jobFamily {
	spec := jobFamilies[fam]
	labels, typ := jobLabelNames(fam), prometheus.GaugeValue
	if spec.Counter {
		typ = prometheus.CounterValue
	}
	return &jobFamily{jobs: jobs, fam: fam, desc: prometheus.NewDesc(spec.Name, spec.Help, labels, nil), typ: typ}
}

// Describe sends the family's fixed descriptor.
func (c *jobFamily) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect sends the family's series of every job.
func (c *jobFamily) Collect(ch chan<- prometheus.Metric) {
	for _, j := range c.jobs.load().jobs {
		for result, v := range j.samples(c.fam) {
			ch <- constMetric(c.desc, c.typ, v, j.labelValues(c.fam, result)...)
		}
	}
}

// collectorList is a list of Collectors as one.
type collectorList []prometheus.Collector

func (cs collectorList) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range cs {
		c.Describe(ch)
	}
}

func (cs collectorList) Collect(ch chan<- prometheus.Metric) {
	for _, c := range cs {
		c.Collect(ch)
	}
}

// constMetric returns a constant metric of type t, or an invalid metric
// carrying the error if the label values are refused.
func constMetric(d *prometheus.Desc, t prometheus.ValueType, v float64, labelValues ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, t, v, labelValues...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}
