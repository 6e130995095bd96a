package kore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// botLimiter holds the request budget of one bot. Kore.ai enforces two
// rolling windows per bot, both at once: 60 requests per minute and 1,800
// per hour (API.md §6). A token bucket of rate r (per second) and burst
// b lets through at most b + r·T requests in any window of T seconds, so
// one bucket per window keeps each cap when b + r·T ≤ cap:
//
//	minute bucket: r = n/60, b = 60 − n (at least 1)
//	               → b + r·60 = 60 − n + n = 60 requests per minute
//	hour bucket:   r = (1800 − b)/3600, b = the minute bucket's burst
//	               → b + r·3600 = 1800 requests per hour
//
// where n is the configured budget per minute (1…60). Requests need a token
// from both buckets, so the burst is b and the sustained rate is the lower of
// the two rates: for the default n = 30, a burst of 30 and 29.5 requests per
// minute (1,770/h + the burst of 30 = 1,800/h); for n = 60, a burst of 1 and
// 29.99/min; for n ≤ 29 the minute bucket alone is the tighter one (n·60 +
// (60 − n) ≤ 1,800), and the hour bucket never binds.
//
// A rate-limit answer pauses the whole bot (every call for it) until the
// wait it asked for has passed.
type botLimiter struct {
	minute, hour *rate.Limiter

	mu          sync.Mutex
	pausedUntil time.Time
}

// Budgets holds the request budget of each bot, by bot id. A Client keeps
// its own unless it is given one with WithBudgets: clients that share a
// Budgets share each bot's budget, so several configured variants of one bot
// (each with its own client) never exceed Kore.ai's caps for that bot
// together. It is safe for concurrent use.
type Budgets struct {
	perMinute int // 0: unlimited (NewUnlimitedBudgets)

	mu   sync.Mutex
	bots map[string]*botLimiter
}

// NewBudgets returns a Budgets that gives every bot perMinute requests per
// minute (1…MaxRequestsPerMinute), within Kore.ai's caps (see
// newBotLimiter).
func NewBudgets(perMinute int) (*Budgets, error) {
	if perMinute < 1 || perMinute > MaxRequestsPerMinute {
		return nil, fmt.Errorf("kore: budget must be within [1, %d] requests per minute, got %d", MaxRequestsPerMinute, perMinute)
	}
	return &Budgets{perMinute: perMinute, bots: make(map[string]*botLimiter)}, nil
}

// NewUnlimitedBudgets returns a Budgets that limits nothing, for a simulated
// API (the exporter's --demo backfill): against Kore.ai it only earns
// rate-limit answers.
func NewUnlimitedBudgets() *Budgets { return &Budgets{bots: make(map[string]*botLimiter)} }

// bot returns the bot's limiter, creating it on first use.
func (b *Budgets) bot(botID string) *botLimiter {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.bots[botID]
	if !ok {
		if b.perMinute == 0 {
			inf := rate.NewLimiter(rate.Inf, 1)
			l = &botLimiter{minute: inf, hour: inf}
		} else {
			l = newBotLimiter(b.perMinute)
		}
		b.bots[botID] = l
	}
	return l
}

func newBotLimiter(perMinute int) *botLimiter {
	burst := max(MaxRequestsPerMinute-perMinute, 1)
	return &botLimiter{
		minute: rate.NewLimiter(rate.Limit(float64(perMinute)/60), burst),
		hour:   rate.NewLimiter(rate.Limit(float64(MaxRequestsPerHour-burst)/3600), burst),
	}
}

// pause holds every request of the bot until t.
func (l *botLimiter) pause(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.pausedUntil) {
		l.pausedUntil = t
	}
}

// errBudget is returned when the next request slot lies past ctx's deadline;
// it wraps context.DeadlineExceeded because the run cannot finish in time.
type errBudget struct {
	botID string
	delay time.Duration
}

func (e *errBudget) Error() string {
	return fmt.Sprintf("bot %s: next request slot in %s is past the deadline", e.botID, e.delay.Round(time.Millisecond))
}

func (e *errBudget) Unwrap() error { return context.DeadlineExceeded }

// wait blocks until the bot's limiter lets a request through, or ctx is
// done. A token is reserved on both buckets at once and the wait is the
// longer delay, so neither bucket hands out a token that is then held while
// the other one waits.
func (c *Client) wait(ctx context.Context, botID string) error {
	l := c.limiter(botID)
	l.mu.Lock()
	until := l.pausedUntil
	l.mu.Unlock()
	if d := time.Until(until); d > 0 {
		if err := c.budgetFits(ctx, botID, d); err != nil {
			return err
		}
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}

	now := time.Now()
	rs := [...]*rate.Reservation{l.minute.ReserveN(now, 1), l.hour.ReserveN(now, 1)}
	var delay time.Duration
	for _, r := range rs {
		delay = max(delay, r.DelayFrom(now)) // burst ≥ 1: every reservation is OK
	}
	if delay == 0 {
		return nil
	}
	cancel := func() {
		t := time.Now()
		for _, r := range rs {
			r.CancelAt(t)
		}
	}
	if err := c.budgetFits(ctx, botID, delay); err != nil {
		cancel()
		return err
	}
	if err := sleep(ctx, delay); err != nil {
		cancel()
		return err
	}
	return nil
}

func (c *Client) budgetFits(ctx context.Context, botID string, d time.Duration) error {
	if dl, ok := ctx.Deadline(); ok && d > time.Until(dl) {
		return &errBudget{botID: botID, delay: d}
	}
	return nil
}

// sleep waits d or until ctx is done, whichever comes first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
