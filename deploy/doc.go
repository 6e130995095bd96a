// Package deploy holds no code: its tests check the files that ship beside
// the exporter, the Grafana dashboards under dashboards/ and the Prometheus
// rules under deploy/prometheus/rules/, against the exporter's own metric
// contract (package collector) and with Prometheus' and Grafana's own
// decoders. It is a separate Go module so that those heavy test-only
// dependencies stay out of the exporter's go.mod.
package deploy
