package collector

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/kore-exporter/kore_exporter/kore"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func row(name, status string, executions int64) kore.TaskRow {
	return kore.TaskRow{
		TaskName: name, TaskType: "Dialog", Status: status,
		TotalExecution: executions, TotalSession: executions, SelfServiceSessions: executions,
		DropOffSessions: executions, AgentTransferSessions: executions,
	}
}

func partKeys(sn *Snapshot) []string {
	var keys []string
	for _, p := range sn.Parts() {
		keys = append(keys, p.Bot+"/"+p.Window)
	}
	return keys
}

func TestStoreStartsEmpty(t *testing.T) {
	t.Parallel()
	sn := NewStore().Load()
	if sn == nil || len(sn.Parts()) != 0 || len(sn.Bots()) != 0 || sn.Series() != 0 || sn.Generation() != 0 {
		t.Fatalf("new store: %+v", sn)
	}
	if rows := sn.Rows("a", "1h"); rows != nil {
		t.Errorf("Rows of a missing part: %v", rows)
	}
	if _, ok := sn.Part("a", "1h"); ok {
		t.Error("Part of a missing part reports ok")
	}
}

func TestPublishReplacesPart(t *testing.T) {
	t.Parallel()
	s := NewStore()
	s.Publish("b", "24h", []kore.TaskRow{row("x", "success", 1)}, t0, t0.Add(time.Hour))
	s.Publish("a", "1h", []kore.TaskRow{row("y", "success", 2)}, t0, t0.Add(time.Hour))
	before := s.Load()
	s.Publish("b", "24h", []kore.TaskRow{row("z", "failtask", 3), row("w", "success", 4)}, t0.Add(time.Minute), t0.Add(2*time.Hour))
	sn := s.Load()

	if got, want := partKeys(sn), []string{"a/1h", "b/24h"}; !slices.Equal(got, want) {
		t.Errorf("parts %v, want %v", got, want)
	}
	p, ok := sn.Part("b", "24h")
	if !ok {
		t.Fatal("part b/24h missing")
	}
	if want := []kore.TaskRow{row("w", "success", 4), row("z", "failtask", 3)}; !slices.Equal(p.Rows, want) {
		t.Errorf("rows %v, want %v (replaced and sorted)", p.Rows, want)
	}
	if !p.At.Equal(t0.Add(time.Minute)) || !p.Expires.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("At %v Expires %v", p.At, p.Expires)
	}
	if sn.Series() != 3*numTaskFamilies {
		t.Errorf("Series %d, want %d", sn.Series(), 3*numTaskFamilies)
	}
	if sn.Generation() != before.Generation()+1 {
		t.Errorf("generation %d after %d", sn.Generation(), before.Generation())
	}
	// The old snapshot is untouched.
	if got := before.Rows("b", "24h"); len(got) != 1 || got[0].TaskName != "x" {
		t.Errorf("old snapshot changed: %v", got)
	}
	// Text exposition follows.
	text := string(dataBlock(sn, fmtText, false))
	if strings.Contains(text, `task_name="x"`) || !strings.Contains(text, `kore_task_executions{bot="b",status="failtask",task_name="z",task_type="Dialog",window="24h"} 3`) {
		t.Errorf("exposition not replaced:\n%s", text)
	}
}

func TestPublishSumsRepeatedKeys(t *testing.T) {
	t.Parallel()
	s := NewStore()
	in := []kore.TaskRow{
		row("x", "success", 1),
		row("x", "failtask", 10),
		row("x", "success", 2),
		row("x", "success", 4),
		{TaskName: "x", TaskType: "FAQ", Status: "success", TotalExecution: 100}, // other type: not a duplicate
	}
	in[2].DateRange = "2026-05-01"
	orig := slices.Clone(in)
	if _, err := s.Publish("a", "1h", in, t0, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(in, orig) {
		t.Error("Publish modified its input")
	}
	rows := s.Load().Rows("a", "1h")
	want := []kore.TaskRow{
		row("x", "failtask", 10),
		row("x", "success", 7),
		{TaskName: "x", TaskType: "FAQ", Status: "success", TotalExecution: 100},
	}
	slices.SortFunc(want, func(a, b kore.TaskRow) int {
		return strings.Compare(a.TaskType+a.Status, b.TaskType+b.Status)
	})
	if !slices.Equal(rows, want) {
		t.Errorf("rows\n%v\nwant\n%v", rows, want)
	}
	// No series repeats in the exposition.
	lines := sortedLines(dataBlock(s.Load(), fmtText, false))
	if c := slices.Compact(slices.Clone(lines)); len(c) != len(lines) {
		t.Errorf("repeated lines in\n%s", strings.Join(lines, "\n"))
	}
}

func TestPublishRepairsInvalidUTF8(t *testing.T) {
	t.Parallel()
	s := NewStore()
	if _, err := s.Publish("a", "1h", []kore.TaskRow{row("bad\xffname", "success", 1), row("bad\xfename", "success", 2)}, t0, time.Time{}); err != nil {
		t.Fatal(err)
	}
	rows := s.Load().Rows("a", "1h")
	if len(rows) != 1 || rows[0].TaskName != "bad\uFFFDname" || rows[0].TotalExecution != 3 {
		t.Errorf("rows %v", rows)
	}
}

// TestPublishOverflowKeepsOldData: a sum beyond int64 is an error, and the
// part published before stays.
func TestPublishOverflowKeepsOldData(t *testing.T) {
	t.Parallel()
	s := NewStore()
	if _, err := s.Publish("a", "1h", []kore.TaskRow{row("x", "success", 5)}, t0, time.Time{}); err != nil {
		t.Fatal(err)
	}
	big := row("x", "success", math.MaxInt64)
	_, err := s.Publish("a", "1h", []kore.TaskRow{big, big}, t0.Add(time.Minute), time.Time{})
	if !errors.Is(err, kore.ErrCountOverflow) {
		t.Fatalf("err = %v, want a count overflow", err)
	}
	if rows := s.Load().Rows("a", "1h"); len(rows) != 1 || rows[0].TotalExecution != 5 {
		t.Errorf("rows %v, want the old data", rows)
	}
}

func TestSweep(t *testing.T) {
	t.Parallel()
	s := NewStore()
	s.Publish("a", "1h", []kore.TaskRow{row("x", "success", 1)}, t0, t0.Add(time.Hour))
	s.Publish("a", "24h", []kore.TaskRow{row("x", "success", 1)}, t0, t0.Add(2*time.Hour))
	s.Publish("b", "1h", []kore.TaskRow{row("x", "success", 1)}, t0, time.Time{}) // never expires

	gen := s.Load().Generation()
	if n := s.Sweep(t0.Add(time.Hour - time.Nanosecond)); n != 0 {
		t.Errorf("Sweep before expiry removed %d", n)
	}
	if s.Load().Generation() != gen {
		t.Error("a Sweep that removes nothing must not publish")
	}
	if n := s.Sweep(t0.Add(time.Hour)); n != 1 {
		t.Errorf("Sweep at expiry removed %d, want 1", n)
	}
	if got, want := partKeys(s.Load()), []string{"a/24h", "b/1h"}; !slices.Equal(got, want) {
		t.Errorf("parts %v, want %v", got, want)
	}
	if strings.Contains(string(dataBlock(s.Load(), fmtOpenMetrics, false)), `bot="a",status="success",task_name="x",task_type="Dialog",window="1h"`) {
		t.Error("swept series still exposed")
	}
	if n := s.Sweep(t0.Add(1000 * time.Hour)); n != 1 {
		t.Errorf("late Sweep removed %d, want 1", n)
	}
	if got, want := partKeys(s.Load()), []string{"b/1h"}; !slices.Equal(got, want) {
		t.Errorf("parts %v, want %v", got, want)
	}
	// A fresh Publish renews the expiry.
	s.Publish("a", "1h", []kore.TaskRow{row("x", "success", 1)}, t0.Add(999*time.Hour), t0.Add(1001*time.Hour))
	if n := s.Sweep(t0.Add(1000 * time.Hour)); n != 0 {
		t.Errorf("Sweep removed a renewed part")
	}
}

func TestRetainAndSetBots(t *testing.T) {
	t.Parallel()
	s := NewStore()
	for _, k := range []string{"a/1h", "a/24h", "b/1h", "c/7d"} {
		bot, win, _ := strings.Cut(k, "/")
		s.Publish(bot, win, []kore.TaskRow{row("x", "success", 1)}, t0, time.Time{})
	}
	s.SetBots([]BotInfo{
		{Name: "b", BotID: "st-b", Host: "https://h"},
		{Name: "a", BotID: "st-old", Host: "https://h"},
		{Name: "a", BotID: "st-a", Host: "https://h"}, // the last of a name wins
	})
	configured := map[string]bool{"a/1h": true, "b/1h": true}
	removed := s.Retain(func(bot, window string) bool { return configured[bot+"/"+window] })
	if removed != 2 {
		t.Errorf("Retain removed %d, want 2", removed)
	}
	sn := s.Load()
	if got, want := partKeys(sn), []string{"a/1h", "b/1h"}; !slices.Equal(got, want) {
		t.Errorf("parts %v, want %v", got, want)
	}
	wantBots := []BotInfo{{Name: "a", BotID: "st-a", Host: "https://h"}, {Name: "b", BotID: "st-b", Host: "https://h"}}
	if !reflect.DeepEqual(sn.Bots(), wantBots) {
		t.Errorf("bots %v, want %v", sn.Bots(), wantBots)
	}
	text := string(dataBlock(sn, fmtText, false))
	if !strings.Contains(text, `kore_bot_info{bot="a",bot_id="st-a",host="https://h"} 1`+"\n") {
		t.Errorf("bot info missing:\n%s", text)
	}
	if sn.Series() != 2+2*numTaskFamilies {
		t.Errorf("Series %d", sn.Series())
	}
	s.SetBots(nil)
	if strings.Contains(string(dataBlock(s.Load(), fmtText, false)), "kore_bot_info") {
		t.Error("kore_bot_info still exposed without bots")
	}
}

// TestConcurrentPublishAndScrape runs writers and readers together (run it
// with -race): every reader must see whole parts, each published with one
// value everywhere, and an exposition that parses.
func TestConcurrentPublishAndScrape(t *testing.T) {
	t.Parallel()
	s := NewStore()
	h := NewHandler(s, nil, HandlerOpts{})
	const writers, rounds, tasks = 4, 40, 10
	rowsOf := func(v int64) []kore.TaskRow {
		rows := make([]kore.TaskRow, tasks)
		for i := range rows {
			rows[i] = row(fmt.Sprintf("t%d", i), "success", v)
		}
		return rows
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				v := int64(w*1000 + r)
				s.Publish(fmt.Sprintf("bot%d", w), "1h", rowsOf(v), t0, t0.Add(time.Hour))
				if r%10 == 9 {
					s.Sweep(t0) // nothing expires; exercises the writer lock
					s.SetBots([]BotInfo{{Name: fmt.Sprintf("bot%d", w)}})
				}
			}
		})
	}
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				sn := s.Load()
				for _, p := range sn.Parts() {
					for _, r := range p.Rows {
						if r.TotalExecution != p.Rows[0].TotalExecution {
							t.Errorf("torn part %s: %v", p.Bot, p.Rows)
							return
						}
					}
				}
				_, body, err := scrapeErr(h, "GET", acceptText, "gzip")
				if err != nil {
					t.Error(err)
					return
				}
				fams, err := decodeAllErr(body, expfmt.FmtText)
				if err != nil {
					t.Error(err)
					return
				}
				for _, mf := range fams {
					values := map[string]float64{}
					for _, m := range mf.Metric {
						bot := m.Label[0].GetValue()
						if v, ok := values[bot]; ok && v != m.GetGauge().GetValue() {
							t.Errorf("torn exposition of %s in %s", bot, mf.GetName())
							return
						}
						values[bot] = m.GetGauge().GetValue()
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()

	sn := s.Load()
	if len(sn.Parts()) != writers {
		t.Fatalf("%d parts, want %d", len(sn.Parts()), writers)
	}
	for w := range writers {
		want := strconv.Itoa(w*1000 + rounds - 1)
		if got := sn.Rows(fmt.Sprintf("bot%d", w), "1h"); got[0].TotalExecution != int64(w*1000+rounds-1) {
			t.Errorf("bot%d: last value %d, want %s", w, got[0].TotalExecution, want)
		}
	}
	if !bytes.Contains(dataBlock(sn, fmtText, false), []byte("bot3")) {
		t.Error("final exposition lacks bot3")
	}
}
