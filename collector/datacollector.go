package collector

import (
	"github.com/prometheus/client_golang/prometheus"
)

// DataCollector exposes a Store's current snapshot as constant gauges: the
// kore_task_* families and kore_bot_info. Collect loads the snapshot once and
// never calls Kore.ai. The /metrics handler serves the same series from the
// pre-encoded snapshot without it; DataCollector is the reference those bytes
// are tested against, and the path for anyone who wants the data in their own
// registry.
//
// It is an unchecked collector (Describe sends nothing): kore_bot_info
// carries each bot's static labels, so its label names vary from bot to bot.
type DataCollector struct {
	store *Store
	task  [numTaskFamilies]*prometheus.Desc
}

var _ prometheus.Collector = (*DataCollector)(nil)

// NewDataCollector returns a DataCollector over store.
func NewDataCollector(store *Store) *DataCollector {
	c := &DataCollector{store: store}
	for i := range c.task {
		spec := dataFamilies[firstTaskFamily+i]
		c.task[i] = prometheus.NewDesc(spec.name, spec.help, taskLabels, nil)
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
		ch <- constGauge(prometheus.NewDesc(info.name, info.help, names, nil), 1, values...)
	}
	for _, p := range sn.parts {
		for r := range p.Rows {
			row := &p.Rows[r]
			for i, d := range c.task {
				v := float64(taskValue(firstTaskFamily+i, row))
				ch <- constGauge(d, v, p.Bot, p.Window, row.TaskName, row.TaskType, row.Status)
			}
		}
	}
}

// constGauge returns a constant gauge, or an invalid metric carrying the
// error (the registry reports it) if the label values are refused.
func constGauge(d *prometheus.Desc, v float64, labelValues ...string) prometheus.Metric {
	return constMetric(d, prometheus.GaugeValue, v, labelValues...)
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
