// Package kore is a client of Kore.ai's Task Execution-Based Containment
// Report API, and nothing else: no Prometheus types live here. It owns the
// JWT signing, the request and response bodies, the submit → poll → page
// cycle of a report job, the typed errors, the retry policy and the per-bot
// request limiter, and the API's rules that callers check ahead of time:
// host URLs (CheckHost), private keys (ParsePrivateKey), the longest range
// (MaxRange), and the rate limits and defaults of policy.go.
//
// The facts about the API that the code relies on (endpoints, token,
// filters, answers, errors, rate limits) and the assumptions made where
// Kore.ai's docs are silent are written down in API.md, next to this file;
// comments cite its sections ("API.md §7 Polling").
//
// # Use
//
// Build one Client per host and JWT app, and run a report per bot:
//
//	c, err := kore.NewClient(
//		kore.WithHost("https://platform.kore.ai"),
//		kore.WithCredentials(kore.Credentials{ClientID: "cs-…", ClientSecret: secret}),
//	)
//	if err != nil {
//		return err
//	}
//	to := time.Now().UTC().Truncate(time.Hour)
//	rep, err := c.RunContainmentReport(ctx, "st-…", kore.ReportRequest{From: to.Add(-24 * time.Hour), To: to})
//	if err != nil {
//		return err // typed: errors.Is(err, kore.ErrRateLimited), kore.ErrJobExpired …
//	}
//	for _, r := range rep.Rows {
//		fmt.Println(r.TaskName, r.Status, r.TotalSession, r.DropOffSessions)
//	}
//
// A Client is safe for concurrent use. ctx bounds a whole run; each HTTP
// exchange also has the client's request timeout. SubmitReport and
// ReportStatus make the two calls one at a time for callers that want to
// drive a job themselves; DecodeJob and DecodeStatus decode the answers.
//
// # Behaviour
//
// Every request carries a freshly signed JWT (a new jti each time, so apps
// with Enforce JTI accept it). Requests are retried only where that is safe:
// status calls after network errors, rate-limit answers and
// 500/502/503/504; submit calls only after a rate-limit answer or a
// connection that was never made, since any other failure may hide a job
// that was created. Retry-After is honoured up to a
// cap; a rate-limit answer without it waits a minute plus jitter, and
// pauses every call for that bot. A retry wait that would outlive ctx's
// deadline gives up at once. A 401 replay answer is re-signed and sent once more;
// other 401 answers are final.
//
// Each bot has a limiter, shared by every call made for it, that keeps both
// of Kore.ai's caps (60 requests per minute and 1,800 per hour).
//
// Each page of a report is a job of its own, so the data may move between
// pages. RunContainmentReport checks that the pages of one pass add up (the
// same total on every page, full pages before the last, rows summing to the
// total); when they do not, it runs the report again from its first page, a
// few times at most, and then fails with ErrInconsistentPages. A total
// above ReportRequest.MaxRows fails the run after its first page
// (ErrReportTooLarge). Rows are summed per (taskName, taskType, Status)
// over every bucket and page, never dropped as repeats, and a sum beyond
// int64 fails (ErrCountOverflow).
//
// Every string from the server is untrusted. Each answer is scrubbed of the
// request's token before it is read; the job id must look like one before
// it goes into a URL; statuses, error messages, bucket keys and task names
// quoted in errors are bounded in length and made printable. No error holds
// the token, the secret or the key.
//
// The decoders are tolerant where real APIs vary and strict where the
// contract is broken: unknown fields, numbers sent as strings, null for
// absent values and any casing of the job status are accepted; a submit
// answer without _id or status, an _id that is no job id, a finished job
// without its report, a row without taskName or Status, a negative count, a
// wrong type or broken JSON is a *DecodeError naming the field. Response bodies are read through size
// limits.
//
// Every number the docs leave open (page size, polling and retry schedules,
// waits, caps) is a named constant or default in policy.go.
package kore
