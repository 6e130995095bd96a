package collector

import (
	"github.com/prometheus/client_golang/prometheus"
)

// DataCollector exposes a Store's current snapshot as constant gauges: the
// kore_task_* families, kore_bot_sessions and kore_bot_info, the way promhttp would serve
// them. The /metrics handler serves the same series from the pre-encoded
// snapshot; DataCollector is the reference those bytes are tested against.
//
// It is an unchecked collector (Describe sends nothing): kore_bot_info
// carries each bot's static labels, so its label names vary from bot to bot.
type DataCollector struct {
	store    *Store
	task     []*prometheus.Desc
	sessions *prometheus.Desc
}

// NewDataCollector returns a DataCollector over store.
func NewDataCollector(store *Store) *DataCollector {
	sf := dataFamilies[famBotSessions]
	c := &DataCollector{store: store, sessions: prometheus.NewDesc(sf.Name, sf.Help, sessionLabels, nil)}
	for _, f := range taskFamilies {
		c.task = append(c.task, prometheus.NewDesc(f.Name, f.Help, taskLabels, nil))
	}
	return c
}

// Describe sends nothing: DataCollector is unchecked (see the type).
func (c *DataCollector) Describe(chan<- *prometheus.Desc) {}

// Collect sends one gauge per configured bot and per row and task family of
// the current snapshot.
func (c *DataCollector) Collect(ch chan<- prometheus.Metric) {
	sn := c.store.Load()
	info := dataFamilies[famBotInfo]
	for _, b := range sn.bots {
		pairs := b.labels()
		names, values := make([]string, len(pairs)), make([]string, len(pairs))
		for i, p := range pairs {
			names[i], values[i] = p[0], p[1]
		}
		ch <- constMetric(prometheus.NewDesc(info.Name, info.Help, names, nil), prometheus.GaugeValue, 1, values...)
	}
	for _, p := range sn.parts {
		for _, r := range p.Sessions {
			ch <- constMetric(c.sessions, prometheus.GaugeValue, float64(r.Sessions), p.Bot, r.Window, r.Containment, r.Channel, r.SessionType)
		}
		for r := range p.Rows {
			row := &p.Rows[r]
			for i, d := range c.task {
				ch <- constMetric(d, prometheus.GaugeValue, float64(row.Count(taskFamilies[i].Field)),
					p.Bot, p.Window, row.TaskName, row.TaskType, row.Status)
			}
		}
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
