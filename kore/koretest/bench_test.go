package koretest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func benchData(b *testing.B) *botData {
	b.Helper()
	return newBotData(Bot{ID: "st-bench", Tasks: 60, Seed: 1}, 1)
}

// BenchmarkReport90dCumulative is the largest report the API allows: 90
// days, 60 tasks, one bucket.
func BenchmarkReport90dCumulative(b *testing.B) {
	d := benchData(b)
	from := t0.Add(-90 * 24 * time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if rows := d.report(from, t0, aggCumulative, filterSpec{}, t0, nil); len(rows) != 120 {
			b.Fatalf("%d rows", len(rows))
		}
	}
}

// BenchmarkReport90dCumulativeSurge adds a surge running for the whole
// window (the surge walks its hours).
func BenchmarkReport90dCumulativeSurge(b *testing.B) {
	d := benchData(b)
	from := t0.Add(-90 * 24 * time.Hour)
	surges := map[int]surge{0: {start: from, ramp: 0.01}}
	b.ReportAllocs()
	for b.Loop() {
		d.report(from, t0, aggCumulative, filterSpec{convType: "Interactive"}, t0, surges)
	}
}

// BenchmarkReport30dDaily is the largest Daily report: 30 buckets × 60
// tasks × 2 outcomes.
func BenchmarkReport30dDaily(b *testing.B) {
	d := benchData(b)
	from := t0.Add(-30 * 24 * time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		d.report(from, t0, aggDaily, filterSpec{}, t0, nil)
	}
}

// BenchmarkBotData is the one-off cost of a bot's tables (first use).
func BenchmarkBotData(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		newBotData(Bot{ID: "st-bench", Tasks: 60, Seed: 1}, 1)
	}
}

// BenchmarkSubmitAndFetch is one whole 90-day job through the handler.
func BenchmarkSubmitAndFetch(b *testing.B) {
	h := newHarness(b, WithRateLimits(0, 0), WithJobDuration(0))
	h.bot.Tasks = 60
	h.s.AddBot(h.bot)
	body := filtersBody(t0.Add(-90*24*time.Hour), t0, nil)
	b.ReportAllocs()
	for b.Loop() {
		h.fetch(body, 0)
	}
}

// BenchmarkFirstReport computes a bot's first report (its tables included)
// over 90 days, with a 7-day report as the baseline in the same run; the
// target is well under 50 ms for the 90-day one.
func BenchmarkFirstReport(b *testing.B) {
	for _, days := range []int{7, 90} {
		b.Run(fmt.Sprintf("days=%d", days), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d := newBotData(Bot{ID: "st-speed", Tasks: 60, Seed: 3}, 3)
				from := t0.Add(-time.Duration(days) * 24 * time.Hour)
				d.report(from, t0, aggCumulative, filterSpec{}, t0, map[int]surge{0: {start: from, ramp: 0.01}})
			}
		})
	}
}

// TestSynctestJob runs a job on the real clock inside a synctest bubble: the
// in-memory client needs no network, and fake time passes instantly.
func TestSynctestJob(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := NewInMemory()
		defer s.Close()
		bot := testBot()
		s.AddBot(bot)
		hc := s.Client()
		call := func(method, path string) apiResp {
			req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(`{"filters":{"AggregationType":"Daily"}}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("auth", sign(t, map[string]any{"appId": bot.ClientID, "exp": time.Now().Add(time.Minute).Unix()}, bot.ClientSecret))
			_, r := doAPI(t, hc, req)
			return r
		}
		job := call(http.MethodPost, pathSubmit(bot.ID))
		time.Sleep(2 * time.Second)
		if r := call(http.MethodGet, pathStatus(bot.ID, job.ID)); r.Status != "IN_PROGRESS" || r.PercentageComplete == 0 {
			t.Fatalf("at 2s: %+v", r)
		}
		time.Sleep(time.Second)
		r := call(http.MethodGet, pathStatus(bot.ID, job.ID))
		if r.Status != "SUCCESS" || len(r.Report.Data) < 7 {
			t.Fatalf("at 3s: %q, %d buckets", r.Status, len(r.Report.Data))
		}
	})
}
