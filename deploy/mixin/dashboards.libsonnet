// The Grafana dashboards, by file name. Each is a function of the
// configuration (config.libsonnet), so its thresholds are the alerts'.
{
  grafanaDashboards+:: {
    'kore-containment-overview.json': (import 'dashboards/kore-containment-overview.libsonnet')($._config),
    'kore-exporter-health.json': (import 'dashboards/kore-exporter-health.libsonnet')($._config),
    'kore-oncall.json': (import 'dashboards/kore-oncall.libsonnet')($._config),
    'kore-task-drilldown.json': (import 'dashboards/kore-task-drilldown.libsonnet')($._config),
  },
}
