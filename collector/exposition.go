package collector

import (
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"

	"github.com/kore-exporter/kore_exporter/collector/contract"
	"github.com/kore-exporter/kore_exporter/collector/internal/expo"
	"github.com/kore-exporter/kore_exporter/kore"
)

// This file turns snapshot rows into exposition pieces ahead of any scrape,
// with package expo (docs/performance.md): the data lines are written
// once, by the text encoder, serve OpenMetrics too, and are compressed
// piece by piece when laid out.

// The data metric families (package contract), in the order a
// prometheus.Registry gathers them (sorted by name): kore_bot_info,
// kore_bot_sessions (labels contract.SessionLabels), then the task
// families, which carry the labels contract.TaskLabels.
var (
	taskFamilies  = contract.TaskFamilies()
	taskLabels    = contract.TaskLabels()
	sessionLabels = contract.SessionLabels()
	dataFamilies  = func() []expo.Family {
		out := []expo.Family{{Name: contract.BotInfo().Name, Help: contract.BotInfo().Help},
			{Name: contract.BotSessions().Name, Help: contract.BotSessions().Help}}
		for _, f := range taskFamilies {
			out = append(out, expo.Family{Name: f.Name, Help: f.Help})
		}
		return out
	}()
)

// famBotInfo, famBotSessions and firstTaskFamily index dataFamilies.
const (
	famBotInfo      = 0
	famBotSessions  = 1
	firstTaskFamily = 2
)

// inFamilies reports whether name is one of specs, so a live self-metric
// with such a name can be refused instead of breaking the exposition with
// a duplicate family.
func inFamilies(specs []expo.Family, name string) bool {
	for i := range specs {
		if specs[i].Name == name {
			return true
		}
	}
	return false
}

// labelPairs returns the label pairs of names and values (as many), sorted
// by name as the client library sorts them. The values must be valid UTF-8.
func labelPairs(names []string, values ...string) []*dto.LabelPair {
	pairs := make([]dto.LabelPair, len(names))
	out := make([]*dto.LabelPair, len(names))
	for i := range names {
		pairs[i].Name, pairs[i].Value = &names[i], &values[i]
		out[i] = &pairs[i]
	}
	slices.SortFunc(out, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

// encodePart pre-encodes rows, which must be normalised (merged, valid
// UTF-8), for the part bot × window.
func encodePart(e *expo.Encoder, bot, window string, rows []kore.TaskRow) expo.Pieces {
	mfs := e.Families()
	for r := range rows {
		row := &rows[r]
		labels := labelPairs(taskLabels, bot, window, row.TaskName, row.TaskType, row.Status)
		for i, f := range taskFamilies {
			expo.AddSample(mfs[firstTaskFamily+i], float64(row.Count(f.Field)), labels)
		}
	}
	return e.Encode(mfs)
}

// encodeSessions pre-encodes the kore_bot_sessions lines of one bot's rows
// (valid UTF-8).
func encodeSessions(e *expo.Encoder, bot string, rows []SessionRow) expo.Pieces {
	mfs := e.Families()
	for _, r := range rows {
		expo.AddSample(mfs[famBotSessions], float64(r.Sessions), labelPairs(sessionLabels, bot, r.Window, r.Containment, r.Channel, r.SessionType))
	}
	return e.Encode(mfs)
}

// encodeBotInfo pre-encodes the kore_bot_info lines of bots (sorted, valid
// UTF-8).
func encodeBotInfo(e *expo.Encoder, bots []BotInfo) expo.Pieces {
	mfs := e.Families()
	for _, b := range bots {
		pairs := b.labels()
		labels := make([]*dto.LabelPair, len(pairs))
		for i := range pairs {
			labels[i] = &dto.LabelPair{Name: &pairs[i][0], Value: &pairs[i][1]}
		}
		expo.AddSample(mfs[famBotInfo], 1, labels)
	}
	return e.Encode(mfs)
}
