// Package report runs one report of one bot × window, the same way for the
// exporter's scheduler, the backfill command and the probe: the window's
// bounds at a run time (WindowBounds), the request of the bot's filters and
// limits (NewRequest), the run itself guarded against panics (RunGuarded)
// on a client from a ClientFactory (KoreClients, with the bot's credentials
// and one shared set of request budgets, NewBudgets), the class of its
// result (Classify, the result label of kore_exporter_report_runs_total),
// and the rows the exporter publishes from it (ExportedRows: capped at
// max_task_rows by folding the smallest tasks, Fold, then with valid labels,
// summed and sorted, Normalize).
package report

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/kore"
)

// Runner runs one report job to its end. *kore.Client implements it; tests
// pass fakes.
type Runner interface {
	RunContainmentReport(ctx context.Context, botID string, req kore.ReportRequest) (*kore.Report, error)
}

// ClientFactory builds the Runner of one bot. Its requests come from
// budgets, shared by every client of one configuration, so the variants of
// one bot id share that bot's budget. obs receives the bot's API
// self-metrics.
type ClientFactory func(bot config.Bot, budgets *kore.Budgets, obs kore.Observer) (Runner, error)

// Run results, the values of the result label of
// kore_exporter_report_runs_total.
const (
	ResultSuccess         = "success"
	ResultUnauthorized    = "unauthorized"
	ResultRateLimited     = "rate_limited"
	ResultJobFailed       = "job_failed"
	ResultJobExpired      = "job_expired"
	ResultInvalidResponse = "invalid_response"
	ResultAPIError        = "api_error"
	ResultTimeout         = "timeout"
	ResultNetwork         = "network"
	ResultError           = "error"
)

// Classify maps a run's error to its result label value.
func Classify(err error) string {
	var (
		apiErr *kore.APIError
		reqErr *kore.RequestError
	)
	switch {
	case err == nil:
		return ResultSuccess
	case errors.Is(err, context.DeadlineExceeded):
		return ResultTimeout
	case errors.Is(err, kore.ErrUnauthorized):
		return ResultUnauthorized
	case errors.Is(err, kore.ErrRateLimited):
		return ResultRateLimited
	case errors.Is(err, kore.ErrJobFailed):
		return ResultJobFailed
	case errors.Is(err, kore.ErrJobExpired):
		return ResultJobExpired
	case errors.Is(err, kore.ErrInvalidResponse), errors.Is(err, kore.ErrInconsistentPages),
		errors.Is(err, kore.ErrReportTooLarge), errors.Is(err, kore.ErrCountOverflow):
		return ResultInvalidResponse
	case errors.As(err, &apiErr):
		return ResultAPIError
	case errors.As(err, &reqErr):
		// No complete answer: refused, reset, hung past the request
		// timeout, a body cut short.
		return ResultNetwork
	default:
		return ResultError
	}
}

// WindowBounds returns the report window of bot b's window w for a run at
// at: it ends b.Delay before at (to the millisecond, as the API's dates
// are) and spans w.
func WindowBounds(b config.Bot, w config.Window, at time.Time) (from, to time.Time) {
	to = at.Add(-b.Delay).UTC().Truncate(time.Millisecond)
	return to.Add(-w.Duration), to
}

// NewRequest returns the report request of bot b over [from, to): its
// filters, page size and row limit, Cumulative.
func NewRequest(b config.Bot, from, to time.Time) kore.ReportRequest {
	var tags []kore.Tag
	for _, t := range b.Filters.Tags {
		tags = append(tags, kore.Tag{Name: t.Name, Values: t.Values, Type: t.Type})
	}
	return kore.ReportRequest{
		From:               from,
		To:                 to,
		IncludeTaskNames:   b.Filters.IncludeTaskNames,
		ConversationType:   b.Filters.ConversationType,
		ConversationStatus: b.Filters.ConversationStatus,
		AggregationType:    kore.AggregationCumulative,
		Tags:               tags,
		PageSize:           b.PageSize,
		MaxRows:            b.MaxReportRows,
	}
}

// RunGuarded runs one report, turning a panic inside it (a bug, say in a
// decoder meeting an answer nobody foresaw) into the run's error, so one bad
// answer cannot take the exporter and every other bot's data down with it.
func RunGuarded(ctx context.Context, c Runner, botID string, req kore.ReportRequest) (rep *kore.Report, err error) {
	defer func() {
		if p := recover(); p != nil {
			rep, err = nil, fmt.Errorf("report run panicked: %v", p)
		}
	}()
	return c.RunContainmentReport(ctx, botID, req)
}

// NewBudgets returns the request budgets of limits, to share between every
// client of one configuration (kore.WithBudgets).
func NewBudgets(l config.Limits) (*kore.Budgets, error) {
	if l.Unlimited {
		return kore.NewUnlimitedBudgets(), nil
	}
	rpm := l.RequestsPerMinutePerBot
	if rpm == 0 { // a Config built in code
		rpm = kore.DefaultRequestsPerMinute
	}
	b, err := kore.NewBudgets(rpm)
	if err != nil {
		return nil, fmt.Errorf("limits.requests_per_minute_per_bot: %w", err)
	}
	return b, nil
}

// KoreClients builds the exporter's kore.Clients (New is a ClientFactory).
// Every client shares one HTTP client, so one pool of connections per
// Kore.ai host serves every bot on it, where a pool per bot would hold a
// connection, its buffers and two goroutines for each bot of a fleet.
type KoreClients struct {
	hc *http.Client
}

// koreIdleConns is how many idle connections per host the shared HTTP
// client keeps: the requests in flight at once to one host, beyond which
// connections are closed after use.
const koreIdleConns = 64

// NewKoreClients returns a KoreClients with a new shared HTTP client.
func NewKoreClients() *KoreClients {
	return &KoreClients{hc: kore.NewHTTPClient(koreIdleConns)}
}

// botCredentials are the bot's client id with its secret, or with its
// parsed RSA private key.
func botCredentials(b config.Bot) (kore.Credentials, error) {
	if b.PrivateKey == "" {
		return kore.Credentials{ClientID: b.ClientID, ClientSecret: b.ClientSecret.Reveal()}, nil
	}
	key, err := kore.ParsePrivateKey([]byte(b.PrivateKey.Reveal()))
	if err != nil {
		return kore.Credentials{}, fmt.Errorf("private key: %w", err)
	}
	return kore.Credentials{ClientID: b.ClientID, PrivateKey: key}, nil
}

// New returns a kore.Client for the bot's host and credentials, taking its
// requests from budgets, over the shared HTTP client.
func (k *KoreClients) New(b config.Bot, budgets *kore.Budgets, obs kore.Observer) (Runner, error) {
	opts, err := BotOptions(b)
	if err != nil {
		return nil, err
	}
	return kore.NewClient(append(opts, kore.WithObserver(obs), kore.WithBudgets(budgets), kore.WithHTTPClient(k.hc))...)
}

// BotOptions are the kore.Client options that come from the bot's
// configuration: its host, its credentials and whether plain HTTP is
// allowed. Callers add how the client is run (HTTP client, budgets,
// observer).
func BotOptions(b config.Bot) ([]kore.Option, error) {
	creds, err := botCredentials(b)
	if err != nil {
		return nil, err
	}
	opts := []kore.Option{kore.WithHost(b.Host), kore.WithCredentials(creds)}
	if b.AllowInsecureHTTP {
		opts = append(opts, kore.WithInsecureHTTP())
	}
	return opts, nil
}
