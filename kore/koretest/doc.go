// Package koretest is an in-process simulator of the Kore.ai Task
// Execution-Based Containment Report API, in the spirit of net/http/httptest.
//
// It serves POST /api/public/bot/{botId}/taskContainmentReport (submit a
// report job for one page of rows) and GET
// /api/public/bot/{botId}/taskContainmentReport/status/{_id} (poll it) as
// kore/API.md describes them, with its §7 assumptions where Kore.ai's docs
// are silent: JWTs in the auth header (HS256 with the client secret, or
// RS256 with a configured public key; the appId claim; exp; the app's
// Enforce JTI rules), the Metrics scope, request validation
// (date formats, defaults, the 90-day and 30-day Daily limits, case-sensitive
// enums, unknown keys), jobs whose percentageComplete climbs until they
// succeed and which expire at expireAt, skip/limit paging, Kore.ai's error
// bodies, and rolling per-bot and per-job rate limits answered with 429 and
// Retry-After.
//
// It also serves the Sessions History API, POST
// /api/public/bot/{botId}/getSessions (kore/API.md §9; the Bot Sessions
// scope), from the same data: each session groups one to three of the
// task sessions the containment report counts, so a session that ran
// three tasks is one session there and one in each task's row here;
// Sessions returns the truth a correct client must count.
//
// Its data is synthetic, deterministic from a seed and alive: each bot has
// 20 to 60 realistic dialog, alert and FAQ tasks with success and failtask
// rows, diurnal and weekly traffic, slowly drifting containment ratios and a
// switch that makes one task's drop-off surge (SetDropOffSurge). Counts are
// additive over time: any split of a window sums to the window. Expected
// returns what a correct client must report. Bot.Volume scales a bot's
// traffic; at DenseVolume every report holds both rows of every task, for
// benchmarks of a known size.
//
// Faults (SetFault) inject 5xx answers (on every call or on status calls
// only), latency, hung connections, endless slow bodies, bodies over a
// size, truncated, malformed or wrongly typed bodies, failed,
// never-finishing or forgotten jobs, bad credentials, refused
// connections, rows split into several records, counts that overflow
// int64, task-name floods, misstated totals and rate limiting with any
// form of Retry-After, per bot, at run time.
//
// A Clock (ManualClock in tests) drives job progress and expiry, rate-limit
// windows, JWT expiry and the data's "now". Client returns an *http.Client
// that calls the handler without a network, so tests may run inside
// testing/synctest bubbles; NewServer also listens on loopback, for
// end-to-end tests and the exporter's --demo mode.
//
// The package deliberately does not import the kore client package: it is
// an independent implementation of the server side, so that a client bug
// cannot hide in shared code.
package koretest
