package backfill

import (
	"cmp"
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

// sample is one finished point's row: a task series at one instant.
type sample struct {
	bot, window string
	at          int64 // Unix milliseconds
	row         *kore.TaskRow
}

// labels returns the sample's task label values, in the order of
// contract.TaskLabels.
func (s *sample) labels() [5]string {
	return [5]string{s.bot, s.window, s.row.TaskName, s.row.TaskType, s.row.Status}
}

// WriteOpenMetrics writes the finished points of plan held by state as
// OpenMetrics text with timestamps: kore_bot_info at every instant where
// the bot has a finished point, then the kore_task_* families, each family
// complete, each series in time order, then # EOF. The names, HELP texts
// and labels are the exporter's (package contract). The output
// depends only on the plan and the rows, so a resumed run writes the same
// bytes as an uninterrupted one. target are labels added to every series:
// the labels Prometheus adds to the live exporter's series when it scrapes
// them (job, and namespace or cluster where there are), so that history and
// live data are one series and the recording rules, which keep those labels,
// compare them (CheckTargetLabels validates them). It returns the number of
// points written.
func WriteOpenMetrics(w io.Writer, plan *Plan, state *State, target map[string]string) (int, error) {
	cfg := plan.Config
	var samples []sample
	botAt := map[int]map[int64]bool{} // bot index → instants with data
	written := 0
	for _, pt := range plan.Points() {
		rows, ok := state.get(keyOf(cfg, pt))
		if !ok {
			continue
		}
		written++
		if botAt[pt.Bot] == nil {
			botAt[pt.Bot] = map[int64]bool{}
		}
		botAt[pt.Bot][pt.At.UnixMilli()] = true
		for i := range rows {
			samples = append(samples, sample{bot: cfg.Bots[pt.Bot].Name, window: pt.Window.Name, at: pt.At.UnixMilli(), row: &rows[i]})
		}
	}
	// Series order: the label values taken in the order of the label
	// names sorted, as the exposition writes them, then time.
	names := contract.TaskLabels()
	byName := make([]int, len(names)) // indexes into names, sorted by name
	for i := range byName {
		byName[i] = i
	}
	slices.SortFunc(byName, func(a, b int) int { return cmp.Compare(names[a], names[b]) })
	slices.SortFunc(samples, func(a, b sample) int {
		va, vb := a.labels(), b.labels()
		for _, i := range byName {
			if c := cmp.Compare(va[i], vb[i]); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.at, b.at)
	})

	// kore_bot_info first: the families in name order, as the exporter
	// writes them.
	botInfo := contract.BotInfo()
	info := &dto.MetricFamily{Name: proto.String(botInfo.Name), Help: proto.String(botInfo.Help), Type: dto.MetricType_GAUGE.Enum()}
	bots := make([]int, 0, len(botAt))
	for i := range botAt {
		bots = append(bots, i)
	}
	slices.SortFunc(bots, func(a, b int) int { return cmp.Compare(cfg.Bots[a].Name, cfg.Bots[b].Name) })
	for _, i := range bots {
		labels := targetPairs(target)
		b := cfg.Bots[i]
		for _, l := range contract.BotInfoPairs(b.Name, b.BotID, b.Host, b.Labels) {
			labels = append(labels, &dto.LabelPair{Name: proto.String(l[0]), Value: proto.String(l[1])})
		}
		sortPairs(labels)
		for _, t := range plan.Instants {
			if ms := t.UnixMilli(); botAt[i][ms] {
				info.Metric = append(info.Metric, &dto.Metric{Label: labels, Gauge: &dto.Gauge{Value: proto.Float64(1)}, TimestampMs: proto.Int64(ms)})
			}
		}
	}
	if err := writeFamily(w, info); err != nil {
		return 0, err
	}
	// One family at a time, so only one family's messages are in memory.
	for _, fam := range contract.TaskFamilies() {
		mf := &dto.MetricFamily{Name: proto.String(fam.Name), Help: proto.String(fam.Help), Type: dto.MetricType_GAUGE.Enum(),
			Metric: make([]*dto.Metric, 0, len(samples))}
		for _, s := range samples {
			values := s.labels()
			labels := targetPairs(target)
			for i := range names {
				labels = append(labels, &dto.LabelPair{Name: proto.String(names[i]), Value: proto.String(values[i])})
			}
			sortPairs(labels)
			mf.Metric = append(mf.Metric, &dto.Metric{Label: labels, Gauge: &dto.Gauge{Value: proto.Float64(float64(s.row.Count(fam.Field)))},
				TimestampMs: proto.Int64(s.at)})
		}
		if err := writeFamily(w, mf); err != nil {
			return 0, err
		}
	}
	if _, err := expfmt.FinalizeOpenMetrics(w); err != nil {
		return 0, fmt.Errorf("write openmetrics: %w", err)
	}
	return written, nil
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
	for _, n := range append(contract.TaskLabels(), contract.BotInfoLabels()...) {
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

// writeFamily writes one family; a family without samples is left out.
func writeFamily(w io.Writer, mf *dto.MetricFamily) error {
	if len(mf.Metric) == 0 {
		return nil
	}
	if _, err := expfmt.MetricFamilyToOpenMetrics(w, mf); err != nil {
		return fmt.Errorf("write openmetrics %s: %w", mf.GetName(), err)
	}
	return nil
}
