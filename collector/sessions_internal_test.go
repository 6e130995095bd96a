package collector

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
	"github.com/kore-exporter/kore_exporter/kore/koretest"
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

// TestSessionsFailStaleAndPrivate: the sessions job's series are served
// from its last success until stale_after while its runs fail (here the
// app loses its credentials), then disappear, the failures counted under
// window="sessions"; and no user id, session id or tag value the API sends
// (the simulator sends caller phone numbers as tags) reaches /metrics or
// the log, even at debug level.
func TestSessionsFailStaleAndPrivate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := koretest.NewInMemory(koretest.WithJobDuration(0))
		defer sim.Close()
		kb := koretest.DemoBots(1, 13)[0]
		kb.Volume = 4
		sim.AddBot(kb)
		time.Sleep(10 * time.Hour) // a weekday morning's traffic
		b := testBot("support", "1h")
		b.BotID, b.ClientID, b.ClientSecret, b.Host = kb.ID, kb.ClientID, config.Secret(kb.ClientSecret), sim.URL
		b.Interval, b.StaleAfter = 5*time.Minute, 15*time.Minute
		b.Sessions = config.Sessions{Enabled: true, PeakPerHour: 1000}
		var logs lockedBuffer
		reg, m, err := NewRegistry()
		if err != nil {
			t.Fatal(err)
		}
		store := NewStore()
		s := NewScheduler(SchedulerOpts{
			Logger: level.NewFilter(log.NewLogfmtLogger(&logs), level.AllowDebug()), Store: store, Metrics: m, MaxStartSpread: time.Second,
			NewClient: func(b config.Bot, budgets *kore.Budgets, obs kore.Observer) (report.Runner, error) {
				return kore.NewClient(kore.WithHost(b.Host), kore.WithHTTPClient(sim.Client()), kore.WithObserver(obs), kore.WithBudgets(budgets),
					kore.WithCredentials(kore.Credentials{ClientID: b.ClientID, ClientSecret: b.ClientSecret.Reveal()}))
			},
		})
		if err := s.Apply(t.Context(), &config.Config{Bots: []config.Bot{b}, Limits: config.Limits{MaxConcurrentJobs: 2, RequestsPerMinutePerBot: 30}}); err != nil {
			t.Fatal(err)
		}
		defer s.Stop()
		h := NewHandler(store, reg, HandlerOpts{Metrics: m})
		time.Sleep(6 * time.Minute)
		synctest.Wait()
		_, body := scrape(t, h, "GET", "", "")
		if !strings.Contains(string(body), `kore_bot_sessions{bot="support",channel="rtm",containment="self_service",session_type="interactive",window="1h"}`) {
			t.Fatalf("no session series after two runs:\n%s", body)
		}
		for _, ss := range sim.Sessions(kb.ID, time.Now().Add(-2*time.Hour), time.Now()) {
			for what, text := range map[string]string{"metrics": string(body), "log": logs.String()} {
				if strings.Contains(text, ss.ID) {
					t.Fatalf("the %s holds session id %s", what, ss.ID)
				}
			}
		}
		for _, userData := range []string{"u-", "+1555", "caller"} {
			if strings.Contains(string(body), userData) || strings.Contains(logs.String(), userData) {
				t.Errorf("%q (user data) in the metrics or the log", userData)
			}
		}

		sim.SetFault(kb.ID, koretest.Fault{BadCredentials: true})
		var last time.Time
		for _, r := range s.Status() {
			if r.Window == SessionsJob {
				last = r.LastSuccess
			}
		}
		time.Sleep(time.Until(last.Add(b.StaleAfter - time.Minute))) // within stale_after: still served
		synctest.Wait()
		_, body = scrape(t, h, "GET", "", "")
		if !strings.Contains(string(body), "kore_bot_sessions{") ||
			!strings.Contains(string(body), `kore_exporter_report_success{bot="support",window="sessions"} 0`) ||
			!strings.Contains(string(body), `kore_exporter_report_runs_total{bot="support",result="unauthorized",window="sessions"}`) {
			t.Errorf("a minute before stale_after: want the series kept, success 0 and unauthorized runs:\n%s", body)
		}
		time.Sleep(2 * time.Minute) // past stale_after
		synctest.Wait()
		_, body = scrape(t, h, "GET", "", "")
		if strings.Contains(string(body), "kore_bot_sessions{") {
			t.Errorf("session series served past stale_after")
		}
	})
}
