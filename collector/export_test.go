package collector

import (
	"bytes"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kore-exporter/kore_exporter/collector/internal/expo"
	"github.com/kore-exporter/kore_exporter/kore"
)

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

// Generation counts the snapshots a Store has published; the first (empty)
// snapshot is generation 0.
func (sn *Snapshot) Generation() uint64 { return sn.generation }

// Bots returns the configured bots, sorted by name. The slice must not be
// modified.
func (sn *Snapshot) Bots() []BotInfo { return sn.bots }

// Parts returns a copy of every part, sorted by bot and window.
func (sn *Snapshot) Parts() []Part {
	out := make([]Part, len(sn.parts))
	for i, p := range sn.parts {
		out[i] = *p
	}
	return out
}

func (sn *Snapshot) find(bot, window string) (int, bool) {
	return findPart(sn.parts, bot, window)
}

// Part returns the part of bot × window, if there is one.
func (sn *Snapshot) Part(bot, window string) (Part, bool) {
	if i, ok := sn.find(bot, window); ok {
		return *sn.parts[i], true
	}
	return Part{}, false
}

// Rows returns the rows of bot × window, nil if there are none. The slice
// must not be modified.
func (sn *Snapshot) Rows(bot, window string) []kore.TaskRow {
	if i, ok := sn.find(bot, window); ok {
		return sn.parts[i].Rows
	}
	return nil
}

// Series returns how many data series the snapshot exposes (task series
// and kore_bot_info).
func (sn *Snapshot) Series() int {
	n := len(sn.bots)
	for _, p := range sn.parts {
		n += len(p.Rows) * numTaskFamilies
	}
	return n
}

// numTaskFamilies is the number of kore_task_* families.
var numTaskFamilies = len(taskFamilies)

// numFamilies is the number of data families.
var numFamilies = len(dataFamilies)

// taskValue returns the value of row in the data family fam, a task family.
func taskValue(fam int, row *kore.TaskRow) int64 {
	return row.Count(taskFamilies[fam-firstTaskFamily].Field)
}

// The pre-encoded formats, by their short names.
type format = expo.Format

const (
	fmtText        = expo.Text
	fmtOpenMetrics = expo.OpenMetrics
	numFormats     = expo.NumFormats
)

// plainBytes returns b's uncompressed bytes.
func plainBytes(b *expo.Body) []byte {
	var buf bytes.Buffer
	_, _ = b.WriteTo(&buf) // writes to a bytes.Buffer cannot fail
	return buf.Bytes()
}
