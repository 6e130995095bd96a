package kore_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/kore-exporter/kore_exporter/kore"
	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

// busyBot is simBot with enough traffic for a night hour (synctest's clock
// starts at midnight).
func busyBot() koretest.Bot {
	b := simBot
	b.Volume = 20
	return b
}

// TestSessionsCountTheTruth pages through closed hours at an odd page size
// and counts exactly the simulator's sessions per containment type,
// channel and session type.
func TestSessionsCountTheTruth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim, c := newSim(t, busyBot(), []koretest.Option{koretest.WithSessionsPageCap(13)})
		to := time.Now().UTC().Truncate(time.Hour)
		for _, from := range []time.Time{to.Add(-time.Hour), to.Add(-3 * time.Hour)} {
			type key struct{ containment, channel, typ string }
			got, want := map[key]int{}, map[key]int{}
			res, err := c.Sessions(t.Context(), simBot.ID, from, to, func(s kore.Session) {
				got[key{s.Containment, s.Channel, s.SessionType}]++
			})
			if err != nil {
				t.Fatal(err)
			}
			truth := sim.Sessions(simBot.ID, from, to)
			for _, s := range truth {
				want[key{s.Containment, s.Channel, s.SessionType}]++
			}
			if len(truth) < 100 || len(want) < 6 {
				t.Fatalf("%d sessions in %d classes: too few to prove anything", len(truth), len(want))
			}
			for k, n := range want {
				if got[k] != n {
					t.Errorf("[%v, %v) %+v: %d sessions, want %d", from, to, k, got[k], n)
				}
			}
			if len(got) != len(want) {
				t.Errorf("%d classes, want %d", len(got), len(want))
			}
			if pages := (len(truth) + 12) / 13; res.Pages != pages || res.Duplicates+res.OutOfRange != 0 {
				t.Errorf("result %+v, want %d pages and nothing dropped", res, pages)
			}
		}
		if st := sim.Stats(simBot.ID); st.SessionPages != st.Requests {
			t.Errorf("simulator stats %+v: want every request a sessions page", st)
		}
	})
}

// TestSessionsOpenHour pages through the current hour while sessions keep
// starting (the bot's budget makes the client wait between pages, and the
// clock moves on): sessions pushed onto the next page are counted once.
func TestSessionsOpenHour(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim, c := newSim(t, busyBot(), []koretest.Option{koretest.WithSessionsPageCap(5)})
		time.Sleep(30 * time.Minute) // into the hour, in the bubble's clock
		from := time.Now().UTC().Truncate(time.Hour)
		to := from.Add(time.Hour)
		before := len(sim.Sessions(simBot.ID, from, to))
		n := 0
		res, err := c.Sessions(t.Context(), simBot.ID, from, to, func(kore.Session) { n++ })
		if err != nil {
			t.Fatal(err)
		}
		after := len(sim.Sessions(simBot.ID, from, to))
		if res.Duplicates == 0 || after <= before {
			t.Fatalf("sessions %d → %d while paging, %d duplicates: the test needs sessions starting during the paging", before, after, res.Duplicates)
		}
		if n < before || n > after {
			t.Errorf("counted %d sessions, want between %d (at the start) and %d (at the end)", n, before, after)
		}
	})
}
