package collector

import (
	"bytes"

	"github.com/kore-exporter/kore_exporter/collector/internal/expo"
	"github.com/kore-exporter/kore_exporter/kore"
)

// Test-only accessors.

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

// Series returns how many data series the snapshot exposes (task series,
// kore_bot_sessions and kore_bot_info).
func (sn *Snapshot) Series() int {
	n := len(sn.bots)
	for _, p := range sn.parts {
		n += len(p.Rows)*numTaskFamilies + len(p.Sessions)
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
