package collector_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-kit/log"

	"github.com/kore-exporter/kore_exporter/collector"
	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/contract"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

// startSessions starts a scheduler of one bot, windows 1h, 24h and 7d,
// with sessions on, against the simulator in memory.
func startSessions(t *testing.T, sim *koretest.Server, kb koretest.Bot) (*collector.Scheduler, *collector.Store, *collector.Metrics) {
	t.Helper()
	b := config.Bot{Name: "support", BotID: kb.ID, ClientID: kb.ClientID, ClientSecret: config.Secret(kb.ClientSecret), Host: sim.URL,
		Interval: 5 * time.Minute, Timeout: 4 * time.Minute, StaleAfter: 15 * time.Minute, PageSize: 100, MaxTaskRows: 1000,
		Windows:  []config.Window{{Name: "1h", Duration: time.Hour}, {Name: "24h", Duration: 24 * time.Hour}, {Name: "7d", Duration: 168 * time.Hour}},
		Sessions: config.Sessions{Enabled: true, PeakPerHour: 1000}}
	_, m, err := collector.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	store := collector.NewStore()
	s := collector.NewScheduler(collector.SchedulerOpts{
		Logger: log.NewNopLogger(), Store: store, Metrics: m, MaxStartSpread: time.Second,
		NewClient: func(b config.Bot, budgets *kore.Budgets, obs kore.Observer) (report.Runner, error) {
			return kore.NewClient(kore.WithHost(b.Host), kore.WithHTTPClient(sim.Client()), kore.WithObserver(obs), kore.WithBudgets(budgets),
				kore.WithCredentials(kore.Credentials{ClientID: b.ClientID, ClientSecret: b.ClientSecret.Reveal()}))
		},
	})
	if err := s.Apply(t.Context(), &config.Config{Bots: []config.Bot{b}, Limits: config.Limits{MaxConcurrentJobs: 4, RequestsPerMinutePerBot: 30}}); err != nil {
		t.Fatal(err)
	}
	return s, store, m
}

// sessionsStatus returns the sessions job's record.
func sessionsStatus(t *testing.T, s *collector.Scheduler) collector.JobRecord {
	t.Helper()
	for _, r := range s.Status() {
		if r.Window == collector.SessionsJob {
			return r
		}
	}
	t.Fatal("no sessions job on the status")
	return collector.JobRecord{}
}

// checkSessionsTruth compares every kore_bot_sessions series of each window
// with the simulator's sessions of the window's hours up to the last run.
func checkSessionsTruth(t *testing.T, sim *koretest.Server, botID string, sc *scrape, ref time.Time) {
	t.Helper()
	cur := ref.Truncate(time.Hour)
	for _, w := range []struct {
		name  string
		hours int
	}{{"1h", 1}, {"24h", 24}, {"7d", 168}} {
		want := map[string]float64{}
		classes := map[string]bool{}
		truth := sim.Sessions(botID, cur.Add(-time.Duration(w.hours)*time.Hour), ref)
		for _, s := range truth {
			ch, typ := contract.SessionChannel(s.Channel), contract.SessionType(s.SessionType)
			want[contract.SessionContainment(s.Containment)+"/"+ch+"/"+typ]++
			classes[ch+"/"+typ] = true
		}
		if len(truth) < 50 {
			t.Fatalf("window %s: %d sessions: too few to prove anything", w.name, len(truth))
		}
		got := map[string]float64{}
		for _, m := range sc.fams["kore_bot_sessions"].GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["window"] == w.name && l["bot"] == "support" {
				got[l["containment"]+"/"+l["channel"]+"/"+l["session_type"]] = m.GetGauge().GetValue()
			}
		}
		for class := range classes {
			for _, c := range contract.SessionContainments() {
				if k := c + "/" + class; got[k] != want[k] {
					t.Errorf("window %s, %s: %v sessions, want %v", w.name, k, got[k], want[k])
				}
			}
		}
		if n := len(classes) * 3; len(got) != n {
			t.Errorf("window %s: %d series, want %d (3 containments × %d channels and types): %v", w.name, len(got), n, len(classes), got)
		}
	}
}

// TestSessionsEqualTheTruth runs the sessions job against the simulator
// from a start: it rebuilds the 169 hours of the 7d window within its
// share of the budget, serving each window once its hours are counted, and
// then every window's counts equal the simulator's sessions exactly, per
// containment, channel and session type; after a restart it rebuilds and
// agrees again; and in steady state an hour costs the plan's estimate.
func TestSessionsEqualTheTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("sessions end to end (about 15 s of CPU for 10 simulated hours): skipped with -short")
	}
	synctest.Test(t, func(t *testing.T) {
		// Pages of 37 sessions: the client asks for 100 and pages on.
		sim := koretest.NewInMemory(koretest.WithJobDuration(0), koretest.WithSessionsPageCap(37))
		defer sim.Close()
		kb := koretest.DemoBots(1, 11)[0]
		kb.Volume = 3
		sim.AddBot(kb)
		time.Sleep(8 * time.Hour) // to a Saturday morning's traffic
		for restart := range 2 {
			s, store, m := startSessions(t, sim, kb)
			h := collector.NewHandler(store, nil, collector.HandlerOpts{Metrics: m})
			// 7d of hours at up to 75 pages a run: served within a few hours.
			deadline := time.Now().Add(6 * time.Hour)
			for {
				time.Sleep(5 * time.Minute)
				synctest.Wait()
				st := sessionsStatus(t, s)
				sc := scrapeMetrics(t, h)
				if n := len(sc.fams["kore_bot_sessions"].GetMetric()); n > 0 && st.LastResult == report.ResultSuccess && windowsServed(sc) == 3 {
					checkSessionsTruth(t, sim, kb.ID, sc, st.WindowTo)
					t.Logf("restart %d: every window served %s after the start, %d session pages read", restart, time.Until(deadline.Add(-6*time.Hour)).Abs(), sim.Stats(kb.ID).SessionPages)
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("restart %d: windows served %d after 6h; status %+v", restart, windowsServed(sc), st)
				}
			}
			if restart == 1 {
				// Steady state: an hour of runs reads each 5-minute run's new
				// sessions (one to three pages of 37 at this volume) and the
				// hour that closed, once, in full.
				closing := sessionsStatus(t, s).WindowTo.Truncate(time.Hour)
				before := sim.Stats(kb.ID).SessionPages
				time.Sleep(time.Hour)
				synctest.Wait()
				pages := sim.Stats(kb.ID).SessionPages - before
				closed := (len(sim.Sessions(kb.ID, closing, closing.Add(time.Hour))) + 36) / 37
				t.Logf("steady state: %d session pages in an hour, %d of them the closed hour's", pages, closed)
				if pages < 11+closed || pages > 13*3+closed {
					t.Errorf("an hour of sessions runs read %d pages, want 11 to 13 runs of 1 to 3 pages and the closed hour's %d", pages, closed)
				}
				st := sessionsStatus(t, s)
				checkSessionsTruth(t, sim, kb.ID, scrapeMetrics(t, h), st.WindowTo)
			}
			s.Stop()
		}
	})
}

func windowsServed(sc *scrape) int {
	seen := map[string]bool{}
	for _, m := range sc.fams["kore_bot_sessions"].GetMetric() {
		for _, p := range m.GetLabel() {
			if p.GetName() == "window" {
				seen[p.GetValue()] = true
			}
		}
	}
	return len(seen)
}
