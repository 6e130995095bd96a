// Package backfill fills Prometheus with the history the exporter would
// have published had it been running: for every configured bot and window,
// at every step of a past range, it runs the report the live exporter runs
// (package report: the same window bounds, request, kore client, limiter
// and retries), keeps the rows the exporter would have published
// (report.ExportedRows) and writes them with timestamps as OpenMetrics text
// of the exporter's own families (package contract), for `promtool tsdb
// create-blocks-from openmetrics`. It owns the plan (points, reports,
// estimated requests and time under the per-bot budget), the run (bots in
// parallel up to limits.max_concurrent_jobs; a bot whose credentials are
// refused is stopped), the resumable state file next to the output (one
// checksummed record a line, so a record cut anywhere is dropped and the
// others kept), the OpenMetrics writer (streamed from the state file, so
// memory does not grow with the rows) and the progress display; the command
// line lives in package main (backfill.go).
package backfill
