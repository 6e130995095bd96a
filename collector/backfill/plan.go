package backfill

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/model"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/kore"
)

// Limits of a backfill range.
const (
	// MinStep is the shortest step: the exporter's shortest interval.
	MinStep = time.Minute
	// MaxLookback is how far back a range may start: the API's 90-day
	// range (kore/API.md §3), which this command also takes as how far back
	// Kore.ai keeps report data.
	MaxLookback = 90 * 24 * time.Hour
)

// ParseTime parses a --start or --end value: "now", a duration relative to
// now with a sign ("-8d", "-36h", "+0s"; units as Prometheus durations:
// ms, s, m, h, d, w, y) or an absolute RFC 3339 time.
func ParseTime(s string, now time.Time) (time.Time, error) {
	switch {
	case s == "now":
		return now, nil
	case strings.HasPrefix(s, "-"), strings.HasPrefix(s, "+"):
		d, err := model.ParseDuration(s[1:])
		if err != nil {
			return time.Time{}, fmt.Errorf("parse time %q: %w", s, err)
		}
		if s[0] == '-' {
			return now.Add(-time.Duration(d)), nil
		}
		return now.Add(time.Duration(d)), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse time %q: want now, a relative duration such as -8d or an RFC 3339 time: %w", s, err)
	}
	return t, nil
}

// Point is one sample instant of one bot × window: the report over
// [At - window - delay, At - delay], as the exporter would have run it at At;
// or, for a bot with sessions.enabled, a session span (isSpan): the bot's
// sessions of [At, At + Window.Duration), counted once for every instant
// that needs them (sessions.go).
type Point struct {
	Bot    int // index into the configuration's bots
	Window config.Window
	At     time.Time
}

// Plan is a validated backfill: the instants, the points and the estimated
// cost per bot.
type Plan struct {
	Config   *config.Config
	Step     time.Duration
	Instants []time.Time // multiples of Step since the Unix epoch, ascending
	Bots     []BotPlan   // one per configured bot, in configuration order
}

// BotPlan is the estimated cost of one bot's points.
type BotPlan struct {
	Name, BotID string
	Windows     []string
	// Points is instants × windows; each point is one report.
	Points int
	// Spans is the session spans of a bot with sessions.enabled (whole
	// hours and the instants' own partial hours), each counted once.
	Spans int
	// RequestsPerReport is the exporter's estimate of one report's
	// requests (config.BotPlan.RequestsPerRun: pages × (1 submit + polls)).
	RequestsPerReport int
	// Requests is Points × RequestsPerReport.
	Requests int
	// AtBudget is the time the requests of the bot (and of the other
	// configured variants of its bot_id, which share its budget) take at
	// limits.requests_per_minute_per_bot, capped by Kore.ai's 1,800/h.
	AtBudget time.Duration
	// AtKoreMax is the same at Kore.ai's own limit (60/min, 1,800/h: 30/min
	// sustained), the best any client can do.
	AtKoreMax time.Duration
}

// NewPlan checks a range against the API's limits and plans it: the
// instants are the multiples of step (since the Unix epoch, so a rerun with
// relative times finds the same instants) from start to end, both
// included. Every error comes before any request.
func NewPlan(cfg *config.Config, start, end time.Time, step time.Duration, now time.Time) (*Plan, error) {
	var errs []error
	if step < MinStep {
		errs = append(errs, fmt.Errorf("--step %s: must be at least %s", step, MinStep))
	}
	if end.Before(start) {
		errs = append(errs, fmt.Errorf("--end %s is before --start %s", fmtTime(end), fmtTime(start)))
	}
	if end.After(now) {
		errs = append(errs, fmt.Errorf("--end %s is in the future (now is %s): Kore.ai has no data for it yet", fmtTime(end), fmtTime(now)))
	}
	if earliest := now.Add(-MaxLookback); start.Before(earliest) {
		errs = append(errs, fmt.Errorf("--start %s is more than 90 days back (the earliest is %s): the API's range is at most 90 days", fmtTime(start), fmtTime(earliest)))
	}
	if len(cfg.Bots) == 0 {
		errs = append(errs, errors.New("the configuration has no bots"))
	}
	for i, b := range cfg.Bots {
		for j, w := range b.Windows {
			if w.Duration > kore.MaxRange {
				errs = append(errs, fmt.Errorf("bots[%d].windows[%d] (%s, %s): longer than the API's 90-day range", i, j, b.Name, w.Name))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p := &Plan{Config: cfg, Step: step}
	first := start.Truncate(step) // Truncate works on absolute time
	if first.Before(start) {
		first = first.Add(step)
	}
	for t := first; !t.After(end); t = t.Add(step) {
		p.Instants = append(p.Instants, t.UTC())
	}
	if len(p.Instants) == 0 {
		return nil, fmt.Errorf("no multiple of --step %s lies between --start %s and --end %s", step, fmtTime(start), fmtTime(end))
	}
	estimates := cfg.Plan()
	perBotID := map[string]int{}
	for i, b := range cfg.Bots {
		bp := BotPlan{Name: b.Name, BotID: b.BotID, Points: len(p.Instants) * len(b.Windows), RequestsPerReport: estimates[i].RequestsPerRun,
			Spans: len(spans(b, p.Instants))}
		for _, w := range b.Windows {
			bp.Windows = append(bp.Windows, w.Name)
		}
		// A span at the bot's busiest hour takes its sessions / 100 pages.
		spanPages := max(1, (b.Sessions.PeakPerHour+kore.SessionsPageSize-1)/kore.SessionsPageSize)
		bp.Requests = bp.Points*bp.RequestsPerReport + bp.Spans*spanPages
		perBotID[b.BotID] += bp.Requests
		p.Bots = append(p.Bots, bp)
	}
	budget := min(float64(cfg.Limits.RequestsPerMinutePerBot), kore.MaxRequestsPerHour/60.0)
	for i := range p.Bots {
		req := float64(perBotID[p.Bots[i].BotID])
		if budget > 0 && !cfg.Limits.Unlimited {
			p.Bots[i].AtBudget = time.Duration(req / budget * float64(time.Minute))
		}
		p.Bots[i].AtKoreMax = time.Duration(req / (kore.MaxRequestsPerHour / 60.0) * float64(time.Minute))
	}
	return p, nil
}

// Points returns every point of the plan: bot by bot, the bot's session
// spans first, oldest first, then instant by instant, window by window.
func (p *Plan) Points() []Point {
	var out []Point
	for i, b := range p.Config.Bots {
		for _, sp := range spans(b, p.Instants) {
			sp.Bot = i
			out = append(out, sp)
		}
		for _, t := range p.Instants {
			for _, w := range b.Windows {
				out = append(out, Point{Bot: i, Window: w, At: t})
			}
		}
	}
	return out
}

// Write writes the plan as a table and its assumptions.
func (p *Plan) Write(w io.Writer) error {
	first, last := p.Instants[0], p.Instants[len(p.Instants)-1]
	var b strings.Builder
	fmt.Fprintf(&b, "backfill plan: %d instants from %s to %s every %s\n", len(p.Instants), fmtTime(first), fmtTime(last), p.Step)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BOT\tWINDOWS\tPOINTS\tREPORTS\tSESSION SPANS\tEST. REQUESTS\tTIME AT BUDGET\tTIME AT KORE.AI MAX")
	total := BotPlan{}
	atBudget := func(d time.Duration) string {
		if p.Config.Limits.Unlimited {
			return "no budget"
		}
		return fmtDuration(d)
	}
	for _, bp := range p.Bots {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", bp.Name, strings.Join(bp.Windows, ","), bp.Points, bp.Points, bp.Spans, bp.Requests,
			atBudget(bp.AtBudget), fmtDuration(bp.AtKoreMax))
		total.Points += bp.Points
		total.Spans += bp.Spans
		total.Requests += bp.Requests
		total.AtBudget = max(total.AtBudget, bp.AtBudget)
	}
	fmt.Fprintf(tw, "total\t\t%d\t%d\t%d\t%d\t%s (bots in parallel)\t\n", total.Points, total.Points, total.Spans, total.Requests, atBudget(total.AtBudget))
	if err := tw.Flush(); err != nil {
		return err
	}
	l := p.Config.Limits
	if l.Unlimited {
		fmt.Fprintf(&b, "budget: none: the API is simulated (--demo), its jobs finish at once and no Kore.ai budget is at stake\n")
	}
	fmt.Fprintf(&b, "model: one Cumulative report per point over [t - window - delay, t - delay], as the exporter runs it; ~%d requests per report is the exporter's estimate for jobs of about a minute (--config.check), fast jobs take fewer: the summary counts the real requests\n",
		maxRequestsPerReport(p.Bots))
	if !l.Unlimited {
		fmt.Fprintf(&b, "budget: limits.requests_per_minute_per_bot %d per bot (Kore.ai allows %d/minute and %d/hour per bot; variants of one bot_id share it); at most %d reports in flight (limits.max_concurrent_jobs)\n",
			l.RequestsPerMinutePerBot, kore.MaxRequestsPerMinute, kore.MaxRequestsPerHour, max(1, l.MaxConcurrentJobs))
	}
	fmt.Fprintf(&b, "live exporter: if one polls these bots meanwhile, it spends the same Kore.ai budget; lower limits.requests_per_minute_per_bot in the backfill's configuration by what it uses (REQ/HOUR ÷ 60 of --config.check)\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func maxRequestsPerReport(bots []BotPlan) int {
	n := 0
	for _, b := range bots {
		n = max(n, b.RequestsPerReport)
	}
	return n
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// fmtDuration rounds d for people: minutes, or hours and minutes.
func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Round(time.Minute).Minutes()))
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// Size returns the plan's points: the reports and session spans it runs.
func (p *Plan) Size() int {
	n := 0
	for _, b := range p.Bots {
		n += b.Points + b.Spans
	}
	return n
}
