package backfill

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/contract"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

// Session-level history (a bot with sessions.enabled). The exporter counts
// a bot's sessions per hour and sums hours into windows; the backfill does
// the same: it counts each hour the plan's instants need once, as a point
// of its own (a span), and writes kore_bot_sessions at every instant from
// the spans. At an instant t the reference is t - delay, as for the
// reports: a window of n hours holds the n whole hours before the
// reference's hour and that hour up to the reference (a partial span, when
// the reference is not on the hour), as the live exporter serves it.

// sessionsSpan is the Window name of a span point: its Duration is the
// span's, its At the span's start. No configured window has this name
// (window names are durations).
const sessionsSpan = "@sessions"

// isSpan reports whether pt is a session span point.
func isSpan(pt Point) bool { return pt.Window.Name == sessionsSpan }

// spans returns the session spans that the instants of a bot need, oldest
// first: every whole hour of its longest window before each reference's
// hour, and each reference's own hour up to the reference.
func spans(b config.Bot, instants []time.Time) []Point {
	if !b.Sessions.Enabled {
		return nil
	}
	longest := 0
	for _, w := range b.Windows {
		longest = max(longest, int(w.Duration/time.Hour))
	}
	seen := map[[2]int64]bool{}
	var out []Point
	add := func(from time.Time, d time.Duration) {
		k := [2]int64{from.UnixMilli(), int64(d)}
		if d > 0 && !seen[k] {
			seen[k] = true
			out = append(out, Point{Window: config.Window{Name: sessionsSpan, Duration: d}, At: from.UTC()})
		}
	}
	for _, t := range instants {
		ref := t.Add(-b.Delay)
		cur := ref.Truncate(time.Hour)
		for i := longest; i >= 1; i-- {
			add(cur.Add(-time.Duration(i)*time.Hour), time.Hour)
		}
		add(cur, ref.Sub(cur))
	}
	slices.SortFunc(out, func(a, b Point) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return int(a.Window.Duration - b.Window.Duration)
	})
	return out
}

// spanDigest is the Settings of a span's key: the bot id and the span's
// length (a partial span differs from a whole hour starting alike).
func spanDigest(b config.Bot, d time.Duration) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00sessions\x00%d", b.BotID, d))
	return hex.EncodeToString(sum[:8])
}

// The state keeps a span's counts in a point's record, one row per class
// of sessions: task_name holds the containment, task_type the channel,
// status the session type and sessions the count (label values of package
// contract, so the rows pass the checks of a report's rows).

func countsToRows(counts report.SessionCounts) ([]kore.TaskRow, error) {
	rows := make([]kore.TaskRow, 0, len(counts))
	for k, n := range counts {
		rows = append(rows, kore.TaskRow{TaskName: k.Containment, TaskType: k.Channel, Status: k.SessionType, TotalSession: n})
	}
	return report.Normalize(rows) // in the order checkRows wants
}

func rowsToCounts(rows []kore.TaskRow) report.SessionCounts {
	counts := make(report.SessionCounts, len(rows))
	for _, r := range rows {
		counts[report.SessionKey{Containment: r.TaskName, Channel: r.TaskType, SessionType: r.Status}] += r.TotalSession
	}
	return counts
}

// errNoSessions is the error of a span whose client cannot count sessions.
var errNoSessions = errors.New("the bot's client cannot read the Sessions History API")

// runSpan counts the sessions of a span and returns them as a record's
// rows.
func runSpan(ctx context.Context, c report.Runner, b config.Bot, pt Point) ([]kore.TaskRow, error) {
	sc, ok := c.(report.SessionsRunner)
	if !ok {
		return nil, errNoSessions
	}
	ctx, cancel := context.WithTimeout(ctx, b.Timeout)
	defer cancel()
	counts, _, err := report.CountSessions(ctx, sc, b.BotID, pt.At, pt.At.Add(pt.Window.Duration))
	if err != nil {
		return nil, err
	}
	return countsToRows(counts)
}

// writeSessions writes the kore_bot_sessions family and returns how many
// of the plan's spans the state holds: for every bot with
// sessions.enabled (by name) and window, at every instant whose spans are
// all in the state, the window's sessions by class (report.SessionRows),
// each series in time order. It holds one bot's span counts and one
// window's series at a time: hours × classes and instants × classes.
func writeSessions(ctx context.Context, fw *familyWriter, plan *Plan, state *State, target map[string]string) (spansDone int, err error) {
	cfg := plan.Config
	var bots []int
	for i, b := range cfg.Bots {
		if b.Sessions.Enabled {
			bots = append(bots, i)
		}
	}
	slices.SortFunc(bots, func(a, b int) int { return strings.Compare(cfg.Bots[a].Name, cfg.Bots[b].Name) })
	nInst := len(plan.Instants)
	type spanKey struct {
		from int64 // Unix milliseconds
		d    time.Duration
	}
	for _, i := range bots {
		b := cfg.Bots[i]
		counts := map[spanKey]report.SessionCounts{}
		for _, sp := range spans(b, plan.Instants) {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			sp.Bot = i
			rows, ok, err := state.get(keyOf(cfg, sp))
			if err != nil {
				return 0, err
			}
			if ok {
				counts[spanKey{sp.At.UnixMilli(), sp.Window.Duration}] = rowsToCounts(rows)
				spansDone++
			}
		}
		for _, w := range b.Windows {
			series := map[report.SessionRow][]int64{} // by labels (Sessions 0): a count per instant, -1 for none
			for t, at := range plan.Instants {
				ref := at.Add(-b.Delay)
				cur := ref.Truncate(time.Hour)
				sum, complete := report.SessionCounts{}, true
				for h := 1; h <= int(w.Duration/time.Hour) && complete; h++ {
					c, ok := counts[spanKey{cur.Add(-time.Duration(h) * time.Hour).UnixMilli(), time.Hour}]
					complete = ok
					sum.Add(c)
				}
				if d := ref.Sub(cur); d > 0 && complete {
					c, ok := counts[spanKey{cur.UnixMilli(), d}]
					complete = ok
					sum.Add(c)
				}
				if !complete {
					continue
				}
				for _, r := range report.SessionRows(w.Name, sum) {
					n := r.Sessions
					r.Sessions = 0
					v := series[r]
					if v == nil {
						v = slices.Repeat([]int64{-1}, nInst)
						series[r] = v
					}
					v[t] = n
				}
			}
			keys := slices.SortedFunc(maps.Keys(series), func(a, b report.SessionRow) int {
				return cmp.Or(cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.Containment, b.Containment), cmp.Compare(a.SessionType, b.SessionType))
			})
			for _, k := range keys {
				labels := targetPairs(target)
				for _, l := range [][2]string{{contract.LabelBot, b.Name}, {contract.LabelWindow, w.Name}, {contract.LabelContainment, k.Containment},
					{contract.LabelChannel, k.Channel}, {contract.LabelSessionType, k.SessionType}} {
					labels = append(labels, &dto.LabelPair{Name: proto.String(l[0]), Value: proto.String(l[1])})
				}
				sortPairs(labels)
				for t, v := range series[k] {
					if v < 0 {
						continue
					}
					if err := fw.add(ctx, labels, float64(v), plan.Instants[t].UnixMilli()); err != nil {
						return 0, err
					}
				}
			}
		}
	}
	return spansDone, fw.flush()
}
