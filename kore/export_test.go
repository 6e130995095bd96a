package kore

import "fmt"

// Options only tests use: the exporter takes the defaults, or shares
// budgets (WithBudgets). Tests of package kore_test reach them too.

// WithRequestsPerMinute gives the client its own budgets of n requests per
// minute per bot (default DefaultRequestsPerMinute, the sustained rate of
// Kore.ai's 1,800/hour cap; at most MaxRequestsPerMinute). Whatever the
// budget, the limiter keeps both of Kore.ai's caps (see newBotLimiter).
func WithRequestsPerMinute(n int) Option {
	return func(c *Client) error {
		if n < 1 || n > MaxRequestsPerMinute {
			return fmt.Errorf("kore: WithRequestsPerMinute: must be within [1, %d], got %d", MaxRequestsPerMinute, n)
		}
		c.budgets, _ = NewBudgets(n) // in range
		return nil
	}
}

// WithoutBotLimits turns the per-bot limiters off, for simulators and
// benchmarks: against Kore.ai it only earns rate-limit answers.
func WithoutBotLimits() Option {
	return func(c *Client) error { c.budgets = NewUnlimitedBudgets(); return nil }
}

// WithPageSize sets the default page size (the limit query parameter) of a
// report (default DefaultPageSize); ReportRequest.PageSize overrides it.
func WithPageSize(n int) Option {
	return func(c *Client) error {
		if n < 1 {
			return fmt.Errorf("kore: WithPageSize: must be positive, got %d", n)
		}
		c.pageSize = n
		return nil
	}
}

// WithPollBackoff sets how the status calls of a job are spaced (default: 2 s,
// ×1.5, at most 30 s, ±10 % jitter; an assumption of API.md §7 Polling).
func WithPollBackoff(b Backoff) Option {
	return func(c *Client) error {
		if err := b.validate(); err != nil {
			return fmt.Errorf("kore: WithPollBackoff: %w", err)
		}
		c.pollBackoff = b
		return nil
	}
}

// WithRetryBackoff sets how the retries of a request after a network error
// or a 5xx answer are spaced (default: 1 s, ×2, at most 30 s, ±50 % jitter).
func WithRetryBackoff(b Backoff) Option {
	return func(c *Client) error {
		if err := b.validate(); err != nil {
			return fmt.Errorf("kore: WithRetryBackoff: %w", err)
		}
		c.retryBackoff = b
		return nil
	}
}
