package backfill

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"github.com/kore-exporter/kore_exporter/collector/contract"
	"github.com/kore-exporter/kore_exporter/kore"
)

// TestStreamedOutputEqualsInMemory: the streamed writer, whatever the
// number of passes over the state file (one, or a series at a time),
// writes the same bytes as writing every sample from memory
// (writeInMemory, the writer's first version), for a file state, a
// memory state and with target labels.
func TestStreamedOutputEqualsInMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 3)
		plan := e.plan(t, 30*time.Hour, time.Hour)
		mem := NewMemoryState()
		file, err := OpenState(filepath.Join(t.TempDir(), "out.om.state"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		// Leave some points out, so that series have gaps.
		for _, s := range []*State{mem, file} {
			ctx, cancel := context.WithCancel(t.Context())
			Run(ctx, plan, RunOptions{NewClient: e.clients, State: s, Progress: &hook{n: len(plan.Points()) * 2 / 3, fn: cancel}})
			cancel()
		}
		target := map[string]string{"job": "kore_exporter", "namespace": "prod"}
		for _, s := range []*State{mem, file} {
			want := writeInMemory(t, plan, s, target)
			if len(want) < 10000 {
				t.Fatalf("only %d bytes of output", len(want))
			}
			// A memory state is quick to read: a series a pass, and 7
			// counts at a time, whatever the number of instants.
			chunks := []int{maxChunkValues, 50 * len(plan.Instants)}
			if s == mem {
				chunks = append(chunks, 1, 7)
			}
			for _, chunk := range chunks {
				var got bytes.Buffer
				if _, err := writeOpenMetrics(t.Context(), &got, plan, s, target, chunk); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Bytes(), want) {
					t.Fatalf("file state %v, %d counts at once: the output differs from the in-memory writer's (%d bytes, want %d)", s.f != nil, chunk, got.Len(), len(want))
				}
			}
		}
	})
}

// TestOutputMemoryIsBounded backfills the three demo bots (the --demo
// simulator and configuration) at 1h over 9 and over 90 days, then writes each output
// while sampling the heap: the peak of the 90-day output, ten times the
// samples, stays within a few MiB of the 9-day one. Run
//
//	go test -run '^TestOutputMemoryIsBounded$' -v ./collector/backfill
//
// for the figures.
func TestOutputMemoryIsBounded(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("backfills 90 days of three bots and measures the heap: skipped with -short and -race")
	}
	peak := map[int]uint64{}
	for _, days := range []int{9, 90} {
		// The run in a subtest of its own, so that the simulator is closed
		// and gone before the output is written.
		var plan *Plan
		path := filepath.Join(t.TempDir(), "out.om.state")
		t.Run(fmt.Sprintf("run %d days", days), func(t *testing.T) {
			e := newDemoEnv(t)
			plan = e.plan(t, time.Duration(days)*24*time.Hour, time.Hour)
			state, err := OpenState(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(t.Context(), plan, RunOptions{NewClient: e.clients, State: state})
			if err == nil {
				err = res.Err()
			}
			if cerr := state.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
		})
		if t.Failed() {
			return
		}
		state, err := OpenState(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out countWriter
		var n int
		peak[days] = peakHeap(func() {
			n, err = WriteOpenMetrics(t.Context(), &out, plan, state, map[string]string{"job": "kore_exporter"})
		})
		state.Close()
		if err != nil || n != len(plan.Points()) {
			t.Fatalf("%d days: %d of %d points written, %v", days, n, len(plan.Points()), err)
		}
		t.Logf("%d days x 1h x 3 demo bots: %d points, output %.1f MB, peak heap while writing it %.1f MiB",
			days, n, float64(out.n.Load())/1e6, float64(peak[days])/(1<<20))
	}
	if peak[90] > peak[9]+16<<20 {
		t.Fatalf("peak heap %d MiB for 90 days, %d MiB for 9: the output's memory grows with the range", peak[90]>>20, peak[9]>>20)
	}
}

// peakHeap runs fn and returns the largest heap in use seen while it
// runs, sampled every millisecond, above the heap before it.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var top atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > top.Load() {
				top.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	fn()
	close(done)
	wg.Wait()
	return top.Load() - min(base, top.Load())
}

type countWriter struct{ n atomic.Int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	return len(p), nil
}

// sample is one finished point's row: a task series at one instant.
type memSample struct {
	bot, window string
	at          int64 // Unix milliseconds
	row         *kore.TaskRow
}

// labels returns the sample's task label values, in the order of
// contract.TaskLabels.
func (s *memSample) labels() [5]string {
	return [5]string{s.bot, s.window, s.row.TaskName, s.row.TaskType, s.row.Status}
}

// writeInMemory is the first version of WriteOpenMetrics: every sample
// in memory, sorted, then written family by family.
func writeInMemory(t *testing.T, plan *Plan, state *State, target map[string]string) []byte {
	t.Helper()
	var w bytes.Buffer
	cfg := plan.Config
	var samples []memSample
	botAt := map[int]map[int64]bool{} // bot index → instants with data
	written := 0
	for _, pt := range plan.Points() {
		rows, ok, err := state.get(keyOf(cfg, pt))
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			continue
		}
		written++
		if botAt[pt.Bot] == nil {
			botAt[pt.Bot] = map[int64]bool{}
		}
		botAt[pt.Bot][pt.At.UnixMilli()] = true
		for i := range rows {
			samples = append(samples, memSample{bot: cfg.Bots[pt.Bot].Name, window: pt.Window.Name, at: pt.At.UnixMilli(), row: &rows[i]})
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
	slices.SortFunc(samples, func(a, b memSample) int {
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
	writeFamilyInMemory(t, &w, info)
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
		writeFamilyInMemory(t, &w, mf)
	}
	expfmt.FinalizeOpenMetrics(&w)
	_ = written
	return w.Bytes()
}

func writeFamilyInMemory(t *testing.T, w io.Writer, mf *dto.MetricFamily) {
	t.Helper()
	if len(mf.Metric) == 0 {
		return
	}
	if _, err := expfmt.MetricFamilyToOpenMetrics(w, mf); err != nil {
		t.Fatal(err)
	}
}
