package backfill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-kit/log"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

// TestEightDaysMatchSimulator backfills 8 days at 1h steps for one bot with
// windows 1h and 24h against the simulator (jobs of 1.5 s, as in --demo; the
// demo's budget of 30 requests/minute): every point equals the simulator's
// Expected totals. It logs the figures of the cost table of docs/backfill.md: run
//
//	go test -run '^TestEightDaysMatchSimulator$' -v ./collector/backfill
//
// The wall time is the bubble's fake clock: what the run takes for real
// against the demo simulator, where the limiter and the polls set the pace.
func TestEightDaysMatchSimulator(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		plan := e.plan(t, 8*24*time.Hour, time.Hour)
		state := NewMemoryState()
		start := time.Now()
		res, out := e.run(t, t.Context(), plan, state, nil)
		elapsed := time.Since(start)
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		points := plan.Points()
		if res.Done != len(points) || res.Reports != len(points) {
			t.Fatalf("done %d, reports %d, want %d each", res.Done, res.Reports, len(points))
		}
		for _, pt := range points {
			got, _, _ := state.get(keyOf(plan.Config, pt))
			if want := e.expected(t, plan, pt); !reflect.DeepEqual(got, want) {
				t.Fatalf("point %s %s: got %d rows, want %d: %v\nwant %v", pt.Window.Name, fmtTime(pt.At), len(got), len(want), got, want)
			}
		}
		if !bytes.HasSuffix(out, []byte("# EOF\n")) {
			t.Fatal("output does not end with # EOF")
		}
		perPoint := float64(res.Requests) / float64(res.Reports)
		points90 := (90*24 + 1) * 2
		t.Logf("8 days at 1h, windows 1h and 24h, one bot: %d points, %d reports, %d requests (%.2f per report), %d retries, wall time %s (simulated clock; jobs 1.5 s, 30 requests/min)",
			res.Done, res.Reports, res.Requests, perPoint, res.Retries, elapsed.Round(time.Second))
		t.Logf("90 days at 1h, same bot: %d points, about %.0f requests: %.1f h at Kore.ai's 1,800/h, %.1f h at 30/min",
			points90, perPoint*float64(points90), perPoint*float64(points90)/1800, perPoint*float64(points90)/30/60)
	})
}

// TestOutputIsOpenMetrics checks the shape of the file: families whole and
// in name order, every sample with a timestamp at an instant, # EOF last.
func TestOutputIsOpenMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2)
		plan := e.plan(t, 3*time.Hour, time.Hour)
		state := NewMemoryState()
		_, out := e.run(t, t.Context(), plan, state, nil)
		lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		if lines[len(lines)-1] != "# EOF" {
			t.Fatalf("last line %q, want # EOF", lines[len(lines)-1])
		}
		var families []string
		seen := map[string]bool{}
		instants := map[string]bool{}
		for _, at := range plan.Instants {
			instants[fmt.Sprint(at.Unix())] = true
		}
		for _, l := range lines[:len(lines)-1] {
			if name, ok := strings.CutPrefix(l, "# TYPE "); ok {
				name = strings.Fields(name)[0]
				if seen[name] {
					t.Fatalf("family %s appears twice", name)
				}
				seen[name] = true
				families = append(families, name)
				continue
			}
			if strings.HasPrefix(l, "#") {
				continue
			}
			f := strings.Fields(l[strings.LastIndex(l, "}")+1:])
			if len(f) != 2 {
				t.Fatalf("sample without timestamp: %q", l)
			}
			var ts float64
			if _, err := fmt.Sscan(f[1], &ts); err != nil || !instants[fmt.Sprint(int64(ts))] {
				t.Fatalf("sample %q: timestamp not at an instant", l)
			}
			if !strings.HasPrefix(l, families[len(families)-1]+"{") {
				t.Fatalf("sample %q outside its family %s", l, families[len(families)-1])
			}
		}
		want := []string{"kore_bot_info", "kore_task_agent_transfer_sessions", "kore_task_drop_off_sessions",
			"kore_task_executions", "kore_task_self_service_sessions", "kore_task_sessions"}
		if !reflect.DeepEqual(families, want) {
			t.Fatalf("families %v, want %v", families, want)
		}
	})
}

// TestResumeEqualsUninterrupted stops a run after some points (as Ctrl-C
// would), checks the file it leaves is complete, cuts the state file's last
// line short (as a crash would), then reruns: only the missing points run,
// and the output equals an uninterrupted run's byte for byte.
func TestResumeEqualsUninterrupted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2)
		plan := e.plan(t, 12*time.Hour, time.Hour)
		total := len(plan.Points())
		_, want := e.run(t, t.Context(), plan, NewMemoryState(), nil)

		path := filepath.Join(t.TempDir(), "out.om.state")
		state, err := OpenState(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		res, partial := e.run(t, ctx, plan, state, &hook{n: 10, fn: cancel})
		cancel()
		if err := state.Close(); err != nil {
			t.Fatal(err)
		}
		if !res.Interrupted || !errors.Is(res.Err(), context.Canceled) || res.Done >= total {
			t.Fatalf("interrupted run: %+v, err %v", res, res.Err())
		}
		if !bytes.HasSuffix(partial, []byte("# EOF\n")) || bytes.Equal(partial, want) {
			t.Fatal("the interrupted run's output is not a shorter complete file")
		}
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(f, `0badc0de {"bot":"bot0","window":"1h","at":"20`) // a crash mid-line
		f.Close()

		state, err = OpenState(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		done := state.Len()
		res, got := e.run(t, t.Context(), plan, state, nil)
		if err := state.Close(); err != nil {
			t.Fatal(err)
		}
		if res.Err() != nil || res.Resumed != done || res.Reports != total-done {
			t.Fatalf("resumed run: %+v (state held %d of %d), err %v", res, done, total, res.Err())
		}
		if !bytes.Equal(got, want) {
			t.Fatal("the resumed output differs from the uninterrupted one")
		}
	})
}

// TestReportFailureIsReported makes the simulator fail every job from the
// fifth point on: those points are listed, the error says so, the output
// is still complete, and a rerun once the fault is gone fills them in.
func TestReportFailureIsReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		plan := e.plan(t, 6*time.Hour, time.Hour)
		total := len(plan.Points())
		_, want := e.run(t, t.Context(), plan, NewMemoryState(), nil)

		state := NewMemoryState()
		botID := e.bots[0].ID
		res, out := e.run(t, t.Context(), plan, state, &hook{n: 4, fn: func() { e.sim.SetFault(botID, koretest.Fault{FailJobs: true}) }})
		if len(res.Failed) == 0 || res.Done+len(res.Failed) != total || !errors.Is(res.Err(), ErrFailedPoints) {
			t.Fatalf("run with failing jobs: done %d, failed %d of %d, err %v", res.Done, len(res.Failed), total, res.Err())
		}
		for _, f := range res.Failed {
			if f.Result != "job_failed" || f.Bot != "bot0" || !strings.Contains(f.String(), "job_failed") {
				t.Fatalf("failure %s: want result job_failed", f)
			}
		}
		if !bytes.HasSuffix(out, []byte("# EOF\n")) {
			t.Fatal("output after failures does not end with # EOF")
		}
		e.sim.SetFault(botID, koretest.Fault{})
		res, got := e.run(t, t.Context(), plan, state, nil)
		if res.Err() != nil || res.Reports != len(res.Failed)+total-res.Resumed {
			t.Fatalf("rerun: %+v, err %v", res, res.Err())
		}
		if !bytes.Equal(got, want) {
			t.Fatal("output after the rerun differs from an uninterrupted run")
		}
	})
}

// TestBadRangesFailBeforeAnyRequest: every range the API cannot serve is
// refused by NewPlan, which makes no request.
func TestBadRangesFailBeforeAnyRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		now := time.Now()
		long := *e.cfg
		long.Bots = append(long.Bots[:0:0], e.cfg.Bots...)
		long.Bots[0].Windows = append(long.Bots[0].Windows, long.Bots[0].Windows[0])
		long.Bots[0].Windows[2].Name, long.Bots[0].Windows[2].Duration = "91d", 91*24*time.Hour
		for _, tc := range []struct {
			name       string
			start, end time.Time
			step       time.Duration
			cfg        bool // use the config with a 91-day window
			want       string
		}{
			{"end before start", now.Add(-time.Hour), now.Add(-2 * time.Hour), time.Hour, false, "is before --start"},
			{"more than 90 days back", now.Add(-91 * 24 * time.Hour), now, time.Hour, false, "more than 90 days back"},
			{"step below a minute", now.Add(-time.Hour), now, 30 * time.Second, false, "must be at least 1m"},
			{"end in the future", now.Add(-time.Hour), now.Add(time.Hour), time.Hour, false, "in the future"},
			{"window too long", now.Add(-time.Hour), now, time.Hour, true, "longer than the API's 90-day range"},
			{"no instant", now.Add(-2 * time.Minute).Truncate(time.Hour).Add(time.Minute), now.Add(-2 * time.Minute).Truncate(time.Hour).Add(2 * time.Minute), time.Hour, false, "no multiple of --step"},
		} {
			cfg := e.cfg
			if tc.cfg {
				cfg = &long
			}
			_, err := NewPlan(cfg, tc.start, tc.end, tc.step, now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
			}
		}
		if st := e.sim.Stats(e.bots[0].ID); st.Requests != 0 {
			t.Fatalf("%d requests made", st.Requests)
		}
	})
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 10, 12, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"now", now, false},
		{"-8d", now.Add(-8 * 24 * time.Hour), false},
		{"-36h", now.Add(-36 * time.Hour), false},
		{"-1h30m", now.Add(-90 * time.Minute), false},
		{"+0s", now, false},
		{"2025-06-01T00:00:00Z", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), false},
		{"2025-06-01T02:00:00+02:00", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), false},
		{"-8x", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"2025-06-01", time.Time{}, true},
	} {
		got, err := ParseTime(tc.in, now)
		if (err != nil) != tc.err || (!tc.err && !got.Equal(tc.want)) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestPlanCounts checks the plan's arithmetic and that its instants are
// multiples of the step, so reruns with relative times line up.
func TestPlanCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2)
		now := time.Now().Add(17 * time.Minute)
		p, err := NewPlan(e.cfg, now.Add(-48*time.Hour), now, time.Hour, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Instants) != 48 {
			t.Fatalf("%d instants, want 48", len(p.Instants))
		}
		for _, at := range p.Instants {
			if at.UnixMilli()%time.Hour.Milliseconds() != 0 {
				t.Fatalf("instant %s is not a multiple of the step", at)
			}
		}
		for _, b := range p.Bots {
			if b.Points != 96 || b.Requests != 96*b.RequestsPerReport || b.AtBudget <= 0 {
				t.Fatalf("bot plan %+v", b)
			}
		}
		var buf bytes.Buffer
		if err := p.Write(&buf); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"48 instants", "bot0", "bot1", "total", "live exporter"} {
			if !strings.Contains(buf.String(), want) {
				t.Fatalf("plan lacks %q:\n%s", want, buf.String())
			}
		}
	})
}

// TestVariantsGetTheirOwnClients: each variant of a bot_id runs through a
// client built from its own settings (host, credentials), while the
// variants share the bot's budget, and each gets its own channel's numbers.
func TestVariantsGetTheirOwnClients(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		b := e.bots[0]
		var yaml bytes.Buffer
		fmt.Fprintf(&yaml, "defaults:\n  host: %s\n  windows: [1h]\n  timeout: 50s\nbots:\n", e.sim.URL)
		for _, ch := range []string{koretest.ChannelWeb, koretest.ChannelWhatsApp} {
			fmt.Fprintf(&yaml, "  - name: %s\n    bot_id: %s\n    client_id: %s\n    client_secret: %q\n    filters: {tags: [{name: %s, values: [%s]}]}\n",
				ch, b.ID, b.ClientID, b.ClientSecret, koretest.ChannelTag, ch)
		}
		cfg, err := config.Parse(yaml.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		e.cfg = cfg
		var built []string
		var budgets []*kore.Budgets
		factory := func(bot config.Bot, bs *kore.Budgets, obs kore.Observer) (report.Runner, error) {
			built, budgets = append(built, bot.Name), append(budgets, bs)
			return e.clients(bot, bs, obs)
		}
		plan := e.plan(t, 3*time.Hour, time.Hour)
		state, err := OpenState(filepath.Join(t.TempDir(), "out.om.state"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer state.Close()
		res, err := Run(t.Context(), plan, RunOptions{NewClient: factory, State: state})
		if err != nil || len(res.Failed) != 0 {
			t.Fatalf("run: %v, %+v", err, res)
		}
		if !slices.Equal(built, []string{"web", "whatsapp"}) || budgets[0] != budgets[1] {
			t.Errorf("clients built for %v, want one per variant, sharing one budget", built)
		}
		for _, pt := range plan.Points() {
			bot := cfg.Bots[pt.Bot]
			from, to := report.WindowBounds(bot, pt.Window, pt.At)
			want := e.sim.Expected(bot.BotID, from, to, koretest.Filters{Channels: []string{bot.Name}})
			got, ok, _ := state.get(keyOf(cfg, pt))
			if !ok || sessionsOf(got) != sessionsOfExpected(want) {
				t.Errorf("%s at %v: %d sessions, want %d", bot.Name, pt.At, sessionsOf(got), sessionsOfExpected(want))
			}
		}
	})
}

func sessionsOf(rows []kore.TaskRow) (n int64) {
	for _, r := range rows {
		n += r.TotalSession
	}
	return n
}

func sessionsOfExpected(rows []koretest.Row) (n int64) {
	for _, r := range rows {
		n += r.TotalSession
	}
	return n
}

// panicRunner is a report.Runner that panics with its message.
type panicRunner string

func (p panicRunner) RunContainmentReport(context.Context, string, kore.ReportRequest) (*kore.Report, error) {
	panic(string(p))
}

// TestPanicIsAFailureWithoutSecrets: a panic in a report run fails its
// point (the others go on), and the failure shows neither the bot's secret
// nor a token the panic's value quoted.
func TestPanicIsAFailureWithoutSecrets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		const jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhcHBJZCI6ImNzLTEifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
		secret := e.cfg.Bots[0].ClientSecret.Reveal()
		factory := func(config.Bot, *kore.Budgets, kore.Observer) (report.Runner, error) {
			return panicRunner("signing with " + secret + " gave " + jwt), nil
		}
		plan := e.plan(t, 2*time.Hour, time.Hour)
		res, err := Run(t.Context(), plan, RunOptions{NewClient: factory, State: NewMemoryState()})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Failed) != len(plan.Points()) || res.Done != 0 {
			t.Fatalf("done %d, failed %d of %d points; want every point failed", res.Done, len(res.Failed), len(plan.Points()))
		}
		for _, f := range res.Failed {
			text := f.String()
			if f.Result != report.ResultError || !strings.Contains(text, "report run panicked: signing with <secret> gave <token>") {
				t.Errorf("failure %q (result %s): want the panic, secret and token redacted", text, f.Result)
			}
			if strings.Contains(text, secret) || strings.Contains(text, "eyJ") {
				t.Errorf("failure shows the secret or the token: %s", text)
			}
		}
	})
}

// TestTokenInTaskNameIsRedacted: a report whose task names are, or contain,
// the submit request's token (koretest's TokenInTaskName; the client
// scrubs only the token of the request it reads the page with) leaves no
// token in the output or the state file: the rows are kept with the token
// replaced, counted in Result.Redacted and logged once for the run, without
// the value.
func TestTokenInTaskNameIsRedacted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		e.sim.SetFault(e.bots[0].ID, koretest.Fault{TokenInTaskName: true})
		plan := e.plan(t, 2*time.Hour, time.Hour)
		path := filepath.Join(t.TempDir(), "out.om.state")
		state, err := OpenState(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		res, err := Run(t.Context(), plan, RunOptions{NewClient: e.clients, State: state, Logger: log.NewLogfmtLogger(log.NewSyncWriter(&logs))})
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if _, err := WriteOpenMetrics(t.Context(), &out, plan, state, nil); err != nil {
			t.Fatal(err)
		}
		if err := state.Close(); err != nil {
			t.Fatal(err)
		}
		file, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		points := len(plan.Points())
		if res.Redacted != 2*points {
			t.Errorf("Redacted %d, want %d (2 rows a point)", res.Redacted, 2*points)
		}
		for what, text := range map[string]string{"output": out.String(), "state file": string(file), "logs": logs.String()} {
			if strings.Contains(text, "eyJ") {
				t.Errorf("%s holds a token:\n%s", what, text)
			}
		}
		if !strings.Contains(out.String(), `task_name="Book flight `+report.TokenPlaceholder+`"`) {
			t.Errorf("output lacks the redacted task:\n%s", out.String())
		}
		if n := strings.Count(logs.String(), "held a token"); n != 1 {
			t.Errorf("%d log lines about tokens, want 1:\n%s", n, logs.String())
		}
	})
}
