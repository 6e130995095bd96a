package collector

import (
	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/kore"
)

// This file exports the data metric contract of exposition.go (names, HELP
// texts, label names and the source field of each task family) for other
// writers of the same series, such as the backfill command, so that they
// never keep a copy of it.

// TaskFamily is one kore_task_* family of the metric contract.
type TaskFamily struct {
	// Name is the metric name; Help its HELP text.
	Name, Help string
	// Value returns the family's source field of a row.
	Value func(r *kore.TaskRow) int64
}

// TaskFamilies returns the kore_task_* families, sorted by name (the order
// the exporter writes them in).
func TaskFamilies() []TaskFamily {
	out := make([]TaskFamily, 0, numTaskFamilies)
	for fam := firstTaskFamily; fam < numFamilies; fam++ {
		out = append(out, TaskFamily{
			Name:  dataFamilies[fam].name,
			Help:  dataFamilies[fam].help,
			Value: func(r *kore.TaskRow) int64 { return taskValue(fam, r) },
		})
	}
	return out
}

// TaskLabelNames returns the label names of the kore_task_* families, in
// the order their values are given: bot, window, task_name, task_type,
// status.
func TaskLabelNames() []string { return append([]string(nil), taskLabels...) }

// BotInfoFamily returns the name and HELP text of kore_bot_info.
func BotInfoFamily() (name, help string) {
	return dataFamilies[famBotInfo].name, dataFamilies[famBotInfo].help
}

// BotInfoLabels returns the labels of bot b's kore_bot_info sample, as
// name-value pairs sorted by name, with values made valid UTF-8, exactly as
// the exporter publishes them (its static labels included).
func BotInfoLabels(b config.Bot) [][2]string {
	return BotInfo{Name: b.Name, BotID: b.BotID, Host: b.Host, Labels: b.Labels}.labels()
}
