package collector

import "github.com/prometheus/client_golang/prometheus"

// Test-only accessors.

// WithLabelValues returns the one series of the family with the label
// values bot, window (and result, for report_runs_total), as a Collector of
// its current value: 0 if the series does not exist, which is what a
// client_golang vector reads for it (without creating it).
func (c *jobFamily) WithLabelValues(lvs ...string) prometheus.Collector {
	return jobSeries{c: c, lvs: lvs}
}

// jobSeries is one series of a jobFamily; see WithLabelValues.
type jobSeries struct {
	c   *jobFamily
	lvs []string
}

func (s jobSeries) Describe(ch chan<- *prometheus.Desc) { ch <- s.c.desc }

func (s jobSeries) Collect(ch chan<- prometheus.Metric) {
	v := 0.0
	if len(s.lvs) >= 2 {
		js := s.c.jobs.load()
		if i, ok := js.find(validUTF8(s.lvs[0]), validUTF8(s.lvs[1])); ok {
			for result, x := range js.jobs[i].samples(s.c.fam) {
				if s.c.fam != jobRuns || (len(s.lvs) == 3 && result == s.lvs[2]) {
					v = x
				}
			}
		}
	}
	ch <- constMetric(s.c.desc, s.c.typ, v, s.lvs...)
}
