package config

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kore-exporter/kore_exporter/collector/contract"
	"github.com/kore-exporter/kore_exporter/kore"
	"github.com/prometheus/common/model"
)

// The request model of Plan, in one place. Per window run the exporter
// fetches Pages pages; each page is its own report job (kore/API.md §7
// skip/limit): one POST to submit it and polls until it is done, the last
// poll returning the page's rows. The polls are spaced by the client's
// schedule (kore.DefaultPollBackoff: 2 s, ×1.5 up to 30 s), so a job that
// takes about a minute costs about 7 polls (2+3+4.5+6.75+10.1+15.2+22.8 s
// ≈ 64 s). Pages run one after another. A job that is done at the first
// poll (a fast API, a small report) costs 1 POST + 1 poll: requests per
// run depend on job duration, so the plan gives both ends.
const (
	// planPostsPerPage is the submit request of each page's job.
	planPostsPerPage = 1
	// planJobDuration is how long one page's job is assumed to take.
	planJobDuration = time.Minute
	// planAssumedRows is the rows a report is assumed to return: about
	// 100 tasks with a success and a failtask row each. The real count
	// shows in the exporter's metrics once it runs.
	planAssumedRows = 200
	// planFastPollsPerPage is the polls of a job done at the first poll.
	planFastPollsPerPage = 1
	// planListed is how many flagged bots WritePlan lists without verbose.
	planListed = 10
	// planWorst is how many bot ids the summary names as the worst.
	planWorst = 5
)

var (
	// planPollsPerPage is the polls of a job that takes planJobDuration.
	planPollsPerPage = kore.DefaultPollBackoff().Steps(planJobDuration)
	// planRequestsPerPage is every request of one page.
	planRequestsPerPage = planPostsPerPage + planPollsPerPage
	// planFastRequestsPerPage is every request of one page whose job is
	// done at the first poll.
	planFastRequestsPerPage = planPostsPerPage + planFastPollsPerPage
)

// BotPlan is the estimated API use of one bot, for --config.check.
type BotPlan struct {
	// Name is the bot's name; BotID its Kore.ai bot id.
	Name, BotID string
	// Variants are the names of every configured bot with this BotID,
	// this one included, when there are several: they share one budget.
	Variants []string
	// Windows are the bot's windows, each one job per Interval.
	Windows []Window
	// Interval is how often each window's job runs.
	Interval time.Duration
	// PageSize is the configured page size.
	PageSize int
	// PagesPerRun is the estimated pages of one window's run
	// (planAssumedRows rows / PageSize, rounded up).
	PagesPerRun int
	// RequestsPerRun is the estimated requests of one window's run:
	// PagesPerRun × (1 POST + about 7 polls).
	RequestsPerRun int
	// FastRequestsPerRun is the requests of one window's run when every
	// job is done at the first poll: PagesPerRun × (1 POST + 1 poll).
	FastRequestsPerRun int
	// RunDuration is the estimated length of one window's run.
	RunDuration time.Duration
	// EstimatedRequestsPerHour is runs per hour (1h / Interval) × windows
	// × RequestsPerRun, rounded up.
	EstimatedRequestsPerHour int
	// FastRequestsPerHour is EstimatedRequestsPerHour for FastRequestsPerRun.
	FastRequestsPerHour int
	// BotIDRequestsPerHour is EstimatedRequestsPerHour summed over the
	// Variants: what the bot id's budget must hold.
	BotIDRequestsPerHour int
	// BudgetPerHour is the bot id's hourly budget: the smaller of
	// limits.requests_per_minute_per_bot × 60 and Kore.ai's 1,800.
	BudgetPerHour int
	// PeakRequestsPerMinute is the estimated requests in a minute when
	// every window runs at once (as they do at start): windows × the
	// requests of one page.
	PeakRequestsPerMinute int
	// MaxTaskRows is the bot's max_task_rows.
	MaxTaskRows int
	// MaxSeries is the most data series the bot can export: windows ×
	// MaxTaskRows × the 5 kore_task_* metrics.
	MaxSeries int
	// EffectiveInterval is, when the request budget keeps the bot from
	// running each window every Interval, about how often each window
	// runs instead (at least RunDuration); zero otherwise.
	EffectiveInterval time.Duration
	// Slots is the job slots (limits.max_concurrent_jobs) the bot's
	// windows hold on average: per window the share of the time its run
	// goes (the run, cut at the timeout, over the time between runs),
	// at most 1 per window, and 1 when the limiter delays its calls
	// (the run then lasts until the next).
	Slots float64
	// Problems say why the plan cannot be met: the estimated requests
	// exceed the bot's hourly budget (Kore.ai's 1,800/h, which the
	// limiter holds, or limits.requests_per_minute_per_bot × 60), so the
	// limiter delays the calls and the windows run late. Each says how late.
	Problems []string
	// Warnings say where the estimate may slow or fail runs depending on
	// how long jobs really take: a run longer than the timeout or the
	// interval, every window starting at once.
	Warnings []string
	// Sessions is the cost of the bot's Sessions History report; zero
	// when it is off. Its requests are in EstimatedRequestsPerHour.
	Sessions SessionsPlan
	// peakPerHour is the bot's sessions.peak_per_hour.
	peakPerHour int
}

// SessionsPlan is the estimated cost of a bot's Sessions History report
// at sessions.peak_per_hour (kore.SessionsPageSize sessions a page). Each
// hour is counted once in full when it has closed (delay after its end),
// and the hour in progress is counted on from where the last run stopped,
// once per run; after a start, the hours of the longest window are counted
// again, at most RebuildPagesPerRun pages a run.
type SessionsPlan struct {
	// RequestsPerHour is the steady cost at the peak: runs an hour × the
	// pages of one run's new sessions, plus the closed hour's pages.
	RequestsPerHour int
	// RebuildHours and RebuildPages are the hours of the longest window
	// and their pages at the peak (an upper bound: quiet hours cost less).
	RebuildHours, RebuildPages int
	// RebuildPagesPerRun is how many pages a run spends on the rebuild
	// (SessionsRebuildPagesPerRun).
	RebuildPagesPerRun int
	// RebuildTime is about how long the rebuild takes at the peak.
	RebuildTime time.Duration
}

// SessionsRebuildPagesPerRun is how many getSessions pages one run of a
// bot's sessions job spends rebuilding past hours: half of the requests
// its budget allows in one interval, so the rebuild after a start leaves
// the containment report and the hour in progress the other half.
func SessionsRebuildPagesPerRun(b Bot, l Limits) int {
	perMinute := l.RequestsPerMinutePerBot
	if l.Unlimited || perMinute <= 0 {
		perMinute = kore.MaxRequestsPerMinute
	}
	perHour := min(perMinute*60, kore.MaxRequestsPerHour)
	return max(1, int(float64(perHour)*b.Interval.Hours()/2))
}

// sessionsPlan estimates b's Sessions History cost (see SessionsPlan).
func sessionsPlan(b Bot, l Limits) SessionsPlan {
	var s SessionsPlan
	if !b.Sessions.Enabled || b.Interval <= 0 {
		return s
	}
	pages := func(sessions float64) int { return max(1, ceil(sessions/kore.SessionsPageSize)) }
	runs := ceil(float64(time.Hour) / float64(b.Interval))
	peak := float64(b.Sessions.PeakPerHour)
	s.RequestsPerHour = runs*pages(peak/float64(runs)) + pages(peak)
	for _, w := range b.Windows {
		s.RebuildHours = max(s.RebuildHours, int(w.Duration/time.Hour))
	}
	s.RebuildPages = s.RebuildHours * pages(peak)
	s.RebuildPagesPerRun = SessionsRebuildPagesPerRun(b, l)
	s.RebuildTime = time.Duration(ceil(float64(s.RebuildPages)/float64(s.RebuildPagesPerRun))) * b.Interval
	return s
}

// Plan estimates each bot's API use against Kore.ai's limits (60/min and
// 1,800/h per bot) and limits.requests_per_minute_per_bot. The estimates
// follow the model documented at planRequestsPerPage.
func (c *Config) Plan() []BotPlan {
	plans := make([]BotPlan, 0, len(c.Bots))
	for _, b := range c.Bots {
		p := BotPlan{Name: b.Name, BotID: b.BotID, Windows: b.Windows, Interval: b.Interval, PageSize: b.PageSize}
		if b.PageSize > 0 {
			p.PagesPerRun = (planAssumedRows + b.PageSize - 1) / b.PageSize
		}
		p.RequestsPerRun = p.PagesPerRun * planRequestsPerPage
		p.FastRequestsPerRun = p.PagesPerRun * planFastRequestsPerPage
		p.RunDuration = time.Duration(p.PagesPerRun) * planJobDuration
		if b.Interval > 0 {
			runsPerHour := float64(time.Hour) / float64(b.Interval)
			p.EstimatedRequestsPerHour = ceil(runsPerHour * float64(len(b.Windows)) * float64(p.RequestsPerRun))
			p.FastRequestsPerHour = ceil(runsPerHour * float64(len(b.Windows)) * float64(p.FastRequestsPerRun))
		}
		p.PeakRequestsPerMinute = len(b.Windows) * planRequestsPerPage
		p.MaxTaskRows = b.MaxTaskRows
		p.MaxSeries = len(b.Windows) * b.MaxTaskRows * len(contract.TaskFamilies())
		p.Sessions, p.peakPerHour = sessionsPlan(b, c.Limits), b.Sessions.PeakPerHour
		p.EstimatedRequestsPerHour += p.Sessions.RequestsPerHour
		p.FastRequestsPerHour += p.Sessions.RequestsPerHour
		plans = append(plans, p)
	}
	// The budget is per bot id: variants of one bot share it.
	needs, fast, peaks, windows := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	variants := map[string][]string{}
	for _, p := range plans {
		needs[p.BotID] += p.EstimatedRequestsPerHour
		fast[p.BotID] += p.FastRequestsPerHour
		peaks[p.BotID] += p.PeakRequestsPerMinute
		windows[p.BotID] += len(p.Windows)
		variants[p.BotID] = append(variants[p.BotID], p.Name)
	}
	budget := c.Limits.RequestsPerMinutePerBot
	perHour := min(budget*60, kore.MaxRequestsPerHour)
	for i, b := range c.Bots {
		p := &plans[i]
		need := needs[b.BotID]
		p.BotIDRequestsPerHour = need
		p.BudgetPerHour = perHour
		who := "" // or which variants share the budget
		if vs := variants[b.BotID]; len(vs) > 1 {
			p.Variants = vs
			who = fmt.Sprintf(" for the %d variants of bot_id %s (%s) together", len(vs), b.BotID, strings.Join(vs, ", "))
		}
		if perHour > 0 && need > perHour {
			// The limiter lets perHour requests through per hour, so each
			// window runs about need/perHour times less often, and never
			// more often than a run lasts. This one message says how
			// late; the run-longer-than-interval warning is folded in.
			late := time.Duration(float64(b.Interval) * float64(need) / float64(perHour)).Round(time.Minute)
			p.EffectiveInterval = max(late, p.RunDuration)
			fastNote := fmt.Sprintf("jobs of a few seconds would need about %d/hour", fast[b.BotID])
			if fast[b.BotID] <= perHour {
				fastNote += ", within it"
			}
			p.Problems = append(p.Problems, fmt.Sprintf(
				"about %d requests/hour%s exceed the budget of %d/hour (%s): the limiter delays the calls, so each window's run starts only about every %s instead of every %s (for jobs of about a minute; %s); raise interval or page_size, or drop windows%s",
				need, who, perHour, budgetSource(budget), model.Duration(p.EffectiveInterval), model.Duration(b.Interval), fastNote, sessionsNote(p)))
		}
		first := variants[b.BotID][0] == b.Name // say it once per bot id
		if peak := peaks[b.BotID]; budget > 0 && peak > budget && first {
			p.Warnings = append(p.Warnings, fmt.Sprintf(
				"%d windows%s running at once need about %d requests/minute, above limits.requests_per_minute_per_bot %d: their jobs will be spread out",
				windows[b.BotID], who, peak, budget))
		}
		// Job durations vary widely (the model assumes a minute a page),
		// so runs that may outlast the timeout or interval are warnings.
		if b.Timeout > 0 && p.RunDuration > b.Timeout {
			p.Warnings = append(p.Warnings, fmt.Sprintf(
				"a run of about %d pages takes about %s, longer than timeout %s: runs that slow fail; raise page_size or timeout",
				p.PagesPerRun, model.Duration(p.RunDuration), model.Duration(b.Timeout)))
		} else if b.Interval > 0 && p.RunDuration > b.Interval && p.EffectiveInterval == 0 {
			p.Warnings = append(p.Warnings, fmt.Sprintf(
				"a run of about %d pages takes about %s, longer than interval %s: each window would run only about every %s, the runs in between skipped; raise interval or page_size",
				p.PagesPerRun, model.Duration(p.RunDuration), model.Duration(b.Interval), model.Duration(p.RunDuration)))
		}
		p.Slots = float64(len(b.Windows)) * slotShare(p.RunDuration, b.Timeout, b.Interval, p.EffectiveInterval > 0)
	}
	return plans
}

// slotShare is the share of the time one window's job holds a slot: its
// run (cut at timeout) over the time from one run's start to the next
// (the interval, or the run when it is longer: the ticks in between are
// skipped and hold no slot). A job whose calls the limiter delays runs
// back to back: 1.
func slotShare(run, timeout, interval time.Duration, delayed bool) float64 {
	if delayed {
		return 1
	}
	if timeout > 0 {
		run = min(run, timeout)
	}
	if every := max(interval, run); every > 0 {
		return float64(run) / float64(every)
	}
	return 0
}

func ceil(f float64) int {
	n := int(f)
	if float64(n) < f {
		n++
	}
	return n
}

// sessionsNote names the Sessions History report's share of a bot's
// requests, where it has one, for a problem's remedy.
func sessionsNote(p *BotPlan) string {
	if p.Sessions.RequestsPerHour == 0 {
		return ""
	}
	return fmt.Sprintf(" (the sessions report takes about %d/hour of them at its sessions.peak_per_hour)", p.Sessions.RequestsPerHour)
}

// budgetSource says where a bot's hourly budget comes from.
func budgetSource(perMinute int) string {
	if perMinute*60 >= kore.MaxRequestsPerHour {
		return "Kore.ai's cap, which the limiter holds"
	}
	return fmt.Sprintf("limits.requests_per_minute_per_bot %d", perMinute)
}

// String summarizes the plan on one line, without its warnings.
func (p BotPlan) String() string {
	return fmt.Sprintf("%s: windows %s every %s, page_size %d: ~%d pages and ~%d requests per run, ~%d requests/hour, peak ~%d/minute, at most %d series",
		p.Name, windowNames(p.Windows), model.Duration(p.Interval), p.PageSize,
		p.PagesPerRun, p.RequestsPerRun, p.EstimatedRequestsPerHour, p.PeakRequestsPerMinute, p.MaxSeries)
}

func windowNames(ws []Window) string {
	names := make([]string, len(ws))
	for i, w := range ws {
		names[i] = w.Name
	}
	return strings.Join(names, ",")
}

// PlanSummary is the exporter-wide view of the plans of every bot.
type PlanSummary struct {
	// Bots and BotIDs count the configured bots and their distinct ids.
	Bots, BotIDs int
	// Jobs counts the report jobs: one per bot and window.
	Jobs int
	// RequestsPerHour is the estimated requests per hour of every bot
	// (jobs of about a minute); FastRequestsPerHour the same when every
	// job is done at the first poll.
	RequestsPerHour, FastRequestsPerHour int
	// PeakRequestsPerMinute is the most requests in a minute when every
	// window starts at once (as at start): each bot id's windows × the
	// requests of one page, at most its per-minute budget, and at most
	// limits.max_concurrent_jobs pages at a time.
	PeakRequestsPerMinute int
	// Slots is the job slots needed on average, at most Jobs.
	Slots float64
	// MaxSeries is the most task series every bot can export.
	MaxSeries int
	// WithProblems counts the bots with problems; WithWarnings those
	// with warnings but no problem.
	WithProblems, WithWarnings int
	// Worst are the plans of the bot ids with the most requests per hour
	// against their budget (one plan per bot id, its first variant),
	// worst first, at most 5.
	Worst []BotPlan
}

// Summarize sums plans, the result of c.Plan(), over the exporter.
func (c *Config) Summarize(plans []BotPlan) PlanSummary {
	var s PlanSummary
	s.Bots = len(plans)
	seen := map[string]bool{}
	var ids []BotPlan
	peaks := map[string]int{}
	for _, p := range plans {
		s.Jobs += len(p.Windows)
		s.RequestsPerHour += p.EstimatedRequestsPerHour
		s.FastRequestsPerHour += p.FastRequestsPerHour
		s.Slots += p.Slots
		s.MaxSeries += p.MaxSeries
		switch {
		case len(p.Problems) > 0:
			s.WithProblems++
		case len(p.Warnings) > 0:
			s.WithWarnings++
		}
		peaks[p.BotID] += p.PeakRequestsPerMinute
		if !seen[p.BotID] {
			seen[p.BotID] = true
			ids = append(ids, p)
		}
	}
	s.BotIDs = len(ids)
	s.Slots = min(s.Slots, float64(s.Jobs))
	for _, peak := range peaks {
		if b := c.Limits.RequestsPerMinutePerBot; b > 0 && !c.Limits.Unlimited {
			peak = min(peak, b)
		}
		s.PeakRequestsPerMinute += peak
	}
	if n := c.Limits.MaxConcurrentJobs; n > 0 {
		s.PeakRequestsPerMinute = min(s.PeakRequestsPerMinute, n*planRequestsPerPage)
	}
	slices.SortStableFunc(ids, func(a, b BotPlan) int {
		return cmp.Compare(load(b), load(a))
	})
	s.Worst = ids[:min(planWorst, len(ids))]
	return s
}

// autoConcurrentJobs returns limits.max_concurrent_jobs for a file that
// does not set it: the slots the plan says the jobs hold on average (its
// model takes about a minute per report page, generous for quicker
// reports), at least MinAutoConcurrentJobs, and at most one per job, so a
// fleet gets the slots it needs while a job slot stays a bound on the
// exporter's own work.
func (c *Config) autoConcurrentJobs() int {
	s := c.Summarize(c.Plan())
	return max(MinAutoConcurrentJobs, min(ceil(s.Slots), s.Jobs))
}

// load is a bot id's estimated requests per hour over its budget.
func load(p BotPlan) float64 {
	if p.BudgetPerHour <= 0 {
		return float64(p.BotIDRequestsPerHour)
	}
	return float64(p.BotIDRequestsPerHour) / float64(p.BudgetPerHour)
}

// WritePlan writes a summary of the plan (bots, jobs, requests, slots,
// series, the worst bot ids), then the table of bots and their problems
// and warnings, and the model's assumptions. Without verbose the table
// holds only the bots with problems or warnings, the first 10 of them.
// When the plan cannot be met it returns an error wrapping
// ErrPlanCannotBeMet.
func (c *Config) WritePlan(w io.Writer, verbose bool) error {
	plans := c.Plan()
	s := c.Summarize(plans)
	var out strings.Builder
	fmt.Fprintf(&out, "summary:\n")
	fmt.Fprintf(&out, "  bots: %d (%d bot ids); jobs: %d (bot × window)\n", s.Bots, s.BotIDs, s.Jobs)
	if len(s.Worst) > 0 {
		wb := s.Worst[0]
		fmt.Fprintf(&out, "  requests: about %d/hour for jobs of about a minute (about %d/hour if jobs take a few seconds); most: bot_id %s, about %d/hour of its %d/hour\n",
			s.RequestsPerHour, s.FastRequestsPerHour, wb.BotID, wb.BotIDRequestsPerHour, wb.BudgetPerHour)
	}
	fmt.Fprintf(&out, "  peak: up to about %d requests/minute when every window starts at once (as at start)\n", s.PeakRequestsPerMinute)
	slots := "enough"
	if s.Slots > float64(c.Limits.MaxConcurrentJobs) {
		slots = "too few"
	}
	if c.Limits.AutoConcurrentJobs {
		slots += "; not set, so sized from this plan"
	}
	fmt.Fprintf(&out, "  slots: about %.1f of the %d jobs in flight on average; limits.max_concurrent_jobs %d (%s)\n", s.Slots, s.Jobs, c.Limits.MaxConcurrentJobs, slots)
	fmt.Fprintf(&out, "  limits: requests_per_minute_per_bot %d (Kore.ai allows %d/minute and %d/hour per bot)\n",
		c.Limits.RequestsPerMinutePerBot, kore.MaxRequestsPerMinute, kore.MaxRequestsPerHour)
	fmt.Fprintf(&out, "  series: at most %d task series in all (per bot: windows × max_task_rows × %d metrics), plus one kore_bot_info per bot\n",
		s.MaxSeries, len(contract.TaskFamilies()))
	var sessionBots, sessionRequests int
	for _, p := range plans {
		if p.Sessions.RequestsPerHour > 0 {
			sessionBots++
			sessionRequests += p.Sessions.RequestsPerHour
		}
	}
	if sessionBots > 0 {
		fmt.Fprintf(&out, "  sessions: %d bots count their sessions (Sessions History), about %d/hour of the requests above at their peak_per_hour\n", sessionBots, sessionRequests)
	}
	fmt.Fprintf(&out, "  bots with problems: %d; with warnings only: %d\n", s.WithProblems, s.WithWarnings)
	fmt.Fprintf(&out, "  worst bot ids by requests/hour against their budget:\n")
	for _, p := range s.Worst {
		names := p.Name
		if len(p.Variants) > 1 {
			names = strings.Join(p.Variants, ", ")
		}
		fmt.Fprintf(&out, "    %s (%s): about %d/hour of %d/hour (%.0f%%)\n", p.BotID, names, p.BotIDRequestsPerHour, p.BudgetPerHour, 100*load(p))
	}
	fmt.Fprintf(&out, "  model: ~%d rows per report; each page is a report job costing %d POST + polls: ~%d polls for a job of about %s (the estimates), %d for one done at the first poll; kore_exporter_report_requests measures each job's requests per run live\n",
		planAssumedRows, planPostsPerPage, planPollsPerPage, model.Duration(planJobDuration), planFastPollsPerPage)
	if _, err := io.WriteString(w, out.String()); err != nil {
		return err
	}

	// The bots to list: every one, or those with something to say.
	var listed []BotPlan
	flagged := 0
	for _, p := range plans {
		bad := len(p.Problems)+len(p.Warnings) > 0
		if bad {
			flagged++
		}
		if verbose || (bad && len(listed) < planListed) {
			listed = append(listed, p)
		}
	}
	if len(listed) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "BOT\tWINDOWS\tINTERVAL\tPAGE_SIZE\tPAGES/RUN\tREQ/RUN\tREQ/HOUR\tPEAK REQ/MIN\tMAX SERIES")
		for _, p := range listed {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d-%d\t%d-%d\t%d\t%d\n", p.Name, windowNames(p.Windows), model.Duration(p.Interval),
				p.PageSize, p.PagesPerRun, p.FastRequestsPerRun, p.RequestsPerRun, p.FastRequestsPerHour, p.EstimatedRequestsPerHour,
				p.PeakRequestsPerMinute, p.MaxSeries)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	out.Reset()
	shown := map[string]bool{}
	for _, p := range listed {
		if len(p.Variants) > 1 && !shown[p.BotID] {
			shown[p.BotID] = true
			fmt.Fprintf(&out, "budget: bot_id %s: variants %s share one budget: ~%d requests/hour together of %d/hour\n",
				p.BotID, strings.Join(p.Variants, ", "), p.BotIDRequestsPerHour, p.BudgetPerHour)
		}
	}
	listedSessions := 0
	for _, p := range plans {
		ss := p.Sessions
		if ss.RequestsPerHour == 0 || (!verbose && listedSessions == planListed) {
			continue
		}
		listedSessions++
		fmt.Fprintf(&out, "sessions: bot %s (bot_id %s): about %d requests/hour at %d sessions in the busiest hour (%d a page); after a start, up to %d pages rebuild the last %d hours in about %s (%d pages a run)\n",
			p.Name, p.BotID, ss.RequestsPerHour, p.peakPerHour, kore.SessionsPageSize, ss.RebuildPages, ss.RebuildHours, model.Duration(ss.RebuildTime), ss.RebuildPagesPerRun)
	}
	if more := sessionBots - listedSessions; more > 0 {
		fmt.Fprintf(&out, "... and %d more bots with sessions: --config.check.verbose lists every bot\n", more)
	}
	for _, p := range listed {
		for _, problem := range p.Problems {
			fmt.Fprintf(&out, "error: bot %s: %s\n", p.Name, problem)
		}
		for _, warning := range p.Warnings {
			fmt.Fprintf(&out, "warning: bot %s: %s\n", p.Name, warning)
		}
	}
	if more := flagged - planListed; !verbose && more > 0 {
		fmt.Fprintf(&out, "... and %d more bots with problems or warnings: --config.check.verbose lists every bot\n", more)
	}
	if s.Slots > float64(c.Limits.MaxConcurrentJobs) {
		fmt.Fprintf(&out, "warning: jobs need about %.1f slots on average, more than limits.max_concurrent_jobs %d: runs wait for a free slot, so windows run later than the above says; raise limits.max_concurrent_jobs\n",
			s.Slots, c.Limits.MaxConcurrentJobs)
	}
	if _, err := io.WriteString(w, out.String()); err != nil {
		return err
	}
	if s.WithProblems > 0 {
		problems := 0
		for _, p := range plans {
			problems += len(p.Problems)
		}
		return fmt.Errorf("%w: %d problem(s) in %d bot(s), on the lines starting with \"error:\"", ErrPlanCannotBeMet, problems, s.WithProblems)
	}
	return nil
}

// ErrPlanCannotBeMet is returned by WritePlan, after writing the plan,
// when the configuration is valid but cannot run as written: some bot's
// estimated requests exceed its hourly budget, so the limiter delays its
// calls and its windows run later than their interval (see
// BotPlan.Problems). The exporter still starts with such a configuration;
// --config.check exits 3.
var ErrPlanCannotBeMet = errors.New("the plan cannot be met")
