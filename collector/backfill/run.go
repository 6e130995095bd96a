package backfill

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

// reportsPerBot is how many reports of one bot run at once: two, so that
// one report's submit overlaps the other's wait for its job, while the
// bot's limiter, not a queue of waiting reports, sets the pace and the
// other bots keep their share of limits.max_concurrent_jobs.
const reportsPerBot = 2

// RunOptions are what a run needs besides its plan.
type RunOptions struct {
	Logger log.Logger
	// NewClient builds the client of a bot: report.NewKoreClients().New in
	// the command, with the per-bot limiter and retries of the exporter.
	NewClient report.ClientFactory
	// State holds the points already done (they are skipped) and takes
	// every point finished now.
	State *State
	// Progress is told about every point; nil shows nothing.
	Progress Progress
}

// Failure is a point whose report failed after the client's retries.
type Failure struct {
	Bot, Window string
	At          time.Time
	Result      string // report.Classify's result label value
	Err         string // secrets redacted
}

func (f Failure) String() string {
	return fmt.Sprintf("bot %s window %s at %s: %s: %s", f.Bot, f.Window, fmtTime(f.At), f.Result, f.Err)
}

// Result sums up a run.
type Result struct {
	// Points is the plan's points; Resumed those already in the state.
	Points, Resumed int
	// Done is the points finished in this run; Reports the reports run
	// (finished, failed or canceled).
	Done, Reports int
	// Requests and Retries are the client's HTTP exchanges and retries.
	Requests, Retries int64
	// Failed lists the points whose report failed, in plan order.
	Failed []Failure
	// Interrupted is set when ctx ended before every point was run.
	Interrupted bool
	// Elapsed is the run's wall time.
	Elapsed time.Duration
	// Redacted counts the report rows of this run that held a token in a
	// label (report.RedactTokens); the token is replaced before the rows
	// are written.
	Redacted int
	// Stopped lists the bots stopped because the API refused their
	// credentials (401 or 403), in configuration order.
	Stopped []Stopped
}

// Stopped is a bot whose points stopped at its first answer of 401 or 403:
// its credentials or its app's scopes are wrong, so every other point
// would fail the same way and spend the bot's budget.
type Stopped struct {
	Bot string
	// Cause is the failing point's error, secrets redacted.
	Cause string
	// Skipped is how many of the bot's points were not tried.
	Skipped int
}

func (s Stopped) String() string {
	return fmt.Sprintf("bot %s stopped, %d points not tried: %s", s.Bot, s.Skipped, s.Cause)
}

// refused reports whether err is an answer that refuses the bot's
// credentials or scopes: 401, or 403.
func refused(err error) bool {
	var apiErr *kore.APIError
	return errors.Is(err, kore.ErrUnauthorized) || errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusForbidden
}

// counter is the kore.Observer of a run.
type counter struct{ requests, retries atomic.Int64 }

func (c *counter) RequestDone(string, kore.Endpoint, int, time.Duration) { c.requests.Add(1) }
func (c *counter) Retry(string, kore.Endpoint, string)                   { c.retries.Add(1) }

// Run runs every point of plan that opts.State does not hold yet: each
// bot's points in plan order, at most reportsPerBot at once per bot and
// limits.max_concurrent_jobs in all. Every bot gets its own client, all
// taking their requests from one kore.Budgets, so variants of one bot_id
// share its budget. When ctx ends, running reports are canceled (their
// points stay missing, to run on a rerun) and Run returns with Interrupted
// set. A bot whose report is refused (401, 403) is stopped: its other
// points are not tried (Result.Stopped). When the state cannot be written,
// the run stops at once: no other report starts, the running ones are
// canceled, and Run returns the state's error. An error is returned only
// then, or when no run was possible (a client cannot be built).
func Run(ctx context.Context, plan *Plan, opts RunOptions) (*Result, error) {
	start := time.Now()
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	progress := opts.Progress
	if progress == nil {
		progress = nopProgress{}
	}
	cfg := plan.Config
	obs := &counter{}
	budgets, err := report.NewBudgets(cfg.Limits)
	if err != nil {
		return nil, err
	}
	// One client per bot, with its own host and credentials; variants of a
	// bot_id share its budget through budgets.
	clients := make([]report.Runner, len(cfg.Bots))
	for i, b := range cfg.Bots {
		c, err := opts.NewClient(b, budgets, obs)
		if err != nil {
			return nil, fmt.Errorf("bots[%d] (%s): build client: %w", i, b.Name, err)
		}
		clients[i] = c
	}
	redact := cfg.Redactor()

	res := &Result{}
	queues := map[string][]Point{} // by bot_id
	var order []string
	for _, pt := range plan.Points() {
		res.Points++
		if opts.State.has(keyOf(cfg, pt)) {
			res.Resumed++
			continue
		}
		id := cfg.Bots[pt.Bot].BotID
		if _, ok := queues[id]; !ok {
			order = append(order, id)
		}
		queues[id] = append(queues[id], pt)
	}
	running := &InFlight{}
	progress.Start(res.Points, res.Resumed, running)
	defer progress.Finish()

	// runCtx ends with ctx, or when the state cannot be written; a bot's
	// context also when the bot is stopped.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	botCtx := make([]context.Context, len(cfg.Bots))
	stopBot := make([]context.CancelFunc, len(cfg.Bots))
	for i := range cfg.Bots {
		botCtx[i], stopBot[i] = context.WithCancel(runCtx)
	}
	defer func() {
		for _, stop := range stopBot {
			stop()
		}
	}()
	var (
		mu       sync.Mutex
		failures = map[Point]Failure{}
		stopped  = map[int]Stopped{}
		stateErr error
		wg       sync.WaitGroup
	)
	slots := make(chan struct{}, max(1, cfg.Limits.MaxConcurrentJobs))
	for _, id := range order {
		next := make(chan Point)
		wg.Go(func() {
			defer close(next)
			for _, pt := range queues[id] {
				select {
				case next <- pt:
				case <-runCtx.Done():
					return
				}
			}
		})
		for range reportsPerBot {
			wg.Go(func() {
				for pt := range next {
					bctx := botCtx[pt.Bot]
					if bctx.Err() != nil {
						continue // drain: the run or the bot is stopped
					}
					select {
					case slots <- struct{}{}:
					case <-bctx.Done():
						continue
					}
					if bctx.Err() != nil {
						<-slots
						continue
					}
					b := cfg.Bots[pt.Bot]
					flight := running.begin(time.Now().Add(b.Timeout))
					var (
						rows     []kore.TaskRow
						redacted int
						err      error
					)
					if isSpan(pt) {
						rows, err = runSpan(bctx, clients[pt.Bot], b, pt)
					} else {
						rows, redacted, err = runPoint(bctx, clients[pt.Bot], b, pt)
					}
					running.end(flight)
					if err == nil {
						// Before the slot is given back, so that no
						// report starts once a write has failed.
						err = opts.State.add(keyOf(cfg, pt), rows)
						if err != nil {
							mu.Lock()
							if stateErr == nil {
								stateErr = err
							}
							mu.Unlock()
							stopRun()
						}
						<-slots
						mu.Lock()
						res.Reports++
						res.Redacted += redacted
						if err == nil {
							res.Done++
						}
						mu.Unlock()
						if err == nil {
							progress.Add(false)
						}
						continue
					}
					<-slots
					mu.Lock()
					res.Reports++
					mu.Unlock()
					if bctx.Err() != nil {
						continue // interrupted or stopped: not the point's fault
					}
					f := Failure{Bot: b.Name, Window: pt.Window.Name, At: pt.At, Result: report.Classify(err), Err: redact.Replace(err.Error())}
					level.Error(log.With(opts.Logger, "bot", b.Name, "window", pt.Window.Name)).Log(
						"msg", "report failed after retries; the point is missing", "at", fmtTime(pt.At), "result", f.Result, "err", f.Err)
					mu.Lock()
					failures[pt] = f
					if _, done := stopped[pt.Bot]; refused(err) && !done {
						stopped[pt.Bot] = Stopped{Bot: b.Name, Cause: f.Result + ": " + f.Err}
						stopBot[pt.Bot]()
						level.Error(log.With(opts.Logger, "bot", b.Name)).Log("msg", "the API refused the bot's credentials; its other points are not tried", "result", f.Result)
					}
					mu.Unlock()
					progress.Add(true)
				}
			})
		}
	}
	wg.Wait()
	for _, pt := range plan.Points() {
		if f, ok := failures[pt]; ok {
			res.Failed = append(res.Failed, f)
		}
		if st, ok := stopped[pt.Bot]; ok {
			if _, failed := failures[pt]; !failed && !opts.State.has(keyOf(cfg, pt)) {
				st.Skipped++
				stopped[pt.Bot] = st
			}
		}
	}
	for i := range cfg.Bots {
		if st, ok := stopped[i]; ok {
			res.Stopped = append(res.Stopped, st)
		}
	}
	res.Requests, res.Retries = obs.requests.Load(), obs.retries.Load()
	res.Interrupted = ctx.Err() != nil && res.Resumed+res.Done+len(res.Failed) < res.Points
	res.Elapsed = time.Since(start)
	if res.Redacted > 0 {
		level.Warn(opts.Logger).Log("msg", "report rows held a token in a task name, type or status; replaced with "+report.TokenPlaceholder+" before writing, rows kept so totals stay exact",
			"rows", res.Redacted)
	}
	if stateErr != nil {
		return res, fmt.Errorf("%w: the run stopped; the points recorded before it are kept, free the space and rerun the same command to resume", stateErr)
	}
	return res, nil
}

// runPoint runs the report of one point and returns the rows the exporter
// would have published for it, and how many of the report's rows held a
// token (report.ExportedRows).
func runPoint(ctx context.Context, c report.Runner, b config.Bot, pt Point) (rows []kore.TaskRow, redacted int, err error) {
	from, to := report.WindowBounds(b, pt.Window, pt.At)
	ctx, cancel := context.WithTimeout(ctx, b.Timeout)
	defer cancel()
	rep, err := report.RunGuarded(ctx, c, b.BotID, report.NewRequest(b, from, to))
	if err != nil {
		return nil, 0, fmt.Errorf("report [%s, %s): %w", fmtTime(from), fmtTime(to), err)
	}
	rows, st, err := report.ExportedRows(rep.Rows, b.MaxTaskRows)
	if err != nil {
		return nil, 0, fmt.Errorf("report [%s, %s): %w", fmtTime(from), fmtTime(to), err)
	}
	return slices.Clip(rows), st.Redacted, nil
}

// ErrFailedPoints is wrapped by Result.Err when points failed.
var ErrFailedPoints = errors.New("points failed")

// Err returns an error when the run left points out: failed reports or an
// interruption. A rerun with the same arguments runs those points only.
func (r *Result) Err() error {
	switch {
	case len(r.Stopped) > 0:
		return fmt.Errorf("%w: %d bots stopped: the API refused their credentials (401/403); fix them and rerun the same command", ErrFailedPoints, len(r.Stopped))
	case len(r.Failed) > 0:
		return fmt.Errorf("%w: %d of %d points failed after retries; rerun the same command to retry them", ErrFailedPoints, len(r.Failed), r.Points)
	case r.Interrupted:
		return fmt.Errorf("interrupted: %d of %d points done; rerun the same command to resume: %w", r.Resumed+r.Done, r.Points, context.Canceled)
	}
	return nil
}
