package collector

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/common/model"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/contract"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

// SchedulerOpts configures a Scheduler.
type SchedulerOpts struct {
	Logger  log.Logger
	Store   *Store
	Metrics *Metrics
	// NewClient builds each bot's client.
	NewClient report.ClientFactory
	// MaxStartSpread bounds the random delay of each job's first run, so
	// that many bots do not fire at once (default 30s; the delay is also at
	// most a tenth of the job's interval).
	MaxStartSpread time.Duration
}

// JobRecord is what the status page shows of one bot × window job: its
// schedule and its last run (not to be confused with kore.JobStatus, the
// API's answer about one report job).
type JobRecord struct {
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

// sweepInterval is how often stale parts are dropped.
const sweepInterval = time.Second

// Scheduler runs the report jobs of the applied configuration: one loop per
// bot × window, first run soon after it starts (spread with jitter), then
// every interval with jitter; never two runs of one job at once; at most
// Limits.MaxConcurrentJobs jobs in flight. Results go to the Store.
//
// Apply changes the configuration while jobs run: jobs whose bot and window
// settings did not change keep running, with their schedule and client.
type Scheduler struct {
	opts SchedulerOpts

	apply sync.Mutex // serialises Apply and Stop

	mu      sync.Mutex // guards what the status page and Ready read
	jobs    map[jobKey]*jobRun
	order   []jobKey
	clients map[string]*botClient // by bot name
	limits  config.Limits
	budgets *kore.Budgets // of the limits; shared by every client
	slots   *slots        // of the limits; shared by every job
	redact  *config.Redactor
	sweeper func() // stops the stale-data sweeper; nil before the first Apply
}

type jobKey struct{ bot, window string }

// botClient is the client of one bot, shared by its windows' jobs, with the
// settings it was built for.
type botClient struct {
	bot    config.Bot // without Windows
	client report.Runner
}

// NewScheduler returns a Scheduler. Call Apply to start jobs and Stop to end
// them.
func NewScheduler(opts SchedulerOpts) *Scheduler {
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.MaxStartSpread == 0 {
		opts.MaxStartSpread = 30 * time.Second
	}
	return &Scheduler{opts: opts, jobs: map[jobKey]*jobRun{}, clients: map[string]*botClient{}, redact: &config.Redactor{}}
}

type jobRun struct {
	bot    config.Bot
	window config.Window // {Name: SessionsJob} for the sessions job
	// sessions is the hour counts of a bot's Sessions History job; nil
	// for a containment report job.
	sessions *sessionCounts
	client   *botClient
	status   *JobRecord
	logger   log.Logger
	cancel   context.CancelFunc
	done     chan struct{}
}

// stopJobs cancels the jobs, then waits until their loops have returned:
// all are canceled first, so a slot one of them frees cannot start a run
// of another that is about to stop.
func stopJobs(jobs []*jobRun) {
	for _, r := range jobs {
		r.cancel()
	}
	for _, r := range jobs {
		<-r.done
	}
}

// withoutWindows returns b with no windows: the settings its client and
// its jobs depend on, besides the window itself.
func withoutWindows(b config.Bot) config.Bot {
	b.Windows = nil
	return b
}

// Apply makes cfg the running configuration. It builds the clients of new
// or changed bots first: if one cannot be built, nothing changes and the
// error names the bot. Then jobs whose bot settings, window and request
// budget are unchanged keep running (schedule, client and rate-limit state
// included), removed or changed jobs stop, and new or changed jobs start
// under ctx. A changed job keeps its status history. A new
// max_concurrent_jobs resizes the job slots without stopping any job. Apply with an unchanged
// configuration changes nothing and makes no API request.
func (s *Scheduler) Apply(ctx context.Context, cfg *config.Config) error {
	s.apply.Lock()
	defer s.apply.Unlock()

	// Clients first: a bad bot must leave the running configuration alone.
	// A change of max_concurrent_jobs only resizes the slots; a change of
	// the request budget rebuilds every client on new budgets.
	budgetsSame := s.budgets != nil && s.limits.RequestsPerMinutePerBot == cfg.Limits.RequestsPerMinutePerBot &&
		s.limits.Unlimited == cfg.Limits.Unlimited
	budgets := s.budgets
	if !budgetsSame {
		var err error
		if budgets, err = report.NewBudgets(cfg.Limits); err != nil {
			return err
		}
	}
	clients := make(map[string]*botClient, len(cfg.Bots))
	var built []*botClient
	var errs []error
	for i, b := range cfg.Bots {
		settings := withoutWindows(b)
		if old, ok := s.clients[b.Name]; ok && budgetsSame && reflect.DeepEqual(old.bot, settings) {
			clients[b.Name] = old
			continue
		}
		c, err := s.opts.NewClient(b, budgets, s.opts.Metrics.Observer(b.Name))
		if err != nil {
			errs = append(errs, fmt.Errorf("bots[%d] (%s): %w", i, b.Name, err))
			continue
		}
		bc := &botClient{bot: settings, client: c}
		clients[b.Name], built = bc, append(built, bc)
	}
	if len(errs) > 0 {
		closeIdle(built)
		return errors.Join(errs...)
	}

	// Then the jobs: keep, stop or start.
	sl := s.slots
	if sl == nil {
		sl = newSlots(cfg.Limits.MaxConcurrentJobs, s.opts.Metrics.SlotsChanged)
	}
	jobs := make(map[jobKey]*jobRun)
	var order []jobKey
	var start []*jobRun
	for _, b := range cfg.Bots {
		for _, w := range b.Windows {
			k := jobKey{b.Name, w.Name}
			order = append(order, k)
			if old, ok := s.jobs[k]; ok && old.client == clients[b.Name] && old.window == w {
				jobs[k] = old
				continue
			}
			st := &JobRecord{}
			if old, ok := s.jobs[k]; ok {
				s.mu.Lock()
				*st = *old.status
				s.mu.Unlock()
			}
			st.Bot, st.BotID, st.Window, st.Interval, st.Running = b.Name, b.BotID, w.Name, b.Interval, false
			r := &jobRun{bot: b, window: w, client: clients[b.Name], status: st, done: make(chan struct{}),
				logger: log.With(s.opts.Logger, "bot", b.Name, "window", w.Name)}
			jobs[k] = r
			start = append(start, r)
		}
		if b.Sessions.Enabled {
			k := jobKey{b.Name, SessionsJob}
			order = append(order, k)
			old, ok := s.jobs[k]
			if ok && old.client == clients[b.Name] && slices.Equal(old.bot.Windows, b.Windows) {
				jobs[k] = old
				continue
			}
			st := &JobRecord{}
			counts := newSessionCounts()
			if ok {
				s.mu.Lock()
				*st = *old.status
				s.mu.Unlock()
				// The counts are facts about the bot: a changed interval,
				// delay or window keeps them.
				if old.bot.BotID == b.BotID && old.bot.Host == b.Host {
					counts = old.sessions
				}
			}
			st.Bot, st.BotID, st.Window, st.Interval, st.Running = b.Name, b.BotID, SessionsJob, b.Interval, false
			r := &jobRun{bot: b, window: config.Window{Name: SessionsJob}, sessions: counts, client: clients[b.Name], status: st,
				done: make(chan struct{}), logger: log.With(s.opts.Logger, "bot", b.Name, "window", SessionsJob)}
			jobs[k] = r
			start = append(start, r)
		}
	}
	var stopping []*jobRun
	for k, old := range s.jobs {
		if jobs[k] != old {
			stopping = append(stopping, old)
		}
	}
	stopJobs(stopping)
	sl.resize(cfg.Limits.MaxConcurrentJobs)
	var unused []*botClient
	for name, old := range s.clients {
		if clients[name] != old {
			unused = append(unused, old)
		}
	}
	closeIdle(unused)

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
	s.jobs, s.order, s.clients, s.limits, s.budgets, s.slots = jobs, order, clients, cfg.Limits, budgets, sl
	s.redact = cfg.Redactor()
	s.mu.Unlock()

	s.opts.Store.SetBots(botInfos(cfg))
	s.opts.Store.Retain(func(bot, window string) bool {
		_, ok := jobs[jobKey{bot, window}]
		return ok
	})
	for _, r := range start {
		// The job's schedule is in its self-metrics before its first run
		// ends, and a changed interval or stale_after replaces the old.
		s.opts.Metrics.JobConfigured(r.bot.Name, r.window.Name, r.bot.Interval, r.bot.StaleAfter)
		jctx, cancel := context.WithCancel(ctx)
		r.cancel = cancel
		go func() {
			defer close(r.done)
			s.loop(jctx, r, sl)
		}()
	}
	if s.sweeper == nil {
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.sweep(sctx)
		}()
		s.sweeper = func() { cancel(); <-done }
	}
	return nil
}

// Stop stops every job and the sweeper and waits until they have returned;
// the clients' idle connections are closed. Status and Ready still report
// the stopped jobs; a later Apply starts every job afresh.
func (s *Scheduler) Stop() {
	s.apply.Lock()
	defer s.apply.Unlock()
	stopping := make([]*jobRun, 0, len(s.jobs))
	for _, r := range s.jobs {
		stopping = append(stopping, r)
	}
	stopJobs(stopping)
	if s.sweeper != nil {
		s.sweeper()
		s.sweeper = nil
	}
	clients := make([]*botClient, 0, len(s.clients))
	for _, c := range s.clients {
		clients = append(clients, c)
	}
	closeIdle(clients)
	s.mu.Lock()
	s.clients, s.slots = map[string]*botClient{}, nil // nothing is kept by the next Apply
	s.mu.Unlock()
}

// closeIdle frees the idle connections of clients that are no longer used,
// rather than waiting for their transport's idle timeout.
func closeIdle(clients []*botClient) {
	for _, c := range clients {
		if ic, ok := c.client.(interface{ CloseIdleConnections() }); ok {
			ic.CloseIdleConnections()
		}
	}
}

func botInfos(cfg *config.Config) []BotInfo {
	infos := make([]BotInfo, 0, len(cfg.Bots))
	for _, b := range cfg.Bots {
		infos = append(infos, BotInfo{Name: b.Name, BotID: b.BotID, Host: b.Host, Labels: b.Labels})
	}
	return infos
}

func (s *Scheduler) sweep(ctx context.Context) {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n := s.opts.Store.Sweep(time.Now()); n > 0 {
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

func (s *Scheduler) loop(ctx context.Context, r *jobRun, sl *slots) {
	interval := r.bot.Interval
	offset := phase(r.bot.Name, r.window.Name, interval)
	// The first run comes soon, for data shortly after a start; the next
	// ones on the job's own phase of the interval (see phase).
	due := time.Now().Add(jitter(min(s.opts.MaxStartSpread, interval/10)))
	var started time.Time // of the last run; zero before the first
	for {
		s.setNext(r.status, due)
		if !sleepUntil(ctx, due) {
			return
		}
		if sl.acquire(ctx, started) != nil {
			return
		}
		first := started.IsZero()
		started = time.Now()
		s.runOnce(ctx, r)
		sl.release()
		if ctx.Err() != nil {
			return
		}
		// The next tick: on the job's phase, at least half an interval
		// after the first run, then every interval.
		if first {
			due = onPhase(started.Add(interval/2), interval, offset)
		} else {
			due = due.Add(interval)
		}
		// Ticks that passed while the job waited for a slot or ran are not
		// made up in a burst: the job runs once, at once, for the latest of
		// them (when slots are short, after the jobs with older data), and
		// the others are counted as skipped. A job never runs twice at once.
		if missed := missedTicks(due, interval, time.Now()); missed > 0 {
			for range missed {
				s.opts.Metrics.RunSkipped(r.bot.Name, r.window.Name)
			}
			s.mu.Lock()
			r.status.Skipped += missed
			s.mu.Unlock()
			level.Warn(r.logger).Log("msg", "skipped runs: the previous run, or its wait for a job slot, outlasted the interval",
				"skipped", missed, "interval", interval)
			due = due.Add(time.Duration(missed) * interval)
		}
	}
}

// missedTicks returns how many ticks after due (every interval) have also
// passed by now: those the job cannot run for.
func missedTicks(due time.Time, interval time.Duration, now time.Time) int {
	late := now.Sub(due)
	if late < interval || interval <= 0 {
		return 0
	}
	return int(late / interval)
}

// phase returns the offset of bot × window's runs within their interval: a
// stable hash of the two, as Prometheus spreads the scrapes of its targets,
// so a fleet's runs are spread evenly over every interval instead of firing
// together, and a restart or reload keeps the spread.
func phase(bot, window string, interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(bot)) // a hash.Hash never fails to write
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(window))
	return time.Duration(h.Sum64() % uint64(interval))
}

// onPhase returns the first instant at or after t that lies offset past a
// multiple of interval (counted from the zero time, so the same for every
// process).
func onPhase(t time.Time, interval, offset time.Duration) time.Time {
	at := t.Truncate(interval).Add(offset)
	for at.Before(t) {
		at = at.Add(interval)
	}
	return at
}

// sleepUntil waits until t or ctx is done; it reports whether t was reached.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
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

func (s *Scheduler) setNext(st *JobRecord, next time.Time) {
	s.mu.Lock()
	st.NextRun = next
	s.mu.Unlock()
}

// runOnce runs one report job for r's bot and window and publishes its rows.
func (s *Scheduler) runOnce(ctx context.Context, r *jobRun) {
	if r.sessions != nil {
		s.runSessions(ctx, r)
		return
	}
	b, w := r.bot, r.window
	start := s.begin(r)
	from, to := report.WindowBounds(b, w, start)

	jobCtx, cancel := context.WithTimeout(ctx, b.Timeout)
	defer cancel()
	req := report.NewRequest(b, from, to)
	req.OnProgress = func(p int) { s.opts.Metrics.Progress(b.Name, w.Name, p) }
	rep, err := report.RunGuarded(jobCtx, r.client.client, b.BotID, req)
	end := time.Now()
	d := end.Sub(start)
	if err != nil && ctx.Err() != nil {
		s.canceled(r, d)
		return
	}
	out := RunOutcome{Duration: d, At: end}
	if rep != nil {
		out.Reruns, out.Requests = rep.Reruns, rep.Requests
	}
	if err == nil {
		err = s.publish(r, rep, end, &out)
	}
	out.Result = report.Classify(err)
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
	s.finish(r, start, out, err, from, to)
}

// begin marks r's run as started, on its status and in its self-metrics,
// and returns when.
func (s *Scheduler) begin(r *jobRun) time.Time {
	start := time.Now()
	s.mu.Lock()
	r.status.Running, r.status.LastRun = true, start
	s.mu.Unlock()
	s.opts.Metrics.RunStarted(r.bot.Name, r.window.Name)
	return start
}

// canceled ends a run cut short by a reload or shutdown: not the job's
// fault, so nothing but its end is recorded.
func (s *Scheduler) canceled(r *jobRun, d time.Duration) {
	s.mu.Lock()
	r.status.Running = false
	s.mu.Unlock()
	s.opts.Metrics.RunEnded(r.bot.Name, r.window.Name, RunOutcome{Canceled: true})
	level.Debug(r.logger).Log("msg", "run canceled by reload or shutdown", "duration", d)
}

// finish records the end of a run that started at start: its outcome in
// the self-metrics, and on its status the result, the error (secrets
// redacted) or the data window [from, to) of a success.
func (s *Scheduler) finish(r *jobRun, start time.Time, out RunOutcome, err error, from, to time.Time) {
	s.opts.Metrics.RunEnded(r.bot.Name, r.window.Name, out)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := r.status
	st.Running, st.Attempted = false, true
	st.LastRun, st.LastDuration, st.LastResult = start, out.Duration, out.Result
	if err == nil {
		st.LastError, st.LastSuccess, st.Rows = "", out.At, out.Rows
		st.WindowFrom, st.WindowTo = from, to
	} else {
		st.LastError = s.redact.Replace(err.Error())
	}
}

// runSessions runs one update of a bot's Sessions History counts and
// publishes the windows whose hours are all counted. A failed run keeps
// what it counted and the last published series (until stale_after).
func (s *Scheduler) runSessions(ctx context.Context, r *jobRun) {
	b := r.bot
	start := s.begin(r)
	ref := sessionsRef(b, start)

	jobCtx, cancel := context.WithTimeout(ctx, b.Timeout)
	defer cancel()
	var up sessionsUpdate
	err := errNoSessions
	if c, ok := r.client.client.(report.SessionsRunner); ok {
		up, err = r.sessions.update(jobCtx, c, b.BotID, ref, longestHours(b), s.rebuildPages(b))
	}
	end := time.Now()
	d := end.Sub(start)
	if err != nil && ctx.Err() != nil {
		s.canceled(r, d)
		return
	}
	out := RunOutcome{Duration: d, At: end, Requests: up.Pages, Result: report.Classify(err)}
	switch {
	case up.Missing > 0:
		// The windows that need the missing hours are not served yet.
		runs := (up.Missing + max(up.Rebuilt, 1) - 1) / max(up.Rebuilt, 1)
		level.Info(r.logger).Log("msg", "rebuilding the hourly session counts of the longest window after a start; windows that need the missing hours are served once they are counted",
			"counted_hours", up.Rebuilt, "missing_hours", up.Missing, "pages", up.Pages, "pages_per_run", s.rebuildPages(b),
			"about_left", model.Duration(time.Duration(runs)*b.Interval))
	case up.Rebuilt > 0:
		level.Info(r.logger).Log("msg", "hourly session counts complete: every window is served", "counted_hours", up.Rebuilt, "pages", up.Pages)
	}
	if err == nil {
		rows := r.sessions.rows(b.Windows, ref)
		out.Rows = s.opts.Store.PublishSessions(b.Name, rows, end, end.Add(b.StaleAfter))
		level.Debug(r.logger).Log("msg", "sessions counted", "rows", out.Rows, "pages", up.Pages, "duplicates", up.Duplicates,
			"out_of_range", up.OutOfRange, "duration", d)
	} else {
		level.Error(r.logger).Log("msg", "sessions run failed; keeping the hours counted and serving the last good data until stale_after",
			"result", out.Result, "duration", d, "err", s.redactString(err.Error()))
	}
	s.finish(r, start, out, err, ref.Truncate(time.Hour).Add(-time.Duration(longestHours(b))*time.Hour), ref)
}

// rebuildPages is how many pages a run of b's sessions job spends on past
// hours (config.SessionsRebuildPagesPerRun of the running limits).
func (s *Scheduler) rebuildPages(b config.Bot) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return config.SessionsRebuildPagesPerRun(b, s.limits)
}

// publish takes any token out of the rows of a finished report, caps them at
// the bot's max_task_rows and publishes them (the Store normalises them, the
// rest of report.ExportedRows), filling in what it published.
func (s *Scheduler) publish(r *jobRun, rep *kore.Report, end time.Time, out *RunOutcome) error {
	b := r.bot
	// Store.Publish takes any token out of the labels as well (Normalize);
	// here, before Fold ranks the tasks by name, to count and log them.
	rows, redacted := report.RedactTokens(rep.Rows)
	if redacted > 0 {
		level.Warn(r.logger).Log("msg", "report rows held a token in a task name, type or status; replaced with "+report.TokenPlaceholder+", rows kept so totals stay exact",
			"rows", redacted)
	}
	rows, folded, err := report.Fold(rows, b.MaxTaskRows)
	if err != nil {
		return err
	}
	if folded > 0 {
		level.Warn(r.logger).Log("msg", "task rows beyond max_task_rows folded into the other-tasks rows; totals stay exact",
			"rows", len(rep.Rows), "max_task_rows", b.MaxTaskRows, "folded", folded, contract.LabelTaskName, contract.OtherTasks)
	}
	n, err := s.opts.Store.Publish(b.Name, r.window.Name, rows, end, end.Add(b.StaleAfter))
	if err != nil {
		return err
	}
	out.Rows, out.Folded = n, folded
	level.Debug(r.logger).Log("msg", "report done", "rows", n, "raw_rows", rep.RawRows, "pages", rep.Pages,
		"polls", rep.Polls, "reruns", rep.Reruns, "folded", folded, "duration", out.Duration)
	return nil
}

// redactString removes the configuration's secrets and any token from msg.
func (s *Scheduler) redactString(msg string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.redact.Replace(msg)
}

// Ready reports whether every job of the running configuration has been
// attempted at least once (true for a configuration without jobs, such as a
// shard that runs no bots).
func (s *Scheduler) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.jobs {
		if !r.status.Attempted {
			return false
		}
	}
	return true
}

// Status returns a copy of every job's status, sorted by bot and window order.
func (s *Scheduler) Status() []JobRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]JobRecord, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, *s.jobs[k].status)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Bot < out[j].Bot })
	return out
}
