package main

// --config.check.probe: after the configuration is valid, send each bot one
// small report request through the real kore.Client and say, per bot,
// whether Kore.ai accepts its credentials, or the likely cause and its fix
// (kore.Diagnose holds the causes and their texts).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

// exitProbeFailed is the exit code of --config.check.probe when some bot
// failed the probe (it wins over exitPlanCannotBeMet).
const exitProbeFailed = 4

const (
	// probeTimeout bounds one bot's probe: submit, polls, retries.
	probeTimeout = 60 * time.Second
	// probeParallel bounds the probes in flight.
	probeParallel = 8
	// probeWindow is the report window of a probe, ending now: small, so
	// the job is quick and its answer one row at most (limit=1).
	probeWindow = time.Minute
	// probeAttempts bounds the attempts of each probe request: one retry,
	// so a probe costs a few requests even when Kore.ai is unwell.
	probeAttempts = 2
)

// probeOpts configure probeBots; the zero value is the real thing.
type probeOpts struct {
	// now signs the tokens and ends the report window (time.Now if nil);
	// tests set a skewed clock.
	now func() time.Time
	// hc is the HTTP client (kore.NewHTTPClient if nil).
	hc *http.Client
	// timeout bounds each probe (probeTimeout if 0).
	timeout time.Duration
}

// probeTarget is one distinct (host, bot_id, credentials): variants of one
// bot_id with the same host and credentials are probed once, with the
// first variant's filters.
type probeTarget struct {
	names []string   // the configured bots it stands for
	bot   config.Bot // the first of them
	// sessions is set when one of them counts sessions: the probe reads
	// one page of the Sessions History API too.
	sessions bool
	creds    string // host, client id and a hash of the secret or key: never printed
}

// probeResult is what one probe found.
type probeResult struct {
	warnings []string
	err      error
	failed   string // which call failed, when not the report: "sessions …: "
	requests int
	causes   []kore.Cause
}

// checkAndProbe is --config.check followed by the probe: it returns
// exitProbeFailed when some bot failed, else checkPlan's code.
func checkAndProbe(ctx context.Context, cfg *config.Config, verbose bool, stdout, stderr io.Writer) int {
	code := checkPlan(cfg, verbose, stdout, stderr)
	if code == exitInvalid {
		return code
	}
	failed, total, err := probeBots(ctx, cfg, probeOpts{}, stdout)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "%s: cannot probe: %v\n", exporterName, err)
		return exitInvalid
	case failed > 0:
		fmt.Fprintf(stderr, "%s: %d of %d bots failed the credentials probe (exit %d)\n", exporterName, failed, total, exitProbeFailed)
		return exitProbeFailed
	}
	return code
}

// probeTargets groups cfg's bots into probe targets, in configuration order.
func probeTargets(cfg *config.Config) []*probeTarget {
	var targets []*probeTarget
	seen := make(map[string]*probeTarget)
	for _, b := range cfg.Bots {
		h := sha256.Sum256([]byte(b.ClientSecret.Reveal() + "\x00" + b.PrivateKey.Reveal()))
		creds := b.Host + "\x00" + b.ClientID + "\x00" + hex.EncodeToString(h[:])
		key := creds + "\x00" + b.BotID
		if t := seen[key]; t != nil {
			t.names = append(t.names, b.Name)
			t.sessions = t.sessions || b.Sessions.Enabled
			continue
		}
		t := &probeTarget{names: []string{b.Name}, bot: b, creds: creds, sessions: b.Sessions.Enabled}
		seen[key] = t
		targets = append(targets, t)
	}
	return targets
}

// probeBots probes every target of cfg, at most probeParallel at once, and
// writes one verdict per target to w, then the total. It returns how many
// targets failed and how many there were.
func probeBots(ctx context.Context, cfg *config.Config, o probeOpts, w io.Writer) (failed, total int, err error) {
	if o.now == nil {
		o.now = time.Now
	}
	if o.hc == nil {
		o.hc = kore.NewHTTPClient(probeParallel)
	}
	if o.timeout <= 0 {
		o.timeout = probeTimeout
	}
	budgets, err := report.NewBudgets(cfg.Limits)
	if err != nil {
		return 0, 0, err
	}
	targets := probeTargets(cfg)
	fmt.Fprintf(w, "probe: %s to probe (%d configured; variants of one bot_id with the same host and credentials are probed once), one small report each\n",
		plural(len(targets), "bot"), len(cfg.Bots))

	results := make([]probeResult, len(targets))
	sem := make(chan struct{}, probeParallel)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
				results[i] = probeOne(ctx, t, budgets, o)
			case <-ctx.Done():
				results[i] = probeResult{err: fmt.Errorf("probe not started: %w", ctx.Err())}
			}
		})
	}
	wg.Wait()

	// Credentials that work for one bot on a host narrow the causes of
	// another bot's 401 with the same credentials down to the bot.
	works := make(map[string]bool)
	for i, r := range results {
		if r.err == nil {
			works[targets[i].creds] = true
		}
	}
	redact := cfg.Redactor()
	spent := 0
	for i, t := range targets {
		r := &results[i]
		spent += r.requests
		if r.err != nil {
			failed++
			r.causes = kore.Diagnose(r.err, kore.Signals{BotID: t.bot.BotID, ClientID: t.bot.ClientID, CredentialsWork: works[t.creds]})
		}
		writeVerdict(w, t, r, redact)
	}
	fmt.Fprintf(w, "probe: %d of %s ok; %s spent in total (each bot's count against its Kore.ai budget of %d/hour)\n",
		len(targets)-failed, plural(len(targets), "bot"), plural(spent, "request"), kore.MaxRequestsPerHour)
	return failed, len(targets), nil
}

// probeOne sends t's bot one report request of probeWindow with limit=1 and
// waits for its job, within o.timeout.
func probeOne(ctx context.Context, t *probeTarget, budgets *kore.Budgets, o probeOpts) probeResult {
	r := probeResult{warnings: kore.CheckIDShapes(t.bot.BotID, t.bot.ClientID)}
	c, err := newProbeClient(t.bot, budgets, o)
	if err != nil {
		r.err = err
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	to := o.now().UTC().Truncate(time.Millisecond)
	req := report.NewRequest(t.bot, to.Add(-probeWindow), to)
	req.PageSize, req.MaxRows = 1, 1
	rep, err := c.RunContainmentReport(ctx, t.bot.BotID, req)
	if rep != nil {
		r.requests = rep.Requests
	}
	if errors.Is(err, kore.ErrReportTooLarge) {
		err = nil // the first page came: that is all a probe needs
	}
	if err == nil && t.sessions {
		// One page of the Sessions History API: its own scope.
		var res kore.SessionsResult
		res, err = c.Sessions(ctx, t.bot.BotID, to.Add(-probeWindow), to, func(kore.Session) {})
		r.requests += res.Pages
		if err != nil {
			r.requests++ // the call that failed
			r.failed = "sessions (sessions.enabled): "
		}
	}
	r.err = err
	return r
}

// newProbeClient is the bot's kore.Client, as the exporter makes it, with
// probeAttempts and the probe's clock.
func newProbeClient(b config.Bot, budgets *kore.Budgets, o probeOpts) (*kore.Client, error) {
	opts, err := report.BotOptions(b)
	if err != nil {
		return nil, err
	}
	return kore.NewClient(append(opts,
		kore.WithBudgets(budgets),
		kore.WithHTTPClient(o.hc),
		kore.WithMaxAttempts(probeAttempts),
		kore.WithRequestTimeout(min(o.timeout, kore.DefaultRequestTimeout)),
		kore.WithClock(o.now),
	)...)
}

// writeVerdict writes one target's verdict: ok with its cost, or the
// answer and its causes, most likely first; then its warnings.
func writeVerdict(w io.Writer, t *probeTarget, r *probeResult, redact *config.Redactor) {
	who := fmt.Sprintf("%s (%s) at %s", strings.Join(t.names, ", "), t.bot.BotID, t.bot.Host)
	if r.err == nil {
		what := "report answered"
		if t.sessions {
			what = "report and sessions answered"
		}
		fmt.Fprintf(w, "ok      %s: credentials accepted, %s; %s of the bot's %d/hour\n", who, what, plural(r.requests, "request"), kore.MaxRequestsPerHour)
	} else {
		fmt.Fprintf(w, "FAILED  %s: %s%s; %s\n", who, r.failed, redact.Replace(answer(r.err)), plural(r.requests, "request"))
		if len(r.causes) > 1 {
			fmt.Fprintf(w, "        likely causes, most likely first:\n")
		}
		for i, c := range r.causes {
			fmt.Fprintf(w, "        %d. %s\n           fix: %s\n", i+1, c.What, c.Fix)
		}
	}
	for _, s := range r.warnings {
		fmt.Fprintf(w, "warning %s: %s\n", strings.Join(t.names, ", "), s)
	}
}

// plural is n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// answer is what Kore.ai (or the network) said, short: the HTTP status and
// message of an API error, without the hint an AuthError's text adds.
func answer(err error) string {
	var ap *kore.APIError
	if errors.As(err, &ap) {
		if ap.Message == "" {
			return fmt.Sprintf("HTTP %d", ap.StatusCode)
		}
		if ap.Code == 0 {
			return fmt.Sprintf("HTTP %d %q", ap.StatusCode, ap.Message)
		}
		return fmt.Sprintf("HTTP %d %q (code %d)", ap.StatusCode, ap.Message, ap.Code)
	}
	return err.Error()
}
