package koretest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	uuidRE = `[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`
	jobID  = regexp.MustCompile(`^ds-` + uuidRE + `$`)
	userID = regexp.MustCompile(`^u-` + uuidRE + `$`)
	tsRE   = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

func TestSubmitEnvelope(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	code, _, b := h.do(http.MethodPost, pathSubmit(testBotID), filtersBody(t0.Add(-24*time.Hour), t0, nil), h.token())
	if code != 200 {
		t.Fatalf("HTTP %d %s", code, b)
	}
	var env map[string]any
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	want := []string{"status", "percentageComplete", "streamId", "jobType", "action", "countOfDockStatuses",
		"createdBy", "expireAt", "statusLogs", "_id", "lMod", "createdOn", "requestedTime", "__v"}
	var got []string
	for k := range env {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("fields %v, want %v", got, want)
	}
	checks := []struct {
		field string
		ok    bool
	}{
		{"status", env["status"] == "IN_PROGRESS"},
		{"percentageComplete", env["percentageComplete"] == float64(0)},
		{"streamId", env["streamId"] == testBotID},
		{"jobType", env["jobType"] == "TASK_EXECUTION_CONTAINMENT_REPORT"},
		{"action", env["action"] == "QUERY"},
		{"countOfDockStatuses", env["countOfDockStatuses"] == float64(1)},
		{"createdBy", userID.MatchString(fmt.Sprint(env["createdBy"]))},
		{"_id", jobID.MatchString(fmt.Sprint(env["_id"]))},
		{"statusLogs", fmt.Sprint(env["statusLogs"]) == "[]"},
		{"__v", env["__v"] == float64(0)},
		{"createdOn", env["createdOn"] == "2025-06-02T10:05:01.517Z"},
		{"requestedTime", env["requestedTime"] == "2025-06-02T10:05:01.517Z"},
		{"expireAt", env["expireAt"] == "2025-06-02T10:20:01.517Z"},
		{"lMod", tsRE.MatchString(fmt.Sprint(env["lMod"]))},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s = %v", c.field, env[c.field])
		}
	}
	// Each POST is a new job.
	if other := h.submit("", ""); other.ID == env["_id"] {
		t.Error("two POSTs gave the same job id")
	}
}

func TestJobProgressAndExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithJobDuration(10*time.Second), WithJobExpiry(time.Minute))
	job := h.submit(filtersBody(t0.Add(-time.Hour), t0, nil), "")
	var seen []int
	for i := 0; ; i++ {
		code, r := h.poll(job.ID)
		if code != 200 {
			t.Fatalf("poll: HTTP %d", code)
		}
		if r.Status == "SUCCESS" {
			if r.Report == nil || r.Report.Total == 0 || len(r.Report.Data) == 0 {
				t.Fatalf("SUCCESS without report: %+v", r)
			}
			break
		}
		if r.Status != "IN_PROGRESS" || r.ID != job.ID || r.Report != nil {
			t.Fatalf("running answer %+v", r)
		}
		seen = append(seen, r.PercentageComplete)
		if i > 20 {
			t.Fatal("never finished")
		}
		h.clock.Advance(1500 * time.Millisecond)
	}
	// 0, 10 (1.5s), 30 (3s), 40, 60, 70, 90 (9s), then SUCCESS at 10.5s.
	if !slices.IsSorted(seen) || seen[0] != 0 || seen[len(seen)-1] >= 100 || len(slices.Compact(slices.Clone(seen))) < 5 {
		t.Fatalf("progress %v: want steps climbing from 0, below 100", seen)
	}
	for _, p := range seen {
		if p%10 != 0 {
			t.Fatalf("progress %v not in steps of 10", seen)
		}
	}
	// Still there until expireAt, then gone.
	h.clock.Set(t0.Add(time.Minute - time.Millisecond))
	if code, _ := h.poll(job.ID); code != 200 {
		t.Fatalf("before expireAt: HTTP %d", code)
	}
	h.clock.Set(t0.Add(time.Minute))
	code, _, b := h.do(http.MethodGet, pathStatus(testBotID, job.ID), "", h.token())
	if r := decode(t, b); code != 404 || r.Errors[0].Msg != "Request not found" || r.Errors[0].Code != 404 {
		t.Fatalf("at expireAt: HTTP %d %s", code, b)
	}
	if h.s.Stats(testBotID).NotFound != 1 {
		t.Errorf("Stats.NotFound = %d", h.s.Stats(testBotID).NotFound)
	}
}

func TestJobNotFound(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.s.AddBot(Bot{ID: "st-other", ClientID: testClientID, ClientSecret: testSecret, Tasks: 20})
	job := h.submit("", "")
	for _, c := range []struct{ name, bot, id string }{
		{"unknown id", testBotID, "ds-00000000-0000-4000-8000-000000000000"},
		{"another bot's job", "st-other", job.ID},
		{"garbage id", testBotID, "nope"},
	} {
		code, _, b := h.do(http.MethodGet, pathStatus(c.bot, c.id), "", h.token())
		if r := decode(t, b); code != 404 || r.Errors[0].Msg != "Request not found" {
			t.Errorf("%s: HTTP %d %s", c.name, code, b)
		}
	}
}

func TestJobDurationZero(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithJobDuration(0))
	job := h.submit("", "")
	if job.Status != "SUCCESS" || job.PercentageComplete != 100 {
		t.Fatalf("POST answer %+v, want a job already done", job)
	}
	if _, r := h.poll(job.ID); r.Status != "SUCCESS" {
		t.Fatalf("first poll %q", r.Status)
	}
	st := h.s.Stats(testBotID)
	if st.Submits != 1 || st.Polls != 1 || st.Pages != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestReportRows(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rows, total := h.fetch(filtersBody(t0.Add(-7*24*time.Hour), t0, map[string]any{"AggregationType": "Daily"}), 0)
	if total != len(rows) || total == 0 {
		t.Fatalf("total %d, rows %d", total, len(rows))
	}
	types := map[string]bool{}
	for i, r := range rows {
		if r.SelfServiceSessions+r.DropOffSessions+r.AgentTransferSessions != r.TotalSession {
			t.Fatalf("row %d: sessions do not add up: %+v", i, r)
		}
		if r.TotalExecution < r.TotalSession || r.TotalSession < 0 {
			t.Fatalf("row %d: totalExecution < totalSession: %+v", i, r)
		}
		if r.Status != "success" && r.Status != "failtask" {
			t.Fatalf("row %d: Status %q", i, r.Status)
		}
		types[r.TaskType] = true
		for _, p := range []any{r.SelfServicePct, r.DropOffPct, r.AgentTransferPct} {
			switch v := p.(type) {
			case float64:
				if v != float64(int64(v)) {
					t.Fatalf("row %d: fractional percentage as number: %v", i, v)
				}
			case string:
				if !regexp.MustCompile(`^\d{1,3}\.\d\d$`).MatchString(v) || strings.HasSuffix(v, ".00") {
					t.Fatalf("row %d: percentage string %q", i, v)
				}
			default:
				t.Fatalf("row %d: percentage %T", i, p)
			}
		}
		if i > 0 {
			p := rows[i-1]
			if p.DateRange > r.DateRange || p.DateRange == r.DateRange && (p.TaskName > r.TaskName || p.TaskName == r.TaskName && p.Status >= r.Status) {
				t.Fatalf("rows %d, %d out of order: %+v, %+v", i-1, i, p, r)
			}
		}
	}
	for _, typ := range []string{TypeDialog, TypeFAQ, TypeAlert} {
		if !types[typ] {
			t.Errorf("no %s rows", typ)
		}
	}
}

func TestPercent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		part, total int64
		want        any
	}{
		{0, 0, 0}, {0, 9, int64(0)}, {9, 9, int64(100)}, {6, 9, "66.67"}, {2, 9, "22.22"},
		{1, 9, "11.11"}, {1, 3, "33.33"}, {1, 2, int64(50)}, {1, 8, "12.50"}, {1, 200, "0.50"}, {1, 20000, "0.01"},
	}
	for _, tt := range tests {
		if got := percent(tt.part, tt.total); fmt.Sprint(got) != fmt.Sprint(tt.want) || fmt.Sprintf("%T", got) != fmt.Sprintf("%T", tt.want) {
			t.Errorf("percent(%d, %d) = %#v, want %#v", tt.part, tt.total, got, tt.want)
		}
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithRateLimits(0, 0), WithJobDuration(time.Second))
	body := filtersBody(t0.Add(-20*24*time.Hour), t0, map[string]any{"AggregationType": "Daily"})
	all, total := h.fetch(body, 0)
	if total < 500 {
		t.Fatalf("only %d rows; want many pages", total)
	}
	for _, size := range []int{1000, 100, 37, 7} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			rows, tot := h.fetch(body, size)
			if tot != total || len(rows) != len(all) {
				t.Fatalf("pages of %d: total %d rows %d, unpaged total %d rows %d", size, tot, len(rows), total, len(all))
			}
			for i := range rows {
				if rows[i] != all[i] {
					t.Fatalf("row %d: paged %+v, unpaged %+v", i, rows[i], all[i])
				}
			}
		})
	}
	t.Run("skip beyond total", func(t *testing.T) {
		job := h.submit(body, fmt.Sprintf("?skip=%d&limit=10", total+5))
		r := h.await(job.ID)
		if r.Report.Total != total || len(r.Report.Data) != 0 {
			t.Fatalf("total %d, %d buckets", r.Report.Total, len(r.Report.Data))
		}
	})
	t.Run("limit 0 is all", func(t *testing.T) {
		job := h.submit(body, "?limit=0")
		r := h.await(job.ID)
		n := 0
		for _, rows := range r.Report.Data {
			n += len(rows)
		}
		if n != total {
			t.Fatalf("%d rows, want %d", n, total)
		}
	})
}
