package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
)

// ruleEngine evaluates Prometheus rule files with Prometheus' own rule
// engine over a local TSDB, the way `promtool test rules` does
// (cmd/promtool/unittest.go): the rules package loads the groups, and the
// caller appends raw samples and then evaluates every group at a
// timestamp of its choosing, one group after the other: in file and group
// order, except that a group that reads a series another group records is
// evaluated after that group (dependencyOrder). A recorded series is so
// visible to the later groups and rules at the same timestamp. Alert state
// (pending, firing, `for`, `keep_firing_for`) is the rules package's own.
//
// Unlike promtool, which evaluates every group at every step, eval honours
// each group's interval: a group is evaluated at its first eval and then
// whenever at least its interval has passed since its last evaluation (the
// interval passed to newRuleEngine is the default, Prometheus'
// evaluation_interval).
//
// A ruleEngine is not safe for concurrent use; run one per goroutine.
type ruleEngine struct {
	tb     testing.TB
	db     *tsdb.DB
	engine *promql.Engine
	groups []*rules.Group // in evaluation order (dependencyOrder)
	last   []time.Time    // by groups index: the group's last evaluation

	app     storage.AppenderV2 // the open batch of add, or nil
	pending int                // samples in app
}

// engineAlert is one active alert instance (pending or firing) of a
// ruleEngine, as rules.Alert holds it.
type engineAlert struct {
	Name     string        // the alertname
	Labels   labels.Labels // all labels, alertname included
	State    rules.AlertState
	ActiveAt time.Time // first evaluation at which the expression held
	FiredAt  time.Time // when it went firing; zero while pending
	Value    float64   // the expression's value at the last evaluation
}

// Firing reports whether a is firing (not pending).
func (a engineAlert) Firing() bool { return a.State == rules.StateFiring }

// ruleEngineInterval is the default group interval of newRuleEngine:
// Prometheus' default evaluation_interval.
const ruleEngineInterval = time.Minute

// ruleEngineLookback is the engine's lookback delta, Prometheus' default.
const ruleEngineLookback = 5 * time.Minute

// ruleEngineBatch is how many samples add buffers before it commits.
const ruleEngineBatch = 50000

// newRuleEngine loads the rule files into a new engine whose storage lives
// in tb.TempDir(). Groups without an interval of their own are evaluated
// every ruleEngineInterval. It fails tb if a file does not load.
func newRuleEngine(tb testing.TB, files ...string) *ruleEngine {
	tb.Helper()
	opts := tsdb.DefaultOptions()
	// The simulations append weeks of samples in time order and query them
	// as they go: keep everything in the head (no compaction into blocks,
	// which would run in the background, and no time retention, which
	// would follow the wall clock; forget is the simulation's retention)
	// and write no WAL.
	opts.MinBlockDuration = int64(400 * 24 * time.Hour / time.Millisecond)
	opts.MaxBlockDuration = opts.MinBlockDuration
	opts.RetentionDuration = 0
	opts.WALSegmentSize = -1
	opts.EnableExemplarStorage = false
	db, err := tsdb.Open(tb.TempDir(), promslog.NewNopLogger(), nil, opts, tsdb.NewDBStats())
	if err != nil {
		tb.Fatalf("open TSDB: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close TSDB: %v", err)
		}
	})

	p := parser.NewParser(parser.Options{}) // a server without feature flags
	engine := promql.NewEngine(promql.EngineOpts{
		Logger:        promslog.NewNopLogger(),
		MaxSamples:    50_000_000,
		Timeout:       10 * time.Minute,
		LookbackDelta: ruleEngineLookback,
		// A subquery without a step uses the evaluation interval, as the
		// server does.
		NoStepSubqueryIntervalFn: func(int64) int64 { return ruleEngineInterval.Milliseconds() },
		Parser:                   p,
	})

	m := rules.NewManager(&rules.ManagerOptions{
		QueryFunc:    rules.EngineQueryFunc(engine, db),
		AppendableV2: db,
		Queryable:    db,
		Context:      context.Background(),
		NotifyFunc:   func(context.Context, string, ...*rules.Alert) {},
		Logger:       promslog.NewNopLogger(),
		Parser:       p,
	})
	loaded, errs := m.LoadGroups(ruleEngineInterval, labels.EmptyLabels(), "", nil, false, files...)
	if len(errs) > 0 {
		tb.Fatalf("load rules: %v", errors.Join(errs...))
	}

	// LoadGroups returns a map; list the groups as the files do, then
	// order them by their dependencies.
	e := &ruleEngine{tb: tb, db: db, engine: engine}
	var groups []*rules.Group
	for _, f := range files {
		rgs, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, p, promslog.NewNopLogger())
		if len(errs) > 0 {
			tb.Fatalf("parse rules: %v", errors.Join(errs...))
		}
		for _, rg := range rgs.Groups {
			g, ok := loaded[rules.GroupKey(f, rg.Name)]
			if !ok {
				tb.Fatalf("%s: group %q was not loaded", f, rg.Name)
			}
			for _, r := range g.Rules() {
				if ar, ok := r.(*rules.AlertingRule); ok {
					// As promtool does: without a restore, alerts write no
					// ALERTS/ALERTS_FOR_STATE series.
					ar.SetRestored(true)
				}
			}
			groups = append(groups, g)
		}
	}
	e.groups = dependencyOrder(groups)
	e.last = make([]time.Time, len(e.groups))
	return e
}

// dependencyOrder returns groups, each after the groups that record a
// metric it reads, and otherwise in the order given (stable; a cycle is
// broken in that order). A server evaluates its groups concurrently, every
// interval, so a rule reads a recorded series at most an interval old;
// evaluated in this order, it reads the one recorded at the same
// timestamp, which a simulation that evaluates less often than the groups'
// interval needs (a sample one lookback delta old is out of reach).
func dependencyOrder(groups []*rules.Group) []*rules.Group {
	recordedBy := map[string]int{} // metric name → index in groups
	for i, g := range groups {
		for _, r := range g.Rules() {
			if rr, ok := r.(*rules.RecordingRule); ok {
				if _, dup := recordedBy[rr.Name()]; !dup {
					recordedBy[rr.Name()] = i
				}
			}
		}
	}
	deps := make([]map[int]bool, len(groups))
	for i, g := range groups {
		deps[i] = map[int]bool{}
		for _, r := range g.Rules() {
			for _, sel := range parser.ExtractSelectors(r.Query()) {
				for _, m := range sel {
					if m.Name != model.MetricNameLabel || m.Type != labels.MatchEqual {
						continue
					}
					if j, ok := recordedBy[m.Value]; ok && j != i {
						deps[i][j] = true
					}
				}
			}
		}
	}
	placed := make([]bool, len(groups))
	out := make([]*rules.Group, 0, len(groups))
	for len(out) < len(groups) {
		next := -1
		for i := range groups {
			if placed[i] {
				continue
			}
			if next < 0 {
				next = i // the first unplaced, if a cycle leaves no other
			}
			ready := true
			for j := range deps[i] {
				ready = ready && placed[j]
			}
			if ready {
				next = i
				break
			}
		}
		placed[next] = true
		out = append(out, groups[next])
	}
	return out
}

// add appends one raw sample of the series lset at ts. Samples are
// buffered and committed in batches; eval and query commit first. A value
// of math.Float64frombits(value.StaleNaN) is a staleness marker, as a
// scrape writes when a series disappears. It fails tb on a rejected
// sample (out of order, duplicate).
func (e *ruleEngine) add(ts time.Time, lset labels.Labels, v float64) {
	if e.app == nil {
		e.app = e.db.AppenderV2(context.Background())
	}
	if _, err := e.app.Append(0, lset, 0, timestamp.FromTime(ts), v, nil, nil, storage.AOptions{}); err != nil {
		e.tb.Fatalf("append %s @%s: %v", lset, ts.UTC().Format(time.RFC3339), err)
	}
	e.pending++
	if e.pending >= ruleEngineBatch {
		e.commit()
	}
}

// addMap is add with the labels as a map.
func (e *ruleEngine) addMap(ts time.Time, lset map[string]string, v float64) {
	e.add(ts, labels.FromMap(lset), v)
}

// stale appends a staleness marker for lset at ts: from ts on, the series
// is absent, as after a scrape that no longer exposes it.
func (e *ruleEngine) stale(ts time.Time, lset labels.Labels) {
	e.add(ts, lset, math.Float64frombits(value.StaleNaN))
}

// commit makes the samples added so far visible to queries.
func (e *ruleEngine) commit() {
	if e.app == nil {
		return
	}
	if err := e.app.Commit(); err != nil {
		e.tb.Fatalf("commit: %v", err)
	}
	e.app, e.pending = nil, 0
}

// eval commits the pending samples and evaluates, at ts, every group that
// is due (see ruleEngine), one after the other in dependency order. It
// fails tb if a rule fails to evaluate.
func (e *ruleEngine) eval(ts time.Time) {
	e.commit()
	// A server memory-maps its full head chunks every minute of wall-clock
	// time; a simulation covers days in that time, and queries walk the
	// unmapped chunks one by one.
	e.db.ForceHeadMMap()
	ctx := context.Background()
	for i, g := range e.groups {
		if !e.last[i].IsZero() && ts.Sub(e.last[i]) < g.Interval() {
			continue
		}
		e.last[i] = ts
		g.Eval(ctx, ts)
		for _, r := range g.Rules() {
			if err := r.LastError(); err != nil {
				e.tb.Fatalf("rule %s (group %s) at %s: %v", r.Name(), g.Name(), ts.UTC().Format(time.RFC3339), err)
			}
		}
	}
}

// warmup returns how long before the first evaluation whose alerts count
// the rules must already be evaluated for those alerts to be the same as
// after an infinite history: the longest time a rule reads back into the
// series that rules record, following a recorded series to the rule that
// records it (offset, range or lookback delta, subquery ranges), plus the
// longest `for` + `keep_firing_for` of an alert. The raw series must reach
// further back, as far as history (see reach).
func (e *ruleEngine) warmup() time.Duration {
	return e.lookback(true)
}

// reach returns how far back the rules read any series, raw or recorded
// (following recorded series as warmup does, but without `for`): the
// history that an evaluation at t needs is the samples from t - reach on.
func (e *ruleEngine) reach() time.Duration {
	return e.lookback(false)
}

// lookback is warmup (recordedOnly) or reach.
func (e *ruleEngine) lookback(recordedOnly bool) time.Duration {
	recorded := map[string]parser.Expr{}
	for _, g := range e.groups {
		for _, r := range g.Rules() {
			if _, ok := r.(*rules.RecordingRule); ok {
				recorded[r.Name()] = r.Query()
			}
		}
	}
	memo := map[string]time.Duration{}
	var back func(expr parser.Expr, depth int) time.Duration
	back = func(expr parser.Expr, depth int) time.Duration {
		var longest time.Duration
		parser.Inspect(expr, func(n parser.Node, path []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			name := ""
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
			src, isRecorded := recorded[name]
			if recordedOnly && !isRecorded {
				return nil
			}
			d := vs.OriginalOffset + ruleEngineLookback
			for i, p := range path {
				switch p := p.(type) {
				case *parser.MatrixSelector:
					if i == len(path)-1 { // vs's own range
						d += p.Range - ruleEngineLookback
					}
				case *parser.SubqueryExpr:
					d += p.Range + p.OriginalOffset
				}
			}
			if isRecorded && depth < len(recorded) { // a cycle cannot loop
				m, ok := memo[name]
				if !ok {
					m = back(src, depth+1)
					memo[name] = m
				}
				d += m
			}
			longest = max(longest, d)
			return nil
		})
		return longest
	}
	var longest time.Duration
	for _, g := range e.groups {
		for _, r := range g.Rules() {
			d := back(r.Query(), 0)
			if ar, ok := r.(*rules.AlertingRule); ok && recordedOnly {
				d += ar.HoldDuration() + ar.KeepFiringFor()
			}
			longest = max(longest, d)
		}
	}
	return longest
}

// forget drops the samples before mint from the storage, as retention
// would: a simulation that keeps only the history its rules read keeps the
// cost of a query from growing with the simulated time (a series' chunks
// are listed one by one).
func (e *ruleEngine) forget(mint time.Time) {
	e.commit()
	if err := e.db.Head().Truncate(timestamp.FromTime(mint)); err != nil {
		e.tb.Fatalf("truncate the head before %s: %v", mint.UTC().Format(time.RFC3339), err)
	}
}

// alerts returns the active alerts (pending and firing) after the last
// eval, sorted by labels. Resolved alerts are not listed.
func (e *ruleEngine) alerts() []engineAlert {
	var out []engineAlert
	for _, g := range e.groups {
		for _, r := range g.Rules() {
			ar, ok := r.(*rules.AlertingRule)
			if !ok {
				continue
			}
			for _, a := range ar.ActiveAlerts() {
				out = append(out, engineAlert{
					Name:     ar.Name(),
					Labels:   a.Labels,
					State:    a.State,
					ActiveAt: a.ActiveAt,
					FiredAt:  a.FiredAt,
					Value:    a.Value,
				})
			}
		}
	}
	slices.SortFunc(out, func(a, b engineAlert) int { return labels.Compare(a.Labels, b.Labels) })
	return out
}

// firedAt returns the alerts that went firing at the evaluation at ts:
// the start of their firing episode. An alert held by keep_firing_for, or
// firing since an earlier evaluation, is not listed again.
func (e *ruleEngine) firedAt(ts time.Time) []engineAlert {
	var out []engineAlert
	for _, a := range e.alerts() {
		if a.Firing() && a.FiredAt.Equal(ts) {
			out = append(out, a)
		}
	}
	return out
}

// query commits the pending samples and evaluates the PromQL expression at
// ts with the engine the rules use; it fails tb on an error or a result
// that is not an instant vector.
func (e *ruleEngine) query(ts time.Time, expr string) promql.Vector {
	e.tb.Helper()
	e.commit()
	q, err := e.engine.NewInstantQuery(context.Background(), e.db, nil, expr, ts)
	if err != nil {
		e.tb.Fatalf("query %q: %v", expr, err)
	}
	defer q.Close()
	res := q.Exec(context.Background())
	if res.Err != nil {
		e.tb.Fatalf("query %q: %v", expr, res.Err)
	}
	v, err := res.Vector()
	if err != nil {
		e.tb.Fatalf("query %q: %v", expr, err)
	}
	return v
}

// TestRuleEngineWarmup checks warmup on a chain of recorded series read
// through an offset, a range and a subquery.
func TestRuleEngineWarmup(t *testing.T) {
	const ruleFile = `groups:
  - name: alerts
    rules:
      - alert: BHigh
        expr: max_over_time(b:1[30m:1m]) > 0
        for: 10m
  - name: rec
    rules:
      - record: a:1
        expr: sum(x)
      - record: b:1
        expr: avg_over_time(a:1[1h] offset 1d)
`
	file := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(file, []byte(ruleFile), 0o600); err != nil {
		t.Fatal(err)
	}
	// BHigh reads b:1 over 30m (+5m lookback), b:1 reads a:1 1d+1h back,
	// and BHigh holds for 10m.
	want := 5*time.Minute + 30*time.Minute + 25*time.Hour + 10*time.Minute
	e := newRuleEngine(t, file)
	if got := e.warmup(); got != want {
		t.Errorf("warmup %s, want %s", got, want)
	}
	// BHigh reads x through b:1 and a:1: 35m + 25h + 5m.
	if got, want := e.reach(), 35*time.Minute+25*time.Hour+5*time.Minute; got != want {
		t.Errorf("reach %s, want %s", got, want)
	}
}

// TestRuleEngine proves the harness on a rule file of its own: a recording
// rule read at the same timestamp by alerts of a group listed before it,
// `for`, `keep_firing_for`, a group with a longer interval, and staleness.
func TestRuleEngine(t *testing.T) {
	// The alerts come first: they must still read the series recorded at
	// the same evaluation.
	const ruleFile = `groups:
  - name: alerts
    rules:
      - alert: XHigh
        expr: job:x:sum > 10
        for: 2m
        labels:
          severity: critical
      - alert: XHighKept
        expr: job:x:sum > 10
        for: 2m
        keep_firing_for: 3m
  - name: rec
    rules:
      - record: job:x:sum
        expr: sum by (job) (x)
  - name: slow
    interval: 2m
    rules:
      - record: job:x:slow
        expr: sum by (job) (x)
`
	file := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(file, []byte(ruleFile), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newRuleEngine(t, file)
	var order []string
	for _, g := range e.groups {
		order = append(order, g.Name())
	}
	if got := strings.Join(order, " "); got != "rec alerts slow" {
		t.Errorf("groups evaluated in the order %s, want rec alerts slow", got)
	}
	// XHighKept: 5m lookback of job:x:sum, 2m for, 3m keep_firing_for.
	if got := e.warmup(); got != 10*time.Minute {
		t.Errorf("warmup %s, want 10m", got)
	}
	x := labels.FromStrings("__name__", "x", "job", "j", "instance", "i")

	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	at := func(minute int) time.Time { return start.Add(time.Duration(minute) * time.Minute) }
	// x is 20 from minute 3 to minute 7, 5 before and after; absent
	// (stale) from minute 14.
	xAt := func(minute int) float64 {
		if minute >= 3 && minute < 8 {
			return 20
		}
		return 5
	}
	// want lists the alerts after the eval at each minute, as
	// "name:state" (sorted by labels, so XHigh before XHighKept).
	want := map[int]string{
		2:  "",
		3:  "XHigh:pending XHighKept:pending",
		4:  "XHigh:pending XHighKept:pending",
		5:  "XHigh:firing XHighKept:firing",
		7:  "XHigh:firing XHighKept:firing",
		8:  "XHighKept:firing", // the input dropped: XHigh resolves; kept 3m
		10: "XHighKept:firing",
		11: "",
	}
	fired := map[int][]string{}
	for minute := 0; minute <= 15; minute++ {
		switch {
		case minute == 0:
			e.addMap(at(minute), x.Map(), xAt(minute))
		case minute < 14:
			e.add(at(minute), x, xAt(minute))
		case minute == 14:
			e.stale(at(minute), x)
		}
		e.eval(at(minute))
		if w, ok := want[minute]; ok {
			var got []string
			for _, a := range e.alerts() {
				got = append(got, a.Name+":"+a.State.String())
			}
			if g := strings.Join(got, " "); g != w {
				t.Errorf("minute %d: alerts %q, want %q", minute, g, w)
			}
		}
		for _, a := range e.firedAt(at(minute)) {
			fired[minute] = append(fired[minute], a.Name)
			if !a.ActiveAt.Equal(at(3)) {
				t.Errorf("minute %d: %s active at %s, want minute 3", minute, a.Name, a.ActiveAt)
			}
			if a.Name == "XHigh" && a.Labels.Get("severity") != "critical" {
				t.Errorf("XHigh labels %s lack severity=critical", a.Labels)
			}
		}
	}
	if got := fmt.Sprint(fired); got != "map[5:[XHigh XHighKept]]" {
		t.Errorf("firing episodes by minute: %s, want both at minute 5 only", got)
	}

	// The recording rule was evaluated every minute, the slow group every
	// other minute; both went stale with their input at minute 14.
	for _, tc := range []struct {
		expr string
		at   int
		want string
	}{
		{`count_over_time(job:x:sum[10m])`, 13, "10"},
		{`count_over_time(job:x:slow[10m])`, 13, "5"}, // minutes 4, 6, 8, 10, 12
		{`job:x:sum`, 13, "5"},
		{`job:x:sum`, 15, ""},
		{`job:x:slow`, 15, ""},
	} {
		var got []string
		for _, s := range e.query(at(tc.at), tc.expr) {
			got = append(got, fmt.Sprint(s.F))
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%s at minute %d = %q, want %q", tc.expr, tc.at, g, tc.want)
		}
	}
}
