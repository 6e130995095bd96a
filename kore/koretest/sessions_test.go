package koretest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func pathSessions(botID string) string { return "/api/public/bot/" + botID + "/getSessions" }

// TestSessionsAreTheReportsUnits checks that getSessions and the
// containment report count the same sessions: per task and containment
// type, the sessions that ran the task are the task's sessions in the
// report, for whole hours and with a surge running; and that sessions that
// ran several tasks make the task-weighted and session-level ratios differ.
func TestSessionsAreTheReportsUnits(t *testing.T) {
	h := newHarness(t)
	from := t0.Truncate(time.Hour).Add(-6 * time.Hour)
	to := t0.Truncate(time.Hour)
	h.s.SetDropOffSurge(testBotID, "", from.Add(90*time.Minute), 0.05)
	for hour := from; hour.Before(to); hour = hour.Add(time.Hour) {
		sessions := h.s.Sessions(testBotID, hour, hour.Add(time.Hour))
		got := map[string][3]int64{} // task → self, drop, agent
		for _, s := range sessions {
			if s.Start.Before(hour) || !s.Start.Before(hour.Add(time.Hour)) {
				t.Fatalf("session starting %v returned for [%v, +1h)", s.Start, hour)
			}
			c := map[string]int{ContainmentSelfService: 0, ContainmentDropOff: 1, ContainmentAgent: 2}[s.Containment]
			if len(s.Tasks) < 1 || len(s.Tasks) > 3 {
				t.Fatalf("session runs %d tasks, want 1 to 3", len(s.Tasks))
			}
			for _, task := range s.Tasks {
				v := got[task]
				v[c]++
				got[task] = v
			}
		}
		want := map[string][3]int64{}
		for _, r := range h.s.Expected(testBotID, hour, hour.Add(time.Hour), Filters{}) {
			v := want[r.TaskName]
			v[0] += r.SelfServiceSessions
			v[1] += r.DropOffSessions
			v[2] += r.AgentTransferSessions
			want[r.TaskName] = v
		}
		for task, w := range want {
			if got[task] != w {
				t.Errorf("hour %v task %s: sessions per containment %v, report %v", hour, task, got[task], w)
			}
		}
		for task, g := range got {
			if _, ok := want[task]; !ok {
				t.Errorf("hour %v: task %s has sessions %v but no report row", hour, task, g)
			}
		}
	}

	// Ratios over the six hours.
	var taskSelf, taskAll, sessSelf, sessAll float64
	var multi, crossing int
	for _, r := range h.s.Expected(testBotID, from, to, Filters{}) {
		taskSelf += float64(r.SelfServiceSessions)
		taskAll += float64(r.TotalSession)
	}
	for _, s := range h.s.Sessions(testBotID, from, to) {
		sessAll++
		if s.Containment == ContainmentSelfService {
			sessSelf++
		}
		if len(s.Tasks) > 1 {
			multi++
		}
		if s.End.Truncate(time.Hour).After(s.Start.Truncate(time.Hour)) {
			crossing++
		}
	}
	if multi == 0 || crossing == 0 {
		t.Fatalf("%d sessions ran several tasks and %d cross an hour boundary; want some of each", multi, crossing)
	}
	tw, sl := taskSelf/taskAll, sessSelf/sessAll
	if sessAll >= taskAll || tw-sl < 0.01 {
		t.Errorf("task-weighted self-service %.4f over %v task-sessions, session-level %.4f over %v sessions: want fewer sessions and ratios at least a point apart", tw, taskAll, sl, sessAll)
	}
	t.Logf("six hours: task-weighted self-service %.4f (%v task-sessions), session-level %.4f (%v sessions)", tw, taskAll, sl, sessAll)
}

type sessionsAnswer struct {
	Total         int  `json:"total"`
	MoreAvailable bool `json:"moreAvailable"`
	Sessions      []struct {
		SessionID       string `json:"sessionId"`
		StartTime       string `json:"start_time"`
		Channel         string `json:"channel"`
		SessionType     string `json:"sessionType"`
		ContainmentType string `json:"containmentType"`
		UserID          string `json:"userId"`
	} `json:"sessions"`
}

// pageSessions pages through getSessions as a client must: on
// moreAvailable, with skip.
func (h *harness) pageSessions(query string, body map[string]any) (ids map[string]string, pages int) {
	h.t.Helper()
	ids = map[string]string{}
	last := ""
	for skip := 0; ; pages++ {
		body["skip"] = skip
		b, _ := json.Marshal(body)
		code, _, data := h.do(http.MethodPost, pathSessions(testBotID)+query, string(b), h.token())
		if code != http.StatusOK {
			h.t.Fatalf("getSessions: %d %s", code, data)
		}
		var a sessionsAnswer
		if err := json.Unmarshal(data, &a); err != nil {
			h.t.Fatal(err)
		}
		if a.Total != len(a.Sessions) {
			h.t.Fatalf("total %d on a page of %d", a.Total, len(a.Sessions))
		}
		for _, s := range a.Sessions {
			if last != "" && s.StartTime > last {
				h.t.Fatalf("start %s after %s: want newest first", s.StartTime, last)
			}
			last = s.StartTime
			if _, dup := ids[s.SessionID]; dup {
				h.t.Fatalf("session %s twice", s.SessionID)
			}
			ids[s.SessionID] = s.ContainmentType + "/" + s.SessionType + "/" + s.Channel
		}
		skip += len(a.Sessions)
		if !a.MoreAvailable {
			return ids, pages + 1
		}
	}
}

// TestGetSessionsPages checks getSessions against the truth: pages cut at
// an odd size, newest first, total the page's own count, and the
// containmentType and sessionType filters.
func TestGetSessionsPages(t *testing.T) {
	h := newHarness(t, WithSessionsPageCap(7), WithRateLimits(1e6, 1e6))
	from := t0.Add(-2 * time.Hour)
	to := t0.Add(-time.Hour)
	body := func() map[string]any {
		return map[string]any{"dateFrom": from.Format(timeLayout), "dateTo": to.Format(timeLayout), "limit": 100}
	}
	truth := h.s.Sessions(testBotID, from, to)
	got, pages := h.pageSessions("", body())
	if len(got) != len(truth) || pages != (len(truth)+6)/7 {
		t.Fatalf("%d sessions in %d pages, want %d in %d", len(got), pages, len(truth), (len(truth)+6)/7)
	}
	for _, s := range truth {
		if got[s.ID] != s.Containment+"/"+s.SessionType+"/"+s.Channel {
			t.Errorf("session %s: %q, want %s/%s/%s", s.ID, got[s.ID], s.Containment, s.SessionType, s.Channel)
		}
	}
	for _, c := range []string{ContainmentSelfService, ContainmentDropOff, ContainmentAgent} {
		sub, _ := h.pageSessions("?containmentType="+c, body())
		want := 0
		for _, s := range truth {
			if s.Containment == c {
				want++
				if _, ok := sub[s.ID]; !ok {
					t.Errorf("containmentType=%s: session %s missing", c, s.ID)
				}
			}
		}
		if len(sub) != want || want == 0 {
			t.Errorf("containmentType=%s: %d sessions, want %d (> 0)", c, len(sub), want)
		}
	}
	b := body()
	b["sessionType"] = SessionNonInteractive
	sub, _ := h.pageSessions("", b)
	for id, v := range sub {
		if !strings.Contains(v, "/"+SessionNonInteractive+"/") {
			t.Errorf("sessionType filter returned %s: %s", id, v)
		}
	}
}

// TestGetSessionsRefuses checks the answers to bad calls and to an app
// without the Bot Sessions scope, and that getSessions takes the bot's
// rate-limit slots like the containment report.
func TestGetSessionsRefuses(t *testing.T) {
	h := newHarness(t, WithRateLimits(6, 100))
	for _, tc := range []struct{ query, body, want string }{
		{"?containmentType=contained", `{}`, "containmentType must be one of"},
		{"", `{"dateFrom":"yesterday"}`, "dateFrom must be a date"},
		{"", `{"dateFrom":"2025-06-02","dateTo":"2025-06-01"}`, "dateFrom must be before dateTo"},
		{"", `{"sessionType":"chat"}`, "sessionType must be one of"},
		{"", `{"limit":-1}`, "limit must be a non-negative integer"},
		{"", `{"filters":{}}`, "filters is not a valid field"},
	} {
		code, _, data := h.do(http.MethodPost, pathSessions(testBotID)+tc.query, tc.body, h.token())
		if code != http.StatusBadRequest || !strings.Contains(string(data), tc.want) {
			t.Errorf("%s %s: %d %s, want 400 %q", tc.query, tc.body, code, data, tc.want)
		}
	}
	// The six calls above took the minute's six slots.
	if code, hdr, _ := h.do(http.MethodPost, pathSessions(testBotID), `{}`, h.token()); code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Errorf("seventh call in a minute: %d, want 429 with Retry-After", code)
	}
	if code, _, _ := h.do(http.MethodPost, pathSubmit(testBotID), `{}`, h.token()); code != http.StatusTooManyRequests {
		t.Errorf("a report submit after six getSessions calls: %d, want 429 (one budget)", code)
	}

	h.clock.Advance(time.Hour)
	bot := testBot()
	bot.ID, bot.NoSessionsScope = "st-nosessions", true
	h.s.AddBot(bot)
	code, _, data := h.do(http.MethodPost, pathSessions(bot.ID), `{}`, h.token())
	if code != http.StatusUnauthorized || !strings.Contains(string(data), msgScope) {
		t.Errorf("no Bot Sessions scope: %d %s, want 401 %q", code, data, msgScope)
	}
	if code, _, data := h.do(http.MethodPost, pathSubmit(bot.ID), `{}`, h.token()); code != http.StatusOK {
		t.Errorf("no Bot Sessions scope, containment report: %d %s, want 200", code, data)
	}
	if got := h.s.Stats(testBotID).SessionPages; got != 0 {
		t.Errorf("SessionPages = %d after only refused calls", got)
	}
}

// TestDemoBotsRatios shows, for the demo's bots over the 24 hours before a
// fixed Monday noon, the bot's task-weighted self-service ratio (summed
// task rows) beside its session-level one (each session once), and how
// many sessions an hour the busiest hour holds: the two ratios differ
// for every bot.
func TestDemoBotsRatios(t *testing.T) {
	clock := NewManualClock(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC))
	s := NewInMemory(WithClock(clock))
	defer s.Close()
	to := clock.Now()
	from := to.Add(-24 * time.Hour)
	for _, b := range ExporterDemoBots() {
		s.AddBot(b)
		var taskSelf, taskAll float64
		for _, r := range s.Expected(b.ID, from, to, Filters{}) {
			taskSelf += float64(r.SelfServiceSessions)
			taskAll += float64(r.TotalSession)
		}
		var sessSelf, sessAll float64
		peak := 0
		for h := from; h.Before(to); h = h.Add(time.Hour) {
			ss := s.Sessions(b.ID, h, h.Add(time.Hour))
			peak = max(peak, len(ss))
			for _, x := range ss {
				sessAll++
				if x.Containment == ContainmentSelfService {
					sessSelf++
				}
			}
		}
		tw, sl := taskSelf/taskAll, sessSelf/sessAll
		t.Logf("bot %s: task-weighted self-service %.1f %% of %.0f task sessions; session-level %.1f %% of %.0f sessions; busiest hour %d sessions",
			b.Name, 100*tw, taskAll, 100*sl, sessAll, peak)
		if tw-sl < 0.01 {
			t.Errorf("bot %s: task-weighted %.4f and session-level %.4f within a point", b.Name, tw, sl)
		}
	}
}
