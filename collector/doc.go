// Package collector owns everything between the Kore.ai client and the
// /metrics endpoint: the scheduler that runs one report job per bot ×
// window of a config.Config, the Store of immutable snapshots the jobs
// publish into, the pre-encoded exposition of those snapshots, the
// DataCollector that exposes the same data as constant gauges, the
// exporter's self-metrics, and the /metrics handler.
//
// Data flows one way: a finished job publishes its rows into the Store
// (Store.Publish), which pre-encodes them (text and OpenMetrics, plain and
// DEFLATE) and swaps in a new Snapshot with one atomic pointer store. A
// scrape (NewHandler) loads the current snapshot, writes its bytes, and
// adds the self-metrics (Metrics, NewRegistry): the per-job ones
// (kore_exporter_report_*), pre-encoded the same way whenever a job is
// configured or a run starts, finishes or is skipped; the others, encoded
// by the first scrape after a change; and the Go runtime and process
// metrics, gathered at scrape time.
// Scrapes never call Kore.ai and never wait for a job.
//
// Scheduler.Apply applies a configuration while jobs run: jobs whose bot
// settings, window and limits did not change keep running with their
// schedule and client; every client takes its requests from one
// kore.Budgets (NewBudgets), so the variants of one bot id share that bot's
// budget.
package collector
