package backfill

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

// env is a simulator with demo bots and the configuration that points at
// it, for tests inside synctest bubbles (the in-memory transport).
type env struct {
	sim  *koretest.Server
	cfg  *config.Config
	bots []koretest.Bot
}

// newEnv starts an in-memory simulator whose jobs take as long as the demo's
// (1.5 s) and a configuration of n of its bots with windows 1h and 24h and
// the demo's limits.
func newEnv(t *testing.T, n int) *env {
	t.Helper()
	return envOf(t, koretest.NewInMemory(koretest.WithJobDuration(1500*time.Millisecond)), koretest.DemoBots(n, 7))
}

// newDemoEnv is newEnv of the --demo command's simulator: its three bots
// (koretest.ExporterDemoBots), jobs done at once, no rate limits, and a
// configuration without the per-bot budget. It runs on the real clock.
func newDemoEnv(t *testing.T) *env {
	t.Helper()
	e := envOf(t, koretest.NewInMemory(koretest.WithJobDuration(0), koretest.WithRateLimits(0, 0)), koretest.ExporterDemoBots())
	e.cfg.Limits.Unlimited = true
	return e
}

// envOf adds bots to sim and returns the env of a configuration of them,
// with windows 1h and 24h and the demo's limits.
func envOf(t *testing.T, sim *koretest.Server, bots []koretest.Bot) *env {
	t.Helper()
	t.Cleanup(sim.Close)
	e := &env{sim: sim, bots: bots}
	var yaml bytes.Buffer
	fmt.Fprintf(&yaml, "defaults:\n  host: %s\n  windows: [1h, 24h]\n  timeout: 50s\n  page_size: 500\nbots:\n", sim.URL)
	for i, b := range e.bots {
		sim.AddBot(b)
		fmt.Fprintf(&yaml, "  - name: bot%d\n    bot_id: %s\n    client_id: %s\n    client_secret: %q\n", i, b.ID, b.ClientID, b.ClientSecret)
	}
	yaml.WriteString("limits:\n  max_concurrent_jobs: 6\n  requests_per_minute_per_bot: 30\n")
	cfg, err := config.Parse(yaml.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	return e
}

// clients is the ClientFactory of the tests: report.KoreClients'
// client (host, credentials, observer, per-bot budget) on the simulator's
// in-memory transport.
func (e *env) clients(b config.Bot, budgets *kore.Budgets, obs kore.Observer) (report.Runner, error) {
	return kore.NewClient(kore.WithHost(b.Host),
		kore.WithCredentials(kore.Credentials{ClientID: b.ClientID, ClientSecret: b.ClientSecret.Reveal()}),
		kore.WithObserver(obs), kore.WithBudgets(budgets), kore.WithHTTPClient(e.sim.Client()))
}

// plan plans the last d before now (the bubble's clock) at step.
func (e *env) plan(t *testing.T, d, step time.Duration) *Plan {
	t.Helper()
	now := time.Now()
	p, err := NewPlan(e.cfg, now.Add(-d), now, step, now)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs plan against state and returns the result and the output.
func (e *env) run(t *testing.T, ctx context.Context, plan *Plan, state *State, progress Progress) (*Result, []byte) {
	t.Helper()
	res, err := Run(ctx, plan, RunOptions{NewClient: e.clients, State: state, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := WriteOpenMetrics(t.Context(), &out, plan, state, nil); err != nil {
		t.Fatal(err)
	}
	return res, out.Bytes()
}

// expected returns the rows the exporter publishes for a point: the
// simulator's Expected totals over the point's window, through
// report.ExportedRows.
func (e *env) expected(t *testing.T, plan *Plan, pt Point) []kore.TaskRow {
	t.Helper()
	b := e.cfg.Bots[pt.Bot]
	from, to := report.WindowBounds(b, pt.Window, pt.At)
	var rows []kore.TaskRow
	for _, r := range e.sim.Expected(b.BotID, from, to, koretest.Filters{}) {
		rows = append(rows, kore.TaskRow{TaskName: r.TaskName, TaskType: r.TaskType, Status: r.Status, TotalExecution: r.TotalExecution,
			TotalSession: r.TotalSession, SelfServiceSessions: r.SelfServiceSessions, DropOffSessions: r.DropOffSessions,
			AgentTransferSessions: r.AgentTransferSessions})
	}
	rows, _, err := report.ExportedRows(rows, b.MaxTaskRows)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// hook is a Progress that calls fn after the n-th point run.
type hook struct {
	mu   sync.Mutex
	seen int
	n    int
	fn   func()
}

func (h *hook) Start(int, int, *InFlight) {}
func (h *hook) Finish()                   {}
func (h *hook) Add(bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen++
	if h.seen == h.n {
		h.fn()
	}
}

func koretestBadCredentials() koretest.Fault { return koretest.Fault{BadCredentials: true} }
func koretestHang() koretest.Fault           { return koretest.Fault{Hang: true} }
