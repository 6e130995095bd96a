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
type DataCollector struct {
	store   *Store
	botInfo *prometheus.Desc
	task    [numTaskFamilies]*prometheus.Desc
}

var _ prometheus.Collector = (*DataCollector)(nil)

// NewDataCollector returns a DataCollector over store.
func NewDataCollector(store *Store) *DataCollector {
	c := &DataCollector{store: store}
	spec := dataFamilies[famBotInfo]
	c.botInfo = prometheus.NewDesc(spec.name, spec.help, botInfoLabels, nil)
	for i := range c.task {
		spec := dataFamilies[firstTaskFamily+i]
		c.task[i] = prometheus.NewDesc(spec.name, spec.help, taskLabels, nil)
	}
	return c
}

// Describe sends the fixed descriptors of the data metrics.
func (c *DataCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.botInfo
	for _, d := range c.task {
		ch <- d
	}
}

// Collect sends one gauge per configured bot and per row and task family of
// the current snapshot.
func (c *DataCollector) Collect(ch chan<- prometheus.Metric) {
	sn := c.store.Load()
	for _, b := range sn.bots {
		ch <- constGauge(c.botInfo, 1, b.Name, b.BotID, b.Host)
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
