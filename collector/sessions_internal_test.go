package collector

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/kore"
)

// fakeSessions serves sessions from a list, failing the call numbered
// failAt (1-based; 0: never) after its visits.
type fakeSessions struct {
	sessions []kore.Session
	calls    int
	failAt   int
}

var errFake = errors.New("fake API error")

func (f *fakeSessions) Sessions(_ context.Context, _ string, from, to time.Time, visit func(kore.Session)) (kore.SessionsResult, error) {
	f.calls++
	n := 0
	for _, s := range f.sessions {
		if !s.Start.Before(from) && s.Start.Before(to) {
			visit(s)
			n++
		}
	}
	if f.calls == f.failAt {
		// The visits came first, as from the pages before a failing one:
		// a count kept from them would show.
		return kore.SessionsResult{Pages: 1 + n/100}, errFake
	}
	return kore.SessionsResult{Pages: 1 + n/100}, nil
}

func selfService(at time.Time) kore.Session {
	return kore.Session{Start: at, Channel: "rtm", SessionType: "interactive", Containment: "selfService"}
}

// windowTotal sums the rows of window w.
func windowTotal(rows []SessionRow, w string) int64 {
	var n int64
	for _, r := range rows {
		if r.Window == w {
			n += r.Sessions
		}
	}
	return n
}

// TestSessionCountsUpdate checks the hour bookkeeping: the hour in progress
// counted on from the last update, a late session (reaching the API after
// its hour was counted so far) counted once the hour closes, a failed
// update keeping the hours it finished and none of a cut count, the
// rebuild stopping at its page allowance, and hours beyond the longest
// window forgotten.
func TestSessionCountsUpdate(t *testing.T) {
	t.Parallel()
	h0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	f := &fakeSessions{}
	for i := range 6 { // one session every 10 minutes from 06:00 to 11:50
		for m := 0; m < 60; m += 10 {
			f.sessions = append(f.sessions, selfService(h0.Add(time.Duration(i-4)*time.Hour+time.Duration(m)*time.Minute)))
		}
	}
	windows := []config.Window{{Name: "1h", Duration: time.Hour}, {Name: "3h", Duration: 3 * time.Hour}}
	c := newSessionCounts()
	ctx := t.Context()

	// 10:25: the hour in progress (3 sessions so far), then the past hours
	// newest first, one page each, at most 2 pages: 09:00 only.
	up, err := c.update(ctx, f, "st-1", h0.Add(25*time.Minute), 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if up.Rebuilt != 1 || up.Missing != 2 || up.Pages != 2 {
		t.Errorf("first update %+v, want 1 hour rebuilt, 2 missing, 2 pages", up)
	}
	rows := c.rows(windows, h0.Add(25*time.Minute))
	if got := windowTotal(rows, "1h"); got != 6+3 {
		t.Errorf("1h window = %d sessions, want 09:00's 6 and 3 so far", got)
	}
	if got := windowTotal(rows, "3h"); got != 0 {
		t.Errorf("3h window served with hours missing: %d", got)
	}

	// A session of 10:05 reaches the API late; 10:55: counted on from
	// 10:25 (10:30, 10:40, 10:50), the rebuild ends.
	f.sessions = append(f.sessions, selfService(h0.Add(5*time.Minute)))
	if _, err := c.update(ctx, f, "st-1", h0.Add(55*time.Minute), 3, 100); err != nil {
		t.Fatal(err)
	}
	rows = c.rows(windows, h0.Add(55*time.Minute))
	if got := windowTotal(rows, "1h"); got != 6+6 {
		t.Errorf("1h window at 10:55 = %d, want 12 (the late session not yet)", got)
	}
	if got := windowTotal(rows, "3h"); got != 3*6+6 {
		t.Errorf("3h window at 10:55 = %d, want 24", got)
	}

	// 11:05: 10:00 closes and is counted again in full, the late session
	// with it; a failure at the count of 11:00 keeps 10:00 and does not
	// keep a cut count.
	f.failAt = f.calls + 2
	if _, err := c.update(ctx, f, "st-1", h0.Add(65*time.Minute), 3, 100); !errors.Is(err, errFake) {
		t.Fatalf("update with a failing call: %v, want errFake", err)
	}
	if sh := c.hours[h0.Unix()/3600]; sh == nil || !sh.final || sumCounts(sh) != 7 {
		t.Errorf("10:00 after its close = %+v, want final with 7 sessions", sh)
	}
	live := c.hours[h0.Add(time.Hour).Unix()/3600]
	if live != nil && sumCounts(live) != 0 {
		t.Errorf("11:00 kept a cut count: %+v", live)
	}
	f.failAt = 0
	if _, err := c.update(ctx, f, "st-1", h0.Add(65*time.Minute), 3, 100); err != nil {
		t.Fatal(err)
	}
	rows = c.rows(windows, h0.Add(65*time.Minute))
	if got := windowTotal(rows, "1h"); got != 7+1 {
		t.Errorf("1h window at 11:05 = %d, want 10:00's 7 and 11:00's first", got)
	}
	// 07:00 is now beyond the 3 hours kept before 11:00.
	if _, ok := c.hours[h0.Add(-3*time.Hour).Unix()/3600]; ok {
		t.Error("an hour beyond the longest window is kept")
	}
}

func sumCounts(sh *sessionHour) int64 {
	var n int64
	for _, v := range sh.counts {
		n += v
	}
	return n
}
