package backfill

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/contract"
)

// TestSessionsHistoryEqualsTheTruth backfills 8 days of hourly
// session-level history for a bot with sessions.enabled, windows 1h and
// 24h and a delay of 15m (so each instant's own hour is a partial span),
// stopped halfway and resumed: at every instant, every kore_bot_sessions
// series equals the simulator's sessions of the window's hours up to the
// instant's reference, each hour counted once over both runs, and the
// output is the same as an uninterrupted run's.
func TestSessionsHistoryEqualsTheTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("8 days of session history through the simulator: skipped with -short")
	}
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(9 * 24 * time.Hour) // history for the 8 days and their 24h windows
		e := newDemoEnv(t)
		b := &e.cfg.Bots[1]
		b.Delay = 15 * time.Minute
		b.Sessions = config.Sessions{Enabled: true, PeakPerHour: 500}
		plan := e.plan(t, 8*24*time.Hour, time.Hour)
		spanPoints := 0
		for _, pt := range plan.Points() {
			if isSpan(pt) {
				spanPoints++
			}
		}
		// 193 instants, each with a partial 45m span, and the 24h window's
		// whole hours: 192 + 24 of them.
		if want := 193 + 192 + 24; spanPoints != want || plan.Bots[1].Spans != want {
			t.Fatalf("%d span points (plan: %d), want %d", spanPoints, plan.Bots[1].Spans, want)
		}

		// Stopped after 150 points, then resumed.
		state := NewMemoryState()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		h := &hook{n: 150, fn: cancel}
		if res, err := Run(ctx, plan, RunOptions{NewClient: e.clients, State: state, Progress: h}); err != nil || !res.Interrupted {
			t.Fatalf("first run: %+v, %v; want interrupted", res, err)
		}
		before := e.sim.Stats(b.BotID).SessionPages
		res, out := e.run(t, t.Context(), plan, state, nil)
		if res.Failed != nil || res.Resumed == 0 {
			t.Fatalf("resumed run: %+v", res)
		}
		pagesSecond := e.sim.Stats(b.BotID).SessionPages - before

		beforeFresh := e.sim.Stats(b.BotID).SessionPages
		_, want := e.run(t, t.Context(), plan, NewMemoryState(), nil)
		if !bytes.Equal(out, want) {
			t.Error("the resumed output differs from an uninterrupted run's")
		}
		// Each span is read once over both runs, but for those in flight
		// when the first run stopped (at most 2 reports of the bot, a
		// span being at most a few pages).
		pagesFresh := e.sim.Stats(b.BotID).SessionPages - beforeFresh
		if both := before + pagesSecond; pagesSecond == 0 || before == 0 || both > pagesFresh+20 {
			t.Errorf("session pages: %d before the stop and %d after, %d for an uninterrupted run: spans read again", before, pagesSecond, pagesFresh)
		}

		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(bytes.NewReader(openMetricsAsText(out)))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, m := range fams[contract.BotSessions().Name].GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["bot"] != b.Name {
				t.Fatalf("kore_bot_sessions of bot %q, which does not count sessions", l["bot"])
			}
			got[fmt.Sprintf("%d %s %s/%s/%s", m.GetTimestampMs(), l["window"], l["containment"], l["channel"], l["session_type"])] = m.GetGauge().GetValue()
		}
		checked := 0
		for _, at := range plan.Instants {
			ref := at.Add(-b.Delay)
			cur := ref.Truncate(time.Hour)
			for _, w := range b.Windows {
				want := map[string]float64{}
				classes := map[string]bool{}
				for _, s := range e.sim.Sessions(b.BotID, cur.Add(-w.Duration), ref) {
					class := contract.SessionChannel(s.Channel) + "/" + contract.SessionType(s.SessionType)
					classes[class] = true
					want[contract.SessionContainment(s.Containment)+"/"+class]++
				}
				for class := range classes {
					for _, c := range contract.SessionContainments() {
						k := fmt.Sprintf("%d %s %s/%s", at.UnixMilli(), w.Name, c, class)
						v, ok := got[k]
						if !ok || v != want[c+"/"+class] {
							t.Fatalf("%s: %v (served: %v), want %v", k, v, ok, want[c+"/"+class])
						}
						checked++
					}
				}
			}
		}
		if checked < 1000 {
			t.Fatalf("%d series samples checked: too few to prove anything", checked)
		}
		t.Logf("%d kore_bot_sessions samples equal the simulator's truth; session pages: %d before the stop, %d after, %d uninterrupted", checked, before, pagesSecond, pagesFresh)
	})
}

// openMetricsAsText turns the backfill's OpenMetrics into the text format
// expfmt's text parser reads: no # EOF, timestamps in milliseconds.
func openMetricsAsText(om []byte) []byte {
	var out bytes.Buffer
	for _, line := range strings.Split(string(om), "\n") {
		switch {
		case line == "# EOF", strings.HasPrefix(line, "# UNIT"):
			continue
		case strings.HasPrefix(line, "#") || line == "":
			out.WriteString(line + "\n")
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		sec, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			out.WriteString(line + "\n")
			continue
		}
		fmt.Fprintf(&out, "%s %d\n", line[:i], int64(math.Round(sec*1000)))
	}
	return out.Bytes()
}
