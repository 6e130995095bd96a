// Package kore is the client of Kore.ai's Task Execution-Based Containment
// Report API, and nothing else: no Prometheus types live here. It owns the
// JWT signing, the typed request and response bodies, the submit → poll →
// page cycle of a report job, the typed errors, the retry policy and the
// per-bot request limiter.
//
// # Surface
//
//   - NewClient with its Options (WithHost, WithInsecureHTTP,
//     WithCredentials, WithHTTPClient, WithRequestTimeout,
//     WithRequestsPerMinute, WithHostLimiter, WithObserver, WithPageSize,
//     WithMaxAttempts, WithPollBackoff, WithRetryBackoff, WithoutBotLimits)
//     builds a Client for one host and one JWT app (Credentials).
//   - Client.RunContainmentReport runs a whole report (every page) and
//     returns a Report of TaskRows summed per (taskName, taskType, Status).
//     Client.SubmitReport and Client.ReportStatus are its two calls, one
//     exchange each (with retries).
//   - ReportRequest holds the filters (dates in DateFormat, UTC;
//     AggregationType Cumulative by default); ReportRequest.Body is its
//     JSON.
//   - DecodeJob and DecodeStatus decode the two answers into Job and
//     JobStatus (with a TasksExecutionReport); ParseJobState and Job.State
//     read the status string.
//   - Errors: *APIError (any non-2xx), *AuthError (401, classified by
//     AuthReason), *RateLimitError (with Retry-After), *JobError (failed or
//     expired job), *DecodeError (a body that breaks the contract, naming the
//     field), *RequestError (no complete answer). Sentinels for errors.Is:
//     ErrUnauthorized, ErrRateLimited, ErrJobFailed, ErrJobExpired,
//     ErrInvalidResponse, ErrResponseTooLarge. When the caller's context is
//     done, the error wraps its error (context.Canceled or
//     context.DeadlineExceeded). No error holds the JWT or the secret.
//   - Observer (and NopObserver) is told of every HTTP exchange and every
//     retry; collector/ turns that into self-metrics.
//
// # Behaviour
//
// Every request carries a fresh JWT in the auth header (appId, sub, iat,
// exp = iat + 5 min, a random jti), HS256 with the client secret or RS256
// with a private key. Requests are retried only where that is safe: the
// status call after network errors, 429 and 500/502/503/504; the submit call
// only after 429 or a connection that was never made (any other failure may
// hide a created job). Retry-After is honoured up to 2 minutes; a 429
// without it waits 60 s plus jitter; a wait that would outlive the context's
// deadline gives up at once. A 401 replay answer is re-signed and sent once
// more; other 401 answers are final.
//
// Each bot has a limiter, shared by every call for it, that keeps both of
// Kore.ai's caps (60 per minute and 1,800 per hour); an optional host limiter
// bounds the whole client. Every number that the Kore.ai docs leave open is
// an assumption kept in policy.go (see kore-api.md §7).
package kore
