package kore

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// statusPage returns a finished status body with n rows over 30 daily
// buckets, percentages mixed as numbers and strings like the API's.
func statusPage(n int) []byte {
	rows := map[string][]map[string]any{}
	for i := range n {
		b := time.Date(2025, 5, 1+i%30, 0, 0, 0, 0, time.UTC).Format("2006-01-02")
		st := "success"
		if i%2 == 1 {
			st = "failtask"
		}
		sess := 3 + i%17
		self := sess * (i % 5) / 5
		drop := (sess - self) / 2
		rows[b] = append(rows[b], apiRow(b, fmt.Sprintf("Task %04d", i/60), "dialog", st, sess+i%4, sess, self, drop, sess-self-drop))
	}
	body, err := json.Marshal(map[string]any{"status": "SUCCESS", "tasksExecutionReport": map[string]any{"total": n, "data": rows}})
	if err != nil {
		panic(err)
	}
	return body
}

// BenchmarkDecodeStatusPage decodes status pages of 200 rows (a large bot's
// Cumulative report) and 5,000 rows with DecodeStatus and, as a baseline in
// the same run, into map[string]any.
func BenchmarkDecodeStatusPage(b *testing.B) {
	for _, rows := range []int{200, 5000} {
		body := statusPage(rows)
		run := func(b *testing.B, decode func() error) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := decode(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
		}
		b.Run(fmt.Sprintf("rows=%d/typed", rows), func(b *testing.B) {
			run(b, func() error {
				st, err := DecodeStatus(body)
				if err == nil && st.Report.Rows() != rows {
					err = fmt.Errorf("%d rows", st.Report.Rows())
				}
				return err
			})
		})
		b.Run(fmt.Sprintf("rows=%d/map_baseline", rows), func(b *testing.B) {
			run(b, func() error {
				var m map[string]any
				return json.Unmarshal(body, &m)
			})
		})
	}
}

// BenchmarkReport runs a whole report (submit, polls, 5 pages of 1,000 rows)
// against the in-memory fake, without waiting: the poll backoff is 1 ns.
func BenchmarkReport(b *testing.B) {
	f := newFakeKore(b, 0, manyRows(5000, 30))
	c := newTestClient(b, f, WithPollBackoff(Backoff{Initial: 1, Multiplier: 1, Max: 1}), WithoutBotLimits())
	b.ReportAllocs()
	for b.Loop() {
		rep, err := c.RunContainmentReport(b.Context(), testBot, ReportRequest{PageSize: 1000})
		if err != nil || rep.RawRows != 5000 {
			b.Fatal(rep, err)
		}
	}
}
