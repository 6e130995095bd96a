package collector

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/kore"
)

// ReportRunner runs one report job to its end. *kore.Client implements it;
// tests pass fakes.
type ReportRunner interface {
	RunContainmentReport(ctx context.Context, botID string, req kore.ReportRequest) (*kore.Report, error)
}

// ClientFactory builds the ReportRunner of one bot. obs receives the bot's
// API self-metrics.
type ClientFactory func(bot config.Bot, limits config.Limits, obs kore.Observer) (ReportRunner, error)

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
	ResultError           = "error"
)

// Classify maps a run's error to its result label value.
func Classify(err error) string {
	var apiErr *kore.APIError
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
	default:
		return ResultError
	}
}

// SchedulerOpts configures a Scheduler.
type SchedulerOpts struct {
	Logger  log.Logger
	Store   *Store
	Metrics *Metrics
	// NewClient builds each bot's client.
	NewClient ClientFactory
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxStartSpread bounds the random delay of each job's first run, so
	// that many bots do not fire at once (default 30s; the delay is also at
	// most a tenth of the job's interval).
	MaxStartSpread time.Duration
	// SweepInterval is how often stale parts are dropped (default 1s).
	SweepInterval time.Duration
}

// JobStatus is what the status page shows of one bot × window job.
type JobStatus struct {
	Bot, BotID, Window string
	Interval           time.Duration
	Running            bool
	Attempted          bool
	LastRun            time.Time
	LastDuration       time.Duration
	LastResult         string
	LastError          string
	LastSuccess        time.Time
	WindowFrom         time.Time
	WindowTo           time.Time
	Rows               int
	NextRun            time.Time
	Skipped            int
}

// Scheduler runs the report jobs of one configuration: one loop per bot ×
// window, first run at start (spread with jitter), then every interval with
// jitter; never two runs of one job at once; at most
// Limits.MaxConcurrentJobs jobs in flight. Results go to the Store.
type Scheduler struct {
	opts SchedulerOpts

	mu     sync.Mutex
	jobs   map[jobKey]*JobStatus
	order  []jobKey
	redact *strings.Replacer
}

type jobKey struct{ bot, window string }

// NewScheduler returns a Scheduler. Call Run to start it.
func NewScheduler(opts SchedulerOpts) *Scheduler {
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxStartSpread == 0 {
		opts.MaxStartSpread = 30 * time.Second
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = time.Second
	}
	return &Scheduler{opts: opts, jobs: map[jobKey]*JobStatus{}, redact: strings.NewReplacer()}
}

// prepare builds every bot's client for cfg and registers the jobs, without
// starting them. It fails, naming the bot, when a client cannot be built. A
// job that was configured before keeps its status history.
func (s *Scheduler) prepare(cfg *config.Config) ([]*jobRun, error) {
	var runs []*jobRun
	var secrets []string
	var errs []error
	jobs := map[jobKey]*JobStatus{}
	var order []jobKey
	for i, b := range cfg.Bots {
		for _, sec := range []config.Secret{b.ClientSecret, b.PrivateKey} {
			if sec != "" {
				secrets = append(secrets, sec.Reveal(), "<secret>")
			}
		}
		client, err := s.opts.NewClient(b, cfg.Limits, s.opts.Metrics.Observer(b.Name))
		if err != nil {
			errs = append(errs, fmt.Errorf("bots[%d] (%s): %w", i, b.Name, err))
			continue
		}
		for _, w := range b.Windows {
			k := jobKey{b.Name, w.Name}
			st := &JobStatus{}
			s.mu.Lock()
			if old, ok := s.jobs[k]; ok {
				*st = *old
			}
			s.mu.Unlock()
			st.Bot, st.BotID, st.Window, st.Interval, st.Running = b.Name, b.BotID, w.Name, b.Interval, false
			jobs[k] = st
			order = append(order, k)
			runs = append(runs, &jobRun{bot: b, window: w, client: client, status: st,
				logger: log.With(s.opts.Logger, "bot", b.Name, "window", w.Name)})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s.mu.Lock()
	bots := map[string]bool{}
	for k := range jobs {
		bots[k.bot] = true
	}
	for k := range s.jobs {
		if _, ok := jobs[k]; !ok {
			s.opts.Metrics.Forget(k.bot, k.window)
		}
		if !bots[k.bot] {
			s.opts.Metrics.ForgetBot(k.bot)
		}
	}
	s.jobs, s.order = jobs, order
	s.redact = strings.NewReplacer(secrets...)
	s.mu.Unlock()
	return runs, nil
}

type jobRun struct {
	bot    config.Bot
	window config.Window
	client ReportRunner
	status *JobStatus
	logger log.Logger
}

// Start validates cfg's clients and starts its jobs in the background. The
// returned stop function cancels them and waits until they have stopped.
func (s *Scheduler) Start(ctx context.Context, cfg *config.Config) (stop func(), err error) {
	runs, err := s.prepare(cfg)
	if err != nil {
		return nil, err
	}
	s.opts.Store.SetBots(botInfos(cfg))
	s.opts.Store.Retain(func(bot, window string) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		_, ok := s.jobs[jobKey{bot, window}]
		return ok
	})
	ctx, cancel := context.WithCancel(ctx)
	sem := make(chan struct{}, max(1, cfg.Limits.MaxConcurrentJobs))
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Go(func() { s.loop(ctx, r, sem) })
	}
	wg.Go(func() { s.sweep(ctx) })
	return func() {
		cancel()
		wg.Wait()
		// The configuration's clients are done: free their idle
		// connections now rather than at the transport's idle timeout.
		for _, r := range runs {
			if c, ok := r.client.(interface{ CloseIdleConnections() }); ok {
				c.CloseIdleConnections()
			}
		}
	}, nil
}

func botInfos(cfg *config.Config) []BotInfo {
	infos := make([]BotInfo, 0, len(cfg.Bots))
	for _, b := range cfg.Bots {
		infos = append(infos, BotInfo{Name: b.Name, BotID: b.BotID, Host: b.Host})
	}
	return infos
}

func (s *Scheduler) sweep(ctx context.Context) {
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n := s.opts.Store.Sweep(s.opts.Now()); n > 0 {
				level.Warn(s.opts.Logger).Log("msg", "dropped stale report data: no successful run within stale_after", "parts", n)
			}
		}
	}
}

// jitter returns a random duration in [0, d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

func (s *Scheduler) loop(ctx context.Context, r *jobRun, sem chan struct{}) {
	interval := r.bot.Interval
	next := s.opts.Now().Add(jitter(min(s.opts.MaxStartSpread, interval/10)))
	for {
		s.setNext(r.status, next)
		if !sleepUntil(ctx, s.opts.Now, next) {
			return
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		s.runOnce(ctx, r)
		<-sem
		if ctx.Err() != nil {
			return
		}
		// Next tick: one interval after the previous one, with ±5 % jitter.
		// Ticks missed while the run was still going are skipped and
		// counted: a job never runs twice at once, nor catches up in a burst.
		next = next.Add(interval + jitter(interval/10) - interval/20)
		now := s.opts.Now()
		for !next.After(now) {
			s.opts.Metrics.RunSkipped(r.bot.Name, r.window.Name)
			s.mu.Lock()
			r.status.Skipped++
			s.mu.Unlock()
			level.Warn(r.logger).Log("msg", "skipped a run: the previous run outlasted the interval", "interval", interval)
			next = next.Add(interval)
		}
	}
}

// sleepUntil waits until t or ctx is done; it reports whether t was reached.
func sleepUntil(ctx context.Context, now func() time.Time, t time.Time) bool {
	d := t.Sub(now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

func (s *Scheduler) setNext(st *JobStatus, next time.Time) {
	s.mu.Lock()
	st.NextRun = next
	s.mu.Unlock()
}

// runOnce runs one report job for r's bot and window and publishes its rows.
func (s *Scheduler) runOnce(ctx context.Context, r *jobRun) {
	b, w := r.bot, r.window
	start := s.opts.Now()
	to := start.Add(-b.Delay).UTC().Truncate(time.Millisecond)
	from := to.Add(-w.Duration)
	s.mu.Lock()
	r.status.Running, r.status.LastRun = true, start
	s.mu.Unlock()
	s.opts.Metrics.RunStarted(b.Name, w.Name)

	jobCtx, cancel := context.WithTimeout(ctx, b.Timeout)
	defer cancel()
	req := kore.ReportRequest{
		From:               from,
		To:                 to,
		IncludeTaskNames:   b.Filters.IncludeTaskNames,
		ConversationType:   b.Filters.ConversationType,
		ConversationStatus: b.Filters.ConversationStatus,
		AggregationType:    kore.AggregationCumulative,
		Tags:               koreTags(b.Filters.Tags),
		PageSize:           b.PageSize,
		MaxRows:            b.MaxReportRows,
		OnProgress:         func(p int) { s.opts.Metrics.Progress(b.Name, w.Name, p) },
	}
	rep, err := runGuarded(jobCtx, r.client, b.BotID, req)
	end := s.opts.Now()
	d := end.Sub(start)
	if err != nil && ctx.Err() != nil {
		// Shutdown or reload: not the job's fault; record nothing.
		s.mu.Lock()
		r.status.Running = false
		s.mu.Unlock()
		s.opts.Metrics.RunCanceled(b.Name, w.Name)
		level.Debug(r.logger).Log("msg", "report run canceled by reload or shutdown", "duration", d)
		return
	}
	out := RunOutcome{Duration: d, At: end}
	if rep != nil {
		out.Reruns = rep.Reruns
	}
	if err == nil {
		err = s.publish(r, rep, end, &out)
	}
	out.Result = Classify(err)
	if err != nil {
		s.mu.Lock()
		hadData := !r.status.LastSuccess.IsZero()
		s.mu.Unlock()
		msg := "report run failed; no data for this window yet"
		if hadData {
			msg = "report run failed; serving the last good data until stale_after"
		}
		level.Error(r.logger).Log("msg", msg, "result", out.Result, "duration", d, "err", s.redactString(err.Error()))
	}
	s.opts.Metrics.RunFinished(b.Name, w.Name, out)

	s.mu.Lock()
	defer s.mu.Unlock()
	st := r.status
	st.Running, st.Attempted = false, true
	st.LastRun, st.LastDuration, st.LastResult = start, d, out.Result
	if err == nil {
		st.LastError, st.LastSuccess, st.Rows = "", end, out.Rows
		st.WindowFrom, st.WindowTo = from, to
	} else {
		st.LastError = s.redact.Replace(err.Error())
	}
}

// publish caps the rows of a finished report at the bot's max_task_rows and
// publishes them, filling in what it published.
func (s *Scheduler) publish(r *jobRun, rep *kore.Report, end time.Time, out *RunOutcome) error {
	b := r.bot
	rows, folded, err := foldRows(rep.Rows, b.MaxTaskRows)
	if err != nil {
		return err
	}
	if folded > 0 {
		level.Warn(r.logger).Log("msg", "task rows beyond max_task_rows folded into the other-tasks rows; totals stay exact",
			"rows", len(rep.Rows), "max_task_rows", b.MaxTaskRows, "folded", folded, "task_name", OtherTasksName)
	}
	if err := s.opts.Store.Publish(b.Name, r.window.Name, rows, end, end.Add(b.StaleAfter)); err != nil {
		return err
	}
	out.Rows, out.Folded = len(rows), folded
	level.Debug(r.logger).Log("msg", "report done", "rows", len(rows), "raw_rows", rep.RawRows, "pages", rep.Pages,
		"polls", rep.Polls, "reruns", rep.Reruns, "folded", folded, "duration", out.Duration)
	return nil
}

// runGuarded runs one report, turning a panic inside it (a bug, say in a
// decoder meeting an answer nobody foresaw) into the run's error, so one bad
// answer cannot take the exporter and every other bot's data down with it.
func runGuarded(ctx context.Context, c ReportRunner, botID string, req kore.ReportRequest) (rep *kore.Report, err error) {
	defer func() {
		if p := recover(); p != nil {
			rep, err = nil, fmt.Errorf("report run panicked: %v", p)
		}
	}()
	return c.RunContainmentReport(ctx, botID, req)
}

func (s *Scheduler) redactString(msg string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.redact.Replace(msg)
}

func koreTags(tags []config.Tag) []kore.Tag {
	if len(tags) == 0 {
		return nil
	}
	out := make([]kore.Tag, len(tags))
	for i, t := range tags {
		out[i] = kore.Tag{Name: t.Name, Values: t.Values, Type: t.Type}
	}
	return out
}

// Ready reports whether every job of the running configuration has been
// attempted at least once (true for a configuration without jobs, such as a
// shard that runs no bots).
func (s *Scheduler) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.jobs {
		if !st.Attempted {
			return false
		}
	}
	return true
}

// Status returns a copy of every job's status, sorted by bot and window order.
func (s *Scheduler) Status() []JobStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]JobStatus, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, *s.jobs[k])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Bot < out[j].Bot })
	return out
}

// NewKoreClient is the ClientFactory of the exporter: a kore.Client for the
// bot's host and credentials, with the configured per-bot request budget.
func NewKoreClient(b config.Bot, l config.Limits, obs kore.Observer) (ReportRunner, error) {
	creds := kore.Credentials{ClientID: b.ClientID, ClientSecret: b.ClientSecret.Reveal()}
	if b.PrivateKey != "" {
		key, err := kore.ParsePrivateKey([]byte(b.PrivateKey.Reveal()))
		if err != nil {
			return nil, fmt.Errorf("private key: %w", err)
		}
		creds = kore.Credentials{ClientID: b.ClientID, PrivateKey: key}
	}
	opts := []kore.Option{
		kore.WithHost(b.Host),
		kore.WithCredentials(creds),
		kore.WithObserver(obs),
	}
	if l.RequestsPerMinutePerBot > 0 {
		opts = append(opts, kore.WithRequestsPerMinute(l.RequestsPerMinutePerBot))
	}
	if b.AllowInsecureHTTP {
		opts = append(opts, kore.WithInsecureHTTP())
	}
	return kore.NewClient(opts...)
}
