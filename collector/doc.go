// Package collector owns the running exporter between the configuration and
// the HTTP endpoints: the Scheduler that runs, under a limit of job slots,
// one report per bot × window of a config.Config every interval (each run
// through package report) and keeps running the jobs a reload does not
// change; the Store, whose immutable Snapshot of the rows the runs publish
// is pre-encoded (text and OpenMetrics, plain and DEFLATE, by package
// internal/expo) into the data families of package contract when it changes,
// and swapped in with one atomic pointer store; the exporter's self-metrics
// (Metrics, NewRegistry), plain client_golang metrics that a run updates
// with one call when it ends (Metrics.RunEnded) and that the first scrape
// after a change encodes into one cached block; the /metrics handler
// (NewHandler), which writes those bytes, adds what is gathered at scrape
// time and never calls Kore.ai or waits for a job; the HTTP server's
// timeouts (NewServer); and the status, readiness and reload endpoints.
package collector
