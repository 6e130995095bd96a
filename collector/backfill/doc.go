// Package backfill fills Prometheus with the history the exporter would have
// published had it been running: for every configured bot and window, at
// every step of a past range, it runs the same containment report the live
// exporter runs (collector.WindowBounds, collector.NewReportRequest, the same
// kore client, limiter and retries), keeps the rows the exporter would have
// published (collector.ExportedRows) and writes them as OpenMetrics text
// with timestamps, for `promtool tsdb create-blocks-from openmetrics`.
//
// It owns the plan (points, reports, estimated requests and time under the
// per-bot budget), the run (bots in parallel up to
// limits.max_concurrent_jobs), the resumable state file next to the output,
// the OpenMetrics writer and the progress display. The command line lives
// in package main (backfill.go).
package backfill
