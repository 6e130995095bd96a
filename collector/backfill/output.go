package backfill

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"

	"github.com/kore-exporter/kore_exporter/collector/contract"
	"github.com/kore-exporter/kore_exporter/kore"
)

// Bounds of the output writer's memory, whatever the range.
const (
	// maxChunkValues is how many counts the writer holds at once: the
	// samples of one family for a run of one bot's series over every
	// instant (8 bytes each: 8 MiB). A bot with more series × instants
	// is written in several passes over its records.
	maxChunkValues = 1 << 20
	// maxBatch is how many samples are encoded at once.
	maxBatch = 4096
)

// seriesKey is a task series of one bot, its fields in the order the
// exposition sorts the label names: status, task_name, task_type, window
// (bot comes first and is the same).
type seriesKey struct{ status, name, typ, window string }

func compareSeries(a, b seriesKey) int {
	return cmp.Or(cmp.Compare(a.status, b.status), cmp.Compare(a.name, b.name), cmp.Compare(a.typ, b.typ), cmp.Compare(a.window, b.window))
}

// WriteOpenMetrics writes the finished points of plan held by state as
// OpenMetrics text with timestamps: kore_bot_info at every instant where
// the bot has a finished point, kore_bot_sessions for the bots with
// sessions.enabled (writeSessions), then the kore_task_* families, each family
// complete, each series in time order, then # EOF. The names, HELP texts
// and labels are the exporter's (package contract). The output
// depends only on the plan and the rows, so a resumed run writes the same
// bytes as an uninterrupted one. target are labels added to every series:
// the labels Prometheus adds to the live exporter's series when it scrapes
// them (job, and namespace or cluster where there are), so that history and
// live data are one series and the recording rules, which keep those labels,
// compare them (CheckTargetLabels validates them). It returns the number of
// points written.
//
// The rows are not all held at once: the writer keeps which points are
// done, each bot's series, and the counts of one family for a run of one
// bot's series (at most maxChunkValues), and reads the rows back from the
// state file for every family (a pass over each bot's records per family
// and run of series). When ctx ends it stops and returns ctx's error.
func WriteOpenMetrics(ctx context.Context, w io.Writer, plan *Plan, state *State, target map[string]string) (int, error) {
	return writeOpenMetrics(ctx, w, plan, state, target, maxChunkValues)
}

// writeOpenMetrics is WriteOpenMetrics holding at most chunkValues counts.
func writeOpenMetrics(ctx context.Context, w io.Writer, plan *Plan, state *State, target map[string]string, chunkValues int) (int, error) {
	cfg := plan.Config
	bw := bufio.NewWriterSize(w, 256<<10)
	nInst := len(plan.Instants)
	type botData struct {
		index   int
		digests []string // settings digest per window
		has     []bool   // per instant: a finished point of any window
		series  []seriesKey
	}
	var bots []*botData
	written := 0
	for i, b := range cfg.Bots {
		bd := &botData{index: i, has: make([]bool, nInst)}
		for _, win := range b.Windows {
			bd.digests = append(bd.digests, settingsDigest(b, win))
		}
		for t, at := range plan.Instants {
			for j, win := range b.Windows {
				if state.has(pointKey{b.Name, win.Name, at.UnixMilli(), bd.digests[j]}) {
					written++
					bd.has[t] = true
				}
			}
		}
		if slices.Contains(bd.has, true) {
			bots = append(bots, bd)
		}
	}
	slices.SortFunc(bots, func(a, b *botData) int { return cmp.Compare(cfg.Bots[a.index].Name, cfg.Bots[b.index].Name) })

	// eachRows calls fn with the rows of every finished point of a bot, instant by instant.
	eachRows := func(bd *botData, fn func(t int, window string, rows []kore.TaskRow)) error {
		b := cfg.Bots[bd.index]
		for t, at := range plan.Instants {
			if !bd.has[t] {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			for j, win := range b.Windows {
				rows, ok, err := state.get(pointKey{b.Name, win.Name, at.UnixMilli(), bd.digests[j]})
				if err != nil {
					return err
				}
				if ok {
					fn(t, win.Name, rows)
				}
			}
		}
		return nil
	}
	for _, bd := range bots {
		seen := map[seriesKey]bool{}
		err := eachRows(bd, func(_ int, window string, rows []kore.TaskRow) {
			for _, r := range rows {
				if k := (seriesKey{r.Status, r.TaskName, r.TaskType, window}); !seen[k] {
					seen[k] = true
					bd.series = append(bd.series, k)
				}
			}
		})
		if err != nil {
			return 0, err
		}
		slices.SortFunc(bd.series, compareSeries)
	}

	// kore_bot_info first: the families in name order, as the exporter
	// writes them.
	botInfo := contract.BotInfo()
	info := newFamilyWriter(bw, botInfo.Name, botInfo.Help)
	for _, bd := range bots {
		labels := targetPairs(target)
		b := cfg.Bots[bd.index]
		for _, l := range contract.BotInfoPairs(b.Name, b.BotID, b.Host, b.Labels) {
			labels = append(labels, &dto.LabelPair{Name: proto.String(l[0]), Value: proto.String(l[1])})
		}
		sortPairs(labels)
		for t, at := range plan.Instants {
			if bd.has[t] {
				if err := info.add(ctx, labels, 1, at.UnixMilli()); err != nil {
					return 0, err
				}
			}
		}
	}
	if err := info.flush(); err != nil {
		return 0, err
	}
	sessions := contract.BotSessions()
	spansDone, err := writeSessions(ctx, newFamilyWriter(bw, sessions.Name, sessions.Help), plan, state, target)
	if err != nil {
		return 0, err
	}
	written += spansDone
	names := contract.TaskLabels()
	var values []int64
	for _, fam := range contract.TaskFamilies() {
		fw := newFamilyWriter(bw, fam.Name, fam.Help)
		for _, bd := range bots {
			b := cfg.Bots[bd.index]
			per := max(1, chunkValues/nInst)
			for lo := 0; lo < len(bd.series); lo += per {
				chunk := bd.series[lo:min(lo+per, len(bd.series))]
				pos := make(map[seriesKey]int, len(chunk))
				for j, k := range chunk {
					pos[k] = j
				}
				values = slices.Grow(values[:0], len(chunk)*nInst)[:len(chunk)*nInst]
				for i := range values {
					values[i] = -1 // no sample: counts are never negative
				}
				err := eachRows(bd, func(t int, window string, rows []kore.TaskRow) {
					for i := range rows {
						r := &rows[i]
						if j, ok := pos[seriesKey{r.Status, r.TaskName, r.TaskType, window}]; ok {
							values[j*nInst+t] = r.Count(fam.Field)
						}
					}
				})
				if err != nil {
					return 0, err
				}
				for j, k := range chunk {
					labels := targetPairs(target)
					lv := map[string]string{contract.LabelBot: b.Name, contract.LabelWindow: k.window,
						contract.LabelTaskName: k.name, contract.LabelTaskType: k.typ, contract.LabelStatus: k.status}
					for _, n := range names {
						labels = append(labels, &dto.LabelPair{Name: proto.String(n), Value: proto.String(lv[n])})
					}
					sortPairs(labels)
					for t, v := range values[j*nInst : (j+1)*nInst] {
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
		if err := fw.flush(); err != nil {
			return 0, err
		}
	}
	if _, err := expfmt.FinalizeOpenMetrics(bw); err != nil {
		return 0, fmt.Errorf("write openmetrics: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return 0, fmt.Errorf("write openmetrics: %w", err)
	}
	return written, nil
}

// familyWriter writes one family's samples in batches of maxBatch, its
// HELP and TYPE once, before the first sample; a family without samples
// is left out.
type familyWriter struct {
	w       io.Writer
	mf      *dto.MetricFamily
	header  []byte // HELP and TYPE, as expfmt writes them
	started bool
	buf     bytes.Buffer
}

func newFamilyWriter(w io.Writer, name, help string) *familyWriter {
	fw := &familyWriter{w: w, mf: &dto.MetricFamily{Name: proto.String(name), Help: proto.String(help), Type: dto.MetricType_GAUGE.Enum()}}
	_, _ = expfmt.MetricFamilyToOpenMetrics(&fw.buf, fw.mf) // into memory: cannot fail
	fw.header = bytes.Clone(fw.buf.Bytes())
	return fw
}

// add adds a sample; labels are shared, not copied.
func (fw *familyWriter) add(ctx context.Context, labels []*dto.LabelPair, v float64, ms int64) error {
	fw.mf.Metric = append(fw.mf.Metric, &dto.Metric{Label: labels, Gauge: &dto.Gauge{Value: proto.Float64(v)}, TimestampMs: proto.Int64(ms)})
	if len(fw.mf.Metric) < maxBatch {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return fw.flush()
}

// flush writes the samples added since the last flush.
func (fw *familyWriter) flush() error {
	if len(fw.mf.Metric) == 0 {
		return nil
	}
	fw.buf.Reset()
	if _, err := expfmt.MetricFamilyToOpenMetrics(&fw.buf, fw.mf); err != nil {
		return fmt.Errorf("write openmetrics %s: %w", fw.mf.GetName(), err)
	}
	out := fw.buf.Bytes()
	if fw.started {
		out = bytes.TrimPrefix(out, fw.header)
	}
	fw.started = true
	clear(fw.mf.Metric)
	fw.mf.Metric = fw.mf.Metric[:0]
	if _, err := fw.w.Write(out); err != nil {
		return fmt.Errorf("write openmetrics %s: %w", fw.mf.GetName(), err)
	}
	return nil
}

// targetPairs returns target as label pairs, with room for more.
func targetPairs(target map[string]string) []*dto.LabelPair {
	pairs := make([]*dto.LabelPair, 0, len(target)+8)
	for name, value := range target {
		pairs = append(pairs, &dto.LabelPair{Name: proto.String(name), Value: proto.String(value)})
	}
	return pairs
}

// sortPairs sorts labels by name, as the exposition writes them.
func sortPairs(labels []*dto.LabelPair) {
	slices.SortFunc(labels, func(a, b *dto.LabelPair) int { return cmp.Compare(a.GetName(), b.GetName()) })
}

// CheckTargetLabels checks labels meant for WriteOpenMetrics' target: valid
// label names and values, none of them a label the exporter's own series
// carry or Prometheus reserves.
func CheckTargetLabels(target map[string]string) error {
	taken := map[string]bool{}
	for _, n := range slices.Concat(contract.TaskLabels(), contract.BotInfoLabels(), contract.SessionLabels()) {
		taken[n] = true
	}
	names := make([]string, 0, len(target))
	for name := range target {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		switch {
		case !model.LabelName(name).IsValidLegacy() || strings.HasPrefix(name, "__"):
			return fmt.Errorf("label %q: not a valid label name", name)
		case taken[name]:
			return fmt.Errorf("label %q: the exporter's series have this label already; give the labels your scrape adds (job, namespace, cluster)", name)
		case !utf8.ValidString(target[name]):
			return fmt.Errorf("label %q: value is not valid UTF-8", name)
		}
	}
	return nil
}
