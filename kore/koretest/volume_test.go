package koretest

import (
	"slices"
	"testing"
	"time"
)

// TestVolumeScalesTraffic: Volume 1 is the realistic data exactly, and a
// larger Volume keeps the bot's tasks and multiplies its counts.
func TestVolumeScalesTraffic(t *testing.T) {
	t.Parallel()
	s := NewInMemory(WithClock(NewManualClock(t0)))
	t.Cleanup(s.Close)
	base := testBot()
	one, ten := base, base
	one.ID, one.Volume = "st-volume-one", 1
	ten.ID, ten.Volume = "st-volume-ten", 10
	base.Seed, one.Seed, ten.Seed = 77, 77, 77
	for _, b := range []Bot{base, one, ten} {
		s.AddBot(b)
	}
	if !slices.Equal(s.Tasks(base.ID), s.Tasks(ten.ID)) {
		t.Errorf("Volume changed the tasks: %v vs %v", s.Tasks(base.ID), s.Tasks(ten.ID))
	}
	from, to := t0.Add(-24*time.Hour), t0
	want := s.Expected(base.ID, from, to, Filters{})
	rowsEqual(t, "Volume 1 vs 0", s.Expected(one.ID, from, to, Filters{}), want)
	got := sessions(s.Expected(ten.ID, from, to, Filters{}))
	if w := 10 * sessions(want); got < w-int64(len(want)*10) || got > w+int64(len(want)*10) {
		t.Errorf("Volume 10: %d sessions, want about %d", got, w)
	}
}

// TestDenseVolumeFillsEveryRow: at DenseVolume every one-hour window of a
// week holds both outcomes of every task, for bots of every domain and the
// most tasks (whose smallest tasks are the smallest).
func TestDenseVolumeFillsEveryRow(t *testing.T) {
	t.Parallel()
	s := NewInMemory(WithClock(NewManualClock(t0)))
	t.Cleanup(s.Close)
	for i, b := range DemoBots(2*len(Domains), 5) {
		b.Volume = DenseVolume
		b.Tasks = 20
		if i%2 == 1 {
			b.Tasks = maxTasks
		}
		s.AddBot(b)
		start := t0.Add(-7*24*time.Hour + 17*time.Minute)
		for h := range 7 * 24 {
			from := start.Add(time.Duration(h) * time.Hour)
			if rows := s.Expected(b.ID, from, from.Add(time.Hour), Filters{}); len(rows) != 2*b.Tasks {
				t.Fatalf("bot %d (%s, %d tasks): window from %v: %d rows, want %d", i, b.Domain, b.Tasks, from, len(rows), 2*b.Tasks)
			}
		}
	}
}
