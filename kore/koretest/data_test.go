package koretest

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAdditivity: the 24 one-hour windows of a day sum to the day, per row,
// for every filter, and the Daily buckets of a week sum to its Cumulative
// report.
func TestAdditivity(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	day := time.Date(2025, 5, 28, 0, 0, 0, 0, time.UTC)
	for _, f := range []Filters{
		{},
		{ConversationType: "Interactive"},
		{ConversationType: "Non-Interactive", ConversationStatus: "Active"},
		{ConversationStatus: "Closed"},
		{Channels: []string{ChannelWhatsApp}, ConversationType: "Interactive"},
	} {
		for _, start := range []time.Time{day, day.Add(7*time.Hour + 23*time.Minute + 17*time.Second + 3*time.Millisecond)} {
			t.Run(fmt.Sprintf("%+v@%s", f, start.Format("15:04:05.000")), func(t *testing.T) {
				var sum []Row
				for i := range 24 {
					from := start.Add(time.Duration(i) * time.Hour)
					sum = addRows(sum, h.s.Expected(testBotID, from, from.Add(time.Hour), f))
				}
				rowsEqual(t, "24×1h vs 24h", sum, h.s.Expected(testBotID, start, start.Add(24*time.Hour), f))
			})
		}
	}
	t.Run("Daily vs Cumulative over HTTP", func(t *testing.T) {
		from, to := t0.Add(-7*24*time.Hour), t0
		daily, _ := h.fetch(filtersBody(from, to, map[string]any{"AggregationType": "Daily"}), 0)
		cum, _ := h.fetch(filtersBody(from, to, map[string]any{"AggregationType": "Cumulative"}), 0)
		rowsEqual(t, "Daily vs Cumulative", sumRows(daily), sumRows(cum))
	})
}

// TestFilterSplits: Interactive + Non-Interactive and Active + Closed are
// the whole, row by row.
func TestFilterSplits(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	from, to := t0.Add(-48*time.Hour), t0
	all := h.s.Expected(testBotID, from, to, Filters{})
	for _, pair := range [][2]Filters{
		{{ConversationType: "Interactive"}, {ConversationType: "Non-Interactive"}},
		{{ConversationStatus: "Active"}, {ConversationStatus: "Closed"}},
		{{Channels: []string{ChannelWeb}}, {Channels: []string{ChannelWhatsApp}}},
	} {
		a, b := h.s.Expected(testBotID, from, to, pair[0]), h.s.Expected(testBotID, from, to, pair[1])
		rowsEqual(t, fmt.Sprint(pair), addRows(a, b), all)
		if small, big := min(sessions(a), sessions(b)), max(sessions(a), sessions(b)); small == 0 || (pair[0].Channels == nil && small*5 > big) {
			t.Errorf("%v: %d vs %d sessions; want a small non-zero share", pair, sessions(a), sessions(b))
		}
	}
	// Both channels are every session; a tag the data does not have, none.
	rowsEqual(t, "web and whatsapp", h.s.Expected(testBotID, from, to, Filters{Channels: []string{ChannelWeb, ChannelWhatsApp}}), all)
	if n := sessions(h.s.Expected(testBotID, from, to, Filters{Channels: []string{}})); n != 0 {
		t.Errorf("a tags filter no session matches selects %d sessions", n)
	}
	// Alerts are mostly non-interactive.
	ni := h.s.Expected(testBotID, from, to, Filters{ConversationType: "Non-Interactive"})
	var alertNI, otherNI int64
	for _, r := range ni {
		if r.TaskType == TypeAlert {
			alertNI += r.TotalSession
		} else {
			otherNI += r.TotalSession
		}
	}
	if alertNI == 0 {
		t.Error("no non-interactive alert sessions")
	}
	names := []string{h.s.Tasks(testBotID)[0].Name, h.s.Tasks(testBotID)[3].Name, "No Such Task"}
	inc := h.s.Expected(testBotID, from, to, Filters{IncludeTaskNames: names})
	var want []Row
	for _, r := range all {
		if slices.Contains(names, r.TaskName) {
			want = append(want, r)
		}
	}
	rowsEqual(t, "includeTaskName", inc, want)
}

func sessions(rows []Row) (n int64) {
	for _, r := range rows {
		n += r.TotalSession
	}
	return n
}

// TestExpectedMatchesHTTP: what the API returns, paged and summed over
// buckets, is Expected, for several filters.
func TestExpectedMatchesHTTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithRateLimits(0, 0), WithJobDuration(time.Second))
	tasks := h.s.Tasks(testBotID)
	tests := []struct {
		name     string
		from, to time.Time
		extra    map[string]any
		f        Filters
		page     int
	}{
		{"7d cumulative", t0.Add(-7 * 24 * time.Hour), t0, nil, Filters{}, 25},
		{"30d daily", t0.Add(-30 * 24 * time.Hour), t0, map[string]any{"AggregationType": "Daily"}, Filters{}, 100},
		{"90d cumulative", t0.Add(-90 * 24 * time.Hour), t0, map[string]any{"AggregationType": "Cumulative"}, Filters{}, 0},
		{"1h", t0.Add(-time.Hour), t0, nil, Filters{}, 10},
		{"window into the future", t0.Add(-time.Hour), t0.Add(time.Hour), nil, Filters{}, 0},
		{"filters", t0.Add(-3 * 24 * time.Hour), t0,
			map[string]any{"ConversationType": "Interactive", "ConversationStatus": "Closed", "includeTaskName": []string{tasks[1].Name, tasks[2].Name}},
			Filters{ConversationType: "Interactive", ConversationStatus: "Closed", IncludeTaskNames: []string{tasks[1].Name, tasks[2].Name}}, 1},
		{"non-interactive daily", t0.Add(-5 * 24 * time.Hour), t0, map[string]any{"ConversationType": "Non-Interactive", "AggregationType": "Daily"},
			Filters{ConversationType: "Non-Interactive"}, 3},
		{"whatsapp channel", t0.Add(-2 * 24 * time.Hour), t0,
			map[string]any{"tags": []map[string]any{{"name": ChannelTag, "values": []string{ChannelWhatsApp}, "type": "session"}}},
			Filters{Channels: []string{ChannelWhatsApp}}, 7},
		{"a tag the sessions lack", t0.Add(-2 * 24 * time.Hour), t0,
			map[string]any{"tags": []map[string]any{{"name": "region", "values": []string{"eu"}}}},
			Filters{Channels: []string{}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, _ := h.fetch(filtersBody(tt.from, tt.to, tt.extra), tt.page)
			rowsEqual(t, "HTTP vs Expected", sumRows(rows), h.s.Expected(testBotID, tt.from, tt.to, tt.f))
		})
	}
	t.Run("date-only window", func(t *testing.T) {
		rows, _ := h.fetch(`{"filters":{"dateFrom":"2025-05-20","dateTo":"2025-05-27"}}`, 0)
		from, to := time.Date(2025, 5, 20, 0, 0, 0, 0, time.UTC), time.Date(2025, 5, 27, 0, 0, 0, 0, time.UTC)
		rowsEqual(t, "HTTP vs Expected", sumRows(rows), h.s.Expected(testBotID, from, to, Filters{}))
	})
}

func TestNoDataAfterNow(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if rows := h.s.Expected(testBotID, t0, t0.Add(time.Hour), Filters{}); len(rows) != 0 {
		t.Fatalf("%d rows in the future", len(rows))
	}
	before := h.s.Expected(testBotID, t0.Add(-time.Hour), t0.Add(time.Hour), Filters{})
	rowsEqual(t, "clamped", before, h.s.Expected(testBotID, t0.Add(-time.Hour), t0, Filters{}))
	h.clock.Advance(time.Hour)
	if after := h.s.Expected(testBotID, t0.Add(-time.Hour), t0.Add(time.Hour), Filters{}); sessions(after) <= sessions(before) {
		t.Fatal("data did not grow with the clock")
	}
}

func TestRealisticData(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tasks := h.s.Tasks(testBotID)
	if len(tasks) != 30 {
		t.Fatalf("%d tasks", len(tasks))
	}
	// Traffic: the busiest hour of a weekday has several times the
	// sessions of the quietest.
	day := time.Date(2025, 5, 28, 0, 0, 0, 0, time.UTC)
	var lo, hi int64 = 1 << 62, 0
	for i := range 24 {
		n := sessions(h.s.Expected(testBotID, day.Add(time.Duration(i)*time.Hour), day.Add(time.Duration(i+1)*time.Hour), Filters{}))
		lo, hi = min(lo, n), max(hi, n)
	}
	if hi < 4*lo || lo == 0 {
		t.Errorf("hourly sessions range %d..%d; want a diurnal curve", lo, hi)
	}
	// Weekends are quieter than weekdays.
	sat := sessions(h.s.Expected(testBotID, time.Date(2025, 5, 31, 0, 0, 0, 0, time.UTC), time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), Filters{}))
	wed := sessions(h.s.Expected(testBotID, day, day.Add(24*time.Hour), Filters{}))
	if sat >= wed {
		t.Errorf("Saturday %d sessions, Wednesday %d", sat, wed)
	}
	// Outcomes: failtask is smaller and drops off more.
	var ok, fail Row
	for _, r := range h.s.Expected(testBotID, t0.Add(-7*24*time.Hour), t0, Filters{}) {
		p := &ok
		if r.Status == "failtask" {
			p = &fail
		}
		p.TotalSession += r.TotalSession
		p.DropOffSessions += r.DropOffSessions
		p.SelfServiceSessions += r.SelfServiceSessions
	}
	okShare := float64(ok.SelfServiceSessions) / float64(ok.TotalSession)
	okDrop := float64(ok.DropOffSessions) / float64(ok.TotalSession)
	failDrop := float64(fail.DropOffSessions) / float64(fail.TotalSession)
	if fail.TotalSession*3 > ok.TotalSession || failDrop <= okDrop || okShare < 0.5 || okShare > 0.95 {
		t.Errorf("success %+v, failtask %+v: self-service %.2f, drop-off %.2f vs %.2f", ok, fail, okShare, okDrop, failDrop)
	}
	for _, task := range tasks {
		if task.Name == "" || (task.Type != TypeDialog && task.Type != TypeAlert && task.Type != TypeFAQ) {
			t.Errorf("task %+v", task)
		}
	}
}

func TestDeterminism(t *testing.T) {
	t.Parallel()
	a, b := newHarness(t), newHarness(t)
	from, to := t0.Add(-24*time.Hour), t0
	rowsEqual(t, "same seed", a.s.Expected(testBotID, from, to, Filters{}), b.s.Expected(testBotID, from, to, Filters{}))

	// Bots without a Seed derive one from the server seed and their id.
	names := func(seed int64, id string) string {
		s := NewInMemory(WithSeed(seed))
		defer s.Close()
		s.AddBot(Bot{ID: id})
		var n []string
		for _, task := range s.Tasks(id) {
			n = append(n, task.Name)
		}
		return strings.Join(n, "|")
	}
	if first, again := names(1, "st-a"), names(1, "st-a"); first != again {
		t.Error("same seed, different tasks")
	}
	if names(1, "st-a") == names(2, "st-a") || names(1, "st-a") == names(1, "st-b") {
		t.Error("different seeds or bots, same tasks")
	}
	counts := map[int]bool{}
	for i := range 20 {
		s := NewInMemory(WithSeed(int64(i)))
		s.AddBot(Bot{ID: "st-x"})
		n := len(s.Tasks("st-x"))
		if n < 20 || n > 60 {
			t.Errorf("seed %d: %d tasks", i, n)
		}
		counts[n] = true
		s.Close()
	}
	if len(counts) < 5 {
		t.Errorf("task counts barely vary: %v", counts)
	}
	s := NewInMemory()
	s.AddBot(Bot{ID: "st-max", Tasks: 60})
	if n := len(s.Tasks("st-max")); n != 60 {
		t.Errorf("Tasks: 60 gave %d", n)
	}
	s.Close()
}

func TestSurge(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	task := h.s.Tasks(testBotID)[0].Name
	start := t0.Add(-6 * time.Hour)
	before := h.s.Expected(testBotID, start.Add(-3*time.Hour), start, Filters{})
	during := func() []Row { return h.s.Expected(testBotID, t0.Add(-3*time.Hour), t0, Filters{}) }
	calm := during()
	h.s.SetDropOffSurge(testBotID, "", start, 0.1)
	surged := during()
	rowsEqual(t, "before the surge", h.s.Expected(testBotID, start.Add(-3*time.Hour), start, Filters{}), before)

	share := func(rows []Row, name, status string) (float64, Row) {
		for _, r := range rows {
			if r.TaskName == name && r.Status == status {
				return float64(r.DropOffSessions) / float64(r.TotalSession), r
			}
		}
		t.Fatalf("no %s %s row", name, status)
		return 0, Row{}
	}
	c, cr := share(calm, task, "success")
	s, sr := share(surged, task, "success")
	if s < c+0.25 || s > surgeCap+0.01 {
		t.Fatalf("drop-off share %.2f → %.2f; want a steep rise", c, s)
	}
	// Self-service and drop-off are each floored from their expected
	// counts, so the moved fraction of a session may round into both: the
	// total may differ by one.
	if d := sr.TotalSession - cr.TotalSession; d < -1 || d > 1 || sr.AgentTransferSessions != cr.AgentTransferSessions || sr.SelfServiceSessions >= cr.SelfServiceSessions {
		t.Fatalf("surge must only move self-service to drop-off: %+v → %+v", cr, sr)
	}
	// Other tasks are untouched.
	for i := range calm {
		if calm[i].TaskName != task && calm[i] != surged[i] {
			t.Fatalf("task %q changed: %+v → %+v", calm[i].TaskName, calm[i], surged[i])
		}
	}
	// Capped after long enough.
	late := h.s.Expected(testBotID, t0.Add(-time.Hour), t0, Filters{IncludeTaskNames: []string{task}})
	h.clock.Advance(48 * time.Hour)
	late2 := h.s.Expected(testBotID, t0.Add(47*time.Hour), t0.Add(48*time.Hour), Filters{IncludeTaskNames: []string{task}})
	// The surge moves self-service sessions only: the cap, or all but the
	// agent transfers, whichever is lower.
	l, lr := share(late2, task, "success")
	if capped := min(surgeCap, 1-float64(lr.AgentTransferSessions)/float64(lr.TotalSession)); l > surgeCap+0.01 || l < capped-0.02 {
		t.Fatalf("late drop-off share %.2f; want near %.2f", l, capped)
	}
	// Still additive.
	var sum []Row
	for i := range 12 {
		from := t0.Add(-9*time.Hour + time.Duration(i)*30*time.Minute)
		sum = addRows(sum, h.s.Expected(testBotID, from, from.Add(30*time.Minute), Filters{}))
	}
	rowsEqual(t, "additive with surge", sum, h.s.Expected(testBotID, t0.Add(-9*time.Hour), t0.Add(-3*time.Hour), Filters{}))
	// Ending it restores the calm data.
	h.s.SetDropOffSurge(testBotID, task, start, 0)
	rowsEqual(t, "surge ended", h.s.Expected(testBotID, t0.Add(-3*time.Hour), t0, Filters{}), calm)
	_ = late
}

func TestDemoBots(t *testing.T) {
	t.Parallel()
	bots := DemoBots(10, 7)
	again := DemoBots(10, 7)
	st := regexp.MustCompile(`^st-` + uuidRE + `$`)
	cs := regexp.MustCompile(`^cs-` + uuidRE + `$`)
	secret := regexp.MustCompile(`^[A-Za-z0-9+/]{43}=$`)
	ids, names := map[string]bool{}, map[string]bool{}
	s := NewServer(WithJobDuration(0))
	defer s.Close()
	for i, b := range bots {
		if b != again[i] {
			t.Fatalf("bot %d differs between calls", i)
		}
		if !st.MatchString(b.ID) || !cs.MatchString(b.ClientID) || !secret.MatchString(b.ClientSecret) || b.Name == "" {
			t.Fatalf("bot %d: %+v", i, b)
		}
		if ids[b.ID] || names[b.Name] {
			t.Fatalf("bot %d repeats an id or name: %+v", i, b)
		}
		ids[b.ID], names[b.Name] = true, true
		s.AddBot(b)
	}
	// Different domains, different task names.
	if a, b := s.Tasks(bots[0].ID), s.Tasks(bots[1].ID); a[0].Name == b[0].Name {
		t.Error("two demo bots share their first task")
	}
	// A demo bot works end to end over the loopback listener.
	b := bots[3]
	req, _ := http.NewRequest(http.MethodPost, s.URL+pathSubmit(b.ID), strings.NewReader(`{"filters":{}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("auth", sign(t, map[string]any{"appId": b.ClientID, "sub": "demo"}, b.ClientSecret))
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Fatalf("HTTP %d at %s", resp.StatusCode, s.URL)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithRateLimits(0, 0), WithJobDuration(0))
	done := make(chan struct{})
	for i := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for j := range 10 {
				switch (i + j) % 4 {
				case 0:
					h.s.SetFault(testBotID, Fault{})
				case 1:
					h.s.SetDropOffSurge(testBotID, "", t0.Add(-time.Hour), 0.2)
				case 2:
					h.s.Expected(testBotID, t0.Add(-time.Hour), t0, Filters{})
				case 3:
					code, _, _ := h.do(http.MethodPost, pathSubmit(testBotID), "", h.token())
					if code != 200 {
						t.Errorf("HTTP %d", code)
					}
				}
				h.s.Stats(testBotID)
			}
		}()
	}
	for range 8 {
		<-done
	}
	h.s.AddBot(Bot{ID: "st-late", Tasks: 20})
	if len(h.s.Tasks("st-late")) != 20 {
		t.Fatal("bot added at run time")
	}
}
