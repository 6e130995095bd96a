// The kore_exporter monitoring mixin: recording rules, alerts and Grafana
// dashboards, tuned in config.libsonnet. deploy/prometheus/rules/, dashboards/
// and the Helm chart's files/ are generated from it:
//   cd deploy && go test -run TestMixinGenerated -update .
(import 'config.libsonnet') +
(import 'rules.libsonnet') +
(import 'alerts.libsonnet') +
(import 'dashboards.libsonnet')
