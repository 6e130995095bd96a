package config

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kore-exporter/kore_exporter/kore"
	"github.com/prometheus/common/model"
)

// The request model of Plan, in one place. Per window run the exporter
// fetches Pages pages; each page is its own report job (kore/API.md §7
// skip/limit): one POST to submit it and polls until it is done, the last
// poll returning the page's rows. The polls are spaced by the client's
// schedule (kore.DefaultPollBackoff: 2 s, ×1.5 up to 30 s), so a job that
// takes about a minute costs about 7 polls (2+3+4.5+6.75+10.1+15.2+22.8 s
// ≈ 64 s). Pages run one after another.
const (
	// planPostsPerPage is the submit request of each page's job.
	planPostsPerPage = 1
	// planJobDuration is how long one page's job is assumed to take.
	planJobDuration = time.Minute
	// planAssumedRows is the rows a report is assumed to return: about
	// 100 tasks with a success and a failtask row each. The real count
	// shows in the exporter's metrics once it runs.
	planAssumedRows = 200
	// planTaskMetrics is the data metrics (kore_task_*) each exported
	// task row becomes.
	planTaskMetrics = 5
)

var (
	// planPollsPerPage is the polls of a job that takes planJobDuration.
	planPollsPerPage = kore.DefaultPollBackoff().Steps(planJobDuration)
	// planRequestsPerPage is every request of one page.
	planRequestsPerPage = planPostsPerPage + planPollsPerPage
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
	// RunDuration is the estimated length of one window's run.
	RunDuration time.Duration
	// EstimatedRequestsPerHour is runs per hour (1h / Interval) × windows
	// × RequestsPerRun, rounded up.
	EstimatedRequestsPerHour int
	// BotIDRequestsPerHour is EstimatedRequestsPerHour summed over the
	// Variants: what the bot id's budget must hold.
	BotIDRequestsPerHour int
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
	// Problems say why the plan cannot be met: the estimated requests
	// exceed the bot's hourly budget (Kore.ai's 1,800/h, which the
	// limiter holds, or limits.requests_per_minute_per_bot × 60), so the
	// limiter delays the calls and the windows run late. Each says how late.
	Problems []string
	// Warnings say where the estimate may slow or fail runs depending on
	// how long jobs really take: a run longer than the timeout or the
	// interval, every window starting at once.
	Warnings []string
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
		p.RunDuration = time.Duration(p.PagesPerRun) * planJobDuration
		if b.Interval > 0 {
			runsPerHour := float64(time.Hour) / float64(b.Interval)
			perHour := runsPerHour * float64(len(b.Windows)) * float64(p.RequestsPerRun)
			p.EstimatedRequestsPerHour = int(perHour)
			if float64(p.EstimatedRequestsPerHour) < perHour {
				p.EstimatedRequestsPerHour++
			}
		}
		p.PeakRequestsPerMinute = len(b.Windows) * planRequestsPerPage
		p.MaxTaskRows = b.MaxTaskRows
		p.MaxSeries = len(b.Windows) * b.MaxTaskRows * planTaskMetrics
		plans = append(plans, p)
	}
	// The budget is per bot id: variants of one bot share it.
	needs, peaks, windows := map[string]int{}, map[string]int{}, map[string]int{}
	variants := map[string][]string{}
	for _, p := range plans {
		needs[p.BotID] += p.EstimatedRequestsPerHour
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
		who := "" // or which variants share the budget
		if vs := variants[b.BotID]; len(vs) > 1 {
			p.Variants = vs
			who = fmt.Sprintf(" for the %d variants of bot_id %s (%s) together", len(vs), b.BotID, strings.Join(vs, ", "))
		}
		if perHour > 0 && need > perHour {
			// The limiter lets perHour requests through per hour, so each
			// window runs about need/perHour times less often.
			late := time.Duration(float64(b.Interval) * float64(need) / float64(perHour)).Round(time.Minute)
			p.EffectiveInterval = max(late, p.RunDuration)
			p.Problems = append(p.Problems, fmt.Sprintf(
				"about %d requests/hour%s exceed the budget of %d/hour (%s): the limiter delays the calls, so each window's run starts only about every %s instead of every %s; the runs in between are skipped as overlapping, and a run whose wait passes timeout %s fails; raise interval or page_size, or drop windows",
				need, who, perHour, budgetSource(budget), model.Duration(p.EffectiveInterval), model.Duration(b.Interval), model.Duration(b.Timeout)))
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
		} else if b.Interval > 0 && p.RunDuration > b.Interval {
			p.Warnings = append(p.Warnings, fmt.Sprintf(
				"a run of about %d pages takes about %s, longer than interval %s: each window would run only about every %s, the runs in between skipped; raise interval or page_size",
				p.PagesPerRun, model.Duration(p.RunDuration), model.Duration(b.Interval), model.Duration(p.RunDuration)))
		}
	}
	return plans
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

// WritePlan writes the plan of every bot as a table, then its problems
// and warnings, the exporter-wide concurrency estimate and the model's
// assumptions. When the plan cannot be met it returns an error wrapping
// ErrPlanCannotBeMet.
func (c *Config) WritePlan(w io.Writer) error {
	plans := c.Plan()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BOT\tWINDOWS\tINTERVAL\tPAGE_SIZE\tPAGES/RUN\tREQ/RUN\tREQ/HOUR\tPEAK REQ/MIN\tMAX SERIES")
	var jobMinutesPerHour float64
	maxSeries := 0
	for i, p := range plans {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", p.Name, windowNames(p.Windows), model.Duration(p.Interval),
			p.PageSize, p.PagesPerRun, p.RequestsPerRun, p.EstimatedRequestsPerHour, p.PeakRequestsPerMinute, p.MaxSeries)
		maxSeries += p.MaxSeries
		if b := c.Bots[i]; b.Interval > 0 {
			jobMinutesPerHour += float64(time.Hour) / float64(b.Interval) * float64(len(b.Windows)) * p.RunDuration.Minutes()
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var out strings.Builder
	shown := map[string]bool{}
	for _, p := range plans {
		if len(p.Variants) > 1 && !shown[p.BotID] {
			shown[p.BotID] = true
			fmt.Fprintf(&out, "budget: bot_id %s: variants %s share one budget: ~%d requests/hour together of %d/hour\n",
				p.BotID, strings.Join(p.Variants, ", "), p.BotIDRequestsPerHour, min(c.Limits.RequestsPerMinutePerBot*60, kore.MaxRequestsPerHour))
		}
	}
	problems := 0
	for _, p := range plans {
		for _, problem := range p.Problems {
			fmt.Fprintf(&out, "error: bot %s: %s\n", p.Name, problem)
			problems++
		}
		for _, warning := range p.Warnings {
			fmt.Fprintf(&out, "warning: bot %s: %s\n", p.Name, warning)
		}
	}
	busy := jobMinutesPerHour / 60
	fmt.Fprintf(&out, "jobs: about %.1f in flight on average; limits.max_concurrent_jobs %d\n", busy, c.Limits.MaxConcurrentJobs)
	if busy > float64(c.Limits.MaxConcurrentJobs) {
		fmt.Fprintf(&out, "warning: jobs need about %.1f slots on average, more than limits.max_concurrent_jobs %d: runs will queue and be skipped\n",
			busy, c.Limits.MaxConcurrentJobs)
	}
	fmt.Fprintf(&out, "limits: requests_per_minute_per_bot %d (Kore.ai allows %d/minute and %d/hour per bot)\n",
		c.Limits.RequestsPerMinutePerBot, kore.MaxRequestsPerMinute, kore.MaxRequestsPerHour)
	fmt.Fprintf(&out, "series: at most %d task series in all (per bot: windows × max_task_rows × %d metrics), plus one kore_bot_info per bot\n",
		maxSeries, planTaskMetrics)
	fmt.Fprintf(&out, "model: ~%d rows per report; each page is a job of about %s costing %d POST + ~%d polls; pages run one after another\n",
		planAssumedRows, model.Duration(planJobDuration), planPostsPerPage, planPollsPerPage)
	if _, err := io.WriteString(w, out.String()); err != nil {
		return err
	}
	if problems > 0 {
		return fmt.Errorf("%w: %d problem(s), on the lines starting with \"error:\"", ErrPlanCannotBeMet, problems)
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
