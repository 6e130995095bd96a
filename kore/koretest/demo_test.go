package koretest

import (
	"testing"
	"time"
)

// TestDemoTaskBusyEveryHour: the demo's surging task has at least 40
// sessions in every hour of four weeks (the whole period of the data's
// pattern, every hour of every weekday), so the drop-off alerts' volume
// guards never hide the demo's surge, at any time of day.
func TestDemoTaskBusyEveryHour(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 4, 0, 0, 0, 0, time.UTC) // a Sunday, the quietest day
	s := NewInMemory(WithClock(NewManualClock(start.Add(5 * 7 * 24 * time.Hour))))
	bot := ExporterDemoBots()[0]
	s.AddBot(bot)
	task := s.Tasks(bot.ID)[0].Name
	least := int64(-1)
	for h := range 4 * 7 * 24 {
		from := start.Add(time.Duration(h) * time.Hour)
		var n int64
		for _, r := range s.Expected(bot.ID, from, from.Add(time.Hour), Filters{}) {
			if r.TaskName == task {
				n += r.TotalSession
			}
		}
		if n < 40 {
			t.Errorf("%s: task %q has %d sessions in the hour, want at least 40", from.Format(time.RFC3339), task, n)
		}
		if least < 0 || n < least {
			least = n
		}
	}
	t.Logf("task %q: at least %d sessions in every hour", task, least)
}
