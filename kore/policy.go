package kore

import (
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// This file holds, in one place, every number the client uses that the
// Kore.ai docs do not fix. Each is an assumption of API.md §7 (or a
// limit of our own) and is easy to change here.

// Defaults and limits of the client.
const (
	// DefaultPageSize is the limit of each page when neither the request
	// nor the client sets one. [assume: API.md §7 skip/limit]
	DefaultPageSize = 100
	// DefaultRequestTimeout bounds one HTTP exchange (connect, headers and
	// body).
	DefaultRequestTimeout = 30 * time.Second
	// DefaultRequestsPerMinute is each bot's sustained request budget: the
	// sustained rate of Kore.ai's 1,800/hour cap.
	DefaultRequestsPerMinute = 30
	// MaxRequestsPerMinute is Kore.ai's per-minute cap per bot for the
	// Analytics APIs (API.md §6).
	MaxRequestsPerMinute = 60
	// MaxRequestsPerHour is Kore.ai's hourly cap per bot (API.md §6).
	MaxRequestsPerHour = 1800
	// DefaultMaxAttempts bounds the attempts of one request (the first try
	// and its retries; the single re-sign after a 401 replay answer is not
	// counted).
	DefaultMaxAttempts = 5
	// DefaultSubject is the JWT sub claim when Credentials.Subject is empty.
	DefaultSubject = "kore_exporter"
	// DefaultMaxReportRows is the most rows one report may hold when
	// ReportRequest.MaxRows is 0 (100 pages of DefaultPageSize).
	DefaultMaxReportRows = 10000
)

const (
	// tokenLifetime is exp − iat of every JWT. [assume: API.md §7 JWT; Enforce
	// JTI apps require exp ≤ 1 h]
	tokenLifetime = 5 * time.Minute

	// maxRetryAfter caps a server's Retry-After. [assume: API.md §7 Rate limit]
	maxRetryAfter = 2 * time.Minute
	// rateLimitWait is the least wait after a rate-limit answer without
	// Retry-After; rateLimitJitter is added to it at random, so bots that
	// were limited together do not come back together. [assume: API.md §7
	// Rate limit: at least 60 s plus jitter]
	rateLimitWait   = 60 * time.Second
	rateLimitJitter = 10 * time.Second

	// maxReruns bounds how many times one report run starts again from its
	// first page after its pages turned out inconsistent (the data moved
	// between the separate jobs of its pages).
	maxReruns = 2

	// defaultJobTTL is how long a job is polled when neither the POST nor a
	// status answer carried expireAt. [doc sample: expireAt = createdOn +
	// 15 min; API.md §4]
	defaultJobTTL = 15 * time.Minute

	// Body size limits. A status page holds every row of one page inline,
	// so it gets the most room; the other bodies are small.
	maxStatusBody = 64 << 20 // GET status/{_id}
	maxSubmitBody = 1 << 20  // POST answer (the job envelope)
	maxErrorBody  = 64 << 10 // any non-2xx answer
	// maxErrorMessage bounds the text of a non-JSON error body kept in an
	// APIError.
	maxErrorMessage = 256
)

// Backoff is a capped exponential backoff schedule with jitter: the n-th wait
// is Initial × Multiplier^(n−1), at most Max, then spread by ±Jitter (a
// fraction, 0 to 1) at random and capped at Max again. The waits are computed
// by github.com/cenkalti/backoff/v5.
type Backoff struct {
	Initial    time.Duration
	Multiplier float64
	Max        time.Duration
	Jitter     float64
}

// defaultPollBackoff spaces the status calls of one job: 2 s, then ×1.5 up to
// 30 s, ±10 %. [assume: API.md §7 Polling]
var defaultPollBackoff = Backoff{Initial: 2 * time.Second, Multiplier: 1.5, Max: 30 * time.Second, Jitter: 0.1}

// DefaultPollBackoff returns how a Client spaces the status calls of one
// job: 2 s, then ×1.5 up to 30 s, ±10 % (API.md §7 Polling).
func DefaultPollBackoff() Backoff { return defaultPollBackoff }

// defaultRetryBackoff spaces the retries of one request after a network error
// or a 5xx answer: 1 s, 2 s, 4 s, 8 s …, at most 30 s, ±50 %. Rate-limit
// answers wait by their own rule (Retry-After or rateLimitWait).
var defaultRetryBackoff = Backoff{Initial: time.Second, Multiplier: 2, Max: 30 * time.Second, Jitter: 0.5}

// Steps returns how many waits of b, taken without jitter, add up to at
// least d: the status calls a job that takes d costs when b spaces them. It
// is 0 for d ≤ 0 and for an invalid b.
func (b Backoff) Steps(d time.Duration) int {
	if d <= 0 || b.validate() != nil {
		return 0
	}
	n := 0
	for wait, total := b.Initial, time.Duration(0); total < d; n++ {
		total += wait
		wait = min(time.Duration(float64(wait)*b.Multiplier), b.Max)
	}
	return n
}

func (b Backoff) validate() error {
	switch {
	case b.Initial <= 0:
		return fmt.Errorf("initial wait must be positive, got %s", b.Initial)
	case b.Multiplier < 1:
		return fmt.Errorf("multiplier must be at least 1, got %g", b.Multiplier)
	case b.Max < b.Initial:
		return fmt.Errorf("max wait (%s) must not be less than the initial wait (%s)", b.Max, b.Initial)
	case b.Jitter < 0 || b.Jitter > 1:
		return fmt.Errorf("jitter must be within [0, 1], got %g", b.Jitter)
	}
	return nil
}

// schedule is one running Backoff. It is not safe for concurrent use.
type schedule struct {
	max time.Duration
	eb  backoff.ExponentialBackOff
}

func (b Backoff) start() *schedule {
	s := &schedule{max: b.Max, eb: backoff.ExponentialBackOff{
		InitialInterval:     b.Initial,
		RandomizationFactor: b.Jitter,
		Multiplier:          b.Multiplier,
		MaxInterval:         b.Max,
	}}
	s.eb.Reset()
	return s
}

// next returns the next wait. backoff/v5 caps the interval before adding
// jitter; the cap here holds for the jittered wait too.
func (s *schedule) next() time.Duration {
	return min(s.eb.NextBackOff(), s.max)
}
