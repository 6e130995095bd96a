package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

func TestStatusHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		row := kore.TaskRow{TaskName: "FAQ", TaskType: "faq", Status: "success", TotalSession: 2, SelfServiceSessions: 2, TotalExecution: 2}
		good := &fakeRunner{run: func(context.Context, int, kore.ReportRequest) (*kore.Report, error) { return rowsReport(row), nil }}
		bad := &fakeRunner{run: func(context.Context, int, kore.ReportRequest) (*kore.Report, error) {
			return nil, &kore.APIError{StatusCode: 400, Method: "POST", Path: "/api/public/bot/st-b/taskContainmentReport", Message: "<script>alert(1)</script> secret s3cr3t-canary-b"}
		}}
		h := newHarness(t, map[string]*fakeRunner{"a": good, "b": bad})
		h.runFor(t, &config.Config{Bots: []config.Bot{testBot("a", "1h"), testBot("b", "24h")}, Limits: config.Limits{MaxConcurrentJobs: 2}}, 2*time.Second)
		handler := StatusHandler(h.sched, "/kore/metrics")

		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/status", nil))
		page := rec.Body.String()
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("HTML status: %d %s", rec.Code, rec.Header().Get("Content-Type"))
		}
		for _, want := range []string{`<a href="/kore/metrics">metrics</a>`, "<td>a</td>", "<td>st-a</td>", "<td>1h</td>", "success", "api_error", "&lt;script&gt;"} {
			if !strings.Contains(page, want) {
				t.Errorf("status page lacks %q", want)
			}
		}
		if strings.Contains(page, "<script>") {
			t.Error("status page does not escape an error message from the API")
		}
		if strings.Contains(page, "s3cr3t-canary-b") {
			t.Error("status page shows a client secret")
		}

		rec = httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/status?format=json", nil))
		var jobs []jobJSON
		if err := json.Unmarshal(rec.Body.Bytes(), &jobs); err != nil {
			t.Fatalf("JSON status: %v", err)
		}
		if len(jobs) != 2 || jobs[0].Bot != "a" || jobs[0].Rows != 1 || jobs[0].LastResult != report.ResultSuccess ||
			jobs[0].WindowTo == nil || jobs[0].WindowTo.Sub(*jobs[0].WindowFrom) != time.Hour {
			t.Errorf("JSON status = %+v", jobs)
		}
		if jobs[1].LastError == "" || strings.Contains(jobs[1].LastError, "s3cr3t-canary-b") {
			t.Errorf("JSON last error = %q: want the error, secrets redacted", jobs[1].LastError)
		}

		rec = httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/status", nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST /status = %d, want 405", rec.Code)
		}
	})
}

// schedulerWithJobs returns a Scheduler that runs nothing and holds the
// records of n jobs: bots of 15 windows each (bot-0000 × 1h … 15h, …),
// every tenth job's last run failed with an API error.
func schedulerWithJobs(n int) *Scheduler {
	s := &Scheduler{jobs: map[jobKey]*jobRun{}}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		k := jobKey{fmt.Sprintf("bot-%04d", i/15), fmt.Sprintf("%dh", i%15+1)}
		st := &JobRecord{
			Bot: k.bot, BotID: fmt.Sprintf("st-%08x-0000-4000-8000-%012x", i/15, i/15), Window: k.window,
			Interval: 5 * time.Minute, Attempted: true, LastRun: at, LastDuration: 3 * time.Second,
			LastResult: report.ResultSuccess, LastSuccess: at, WindowFrom: at.Add(-time.Hour), WindowTo: at,
			Rows: 40, NextRun: at.Add(5 * time.Minute),
		}
		if i%10 == 0 {
			st.LastResult = "api_error"
			st.LastError = "POST /api/public/bot/" + st.BotID + "/taskContainmentReport: HTTP 400: the report request was refused"
		}
		s.jobs[k] = &jobRun{status: st}
		s.order = append(s.order, k)
	}
	return s
}

// getStatus asks h for target and returns the answer.
func getStatus(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

// statusJobs decodes a JSON answer of /status.
func statusJobs(t *testing.T, rec *httptest.ResponseRecorder) []jobJSON {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
	}
	var jobs []jobJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &jobs); err != nil {
		t.Fatalf("JSON status: %v", err)
	}
	return jobs
}

// TestStatusPages: at 15,000 jobs, /status lists at most MaxStatusJobs of
// them in HTML or JSON, with the counts of all of them, the number
// matching (X-Total-Count) and the link to the next page; ?bot=, ?result=,
// ?limit= and ?offset= select the jobs, and the pages together list
// every job once.
func TestStatusPages(t *testing.T) {
	const n = 15000
	h := StatusHandler(schedulerWithJobs(n), "/metrics")

	rec := getStatus(t, h, "/status?format=json")
	jobs := statusJobs(t, rec)
	if len(jobs) != MaxStatusJobs || rec.Header().Get("X-Total-Count") != "15000" ||
		rec.Header().Get("Link") != `<?format=json&offset=1000>; rel="next"` {
		t.Errorf("JSON: %d jobs, X-Total-Count %q, Link %q; want %d, 15000 and the next page",
			len(jobs), rec.Header().Get("X-Total-Count"), rec.Header().Get("Link"), MaxStatusJobs)
	}
	if size := rec.Body.Len(); size > 1<<20 {
		t.Errorf("JSON answer of %d bytes, want a page of 1 MiB at most", size)
	}

	rec = getStatus(t, h, "/status")
	page := rec.Body.String()
	if rows := strings.Count(page, "<tr>\n<td>"); rows != MaxStatusJobs {
		t.Errorf("HTML: %d job rows, want %d", rows, MaxStatusJobs)
	}
	for _, want := range []string{"15000 jobs: 13500 succeeded, <a href=\"?result=failed\">1500 failed</a>, 0 not run yet; 0 running.",
		"Jobs 1 to 1000 of 15000", `<a href="?offset=1000">next</a>`} {
		if !strings.Contains(page, want) {
			t.Errorf("HTML page lacks %q", want)
		}
	}
	if cl := rec.Header().Get("Content-Length"); cl != fmt.Sprint(len(page)) || len(page) > 1<<20 {
		t.Errorf("HTML: Content-Length %s, %d bytes; want the length, at most 1 MiB", cl, len(page))
	}

	for _, tc := range []struct {
		target string
		jobs   int
		total  string
		link   string
	}{
		{"/status?format=json&bot=bot-0003", 15, "15", ""},
		{"/status?format=json&result=failed", 1000, "1500", `<?format=json&offset=1000&result=failed>; rel="next"`},
		{"/status?format=json&result=api_error&limit=10", 10, "1500", `<?format=json&limit=10&offset=10&result=api_error>; rel="next"`},
		{"/status?format=json&limit=10&offset=14995", 5, "15000", ""},
		{"/status?format=json&offset=20000", 0, "15000", ""},
		{"/status?format=json&limit=20000", MaxStatusJobs, "15000", `<?format=json&offset=1000>; rel="next"`},
		{"/status?format=json&bot=nobody", 0, "0", ""},
	} {
		rec := getStatus(t, h, tc.target)
		got := statusJobs(t, rec)
		if len(got) != tc.jobs || rec.Header().Get("X-Total-Count") != tc.total || rec.Header().Get("Link") != tc.link {
			t.Errorf("%s: %d jobs, X-Total-Count %q, Link %q; want %d, %q, %q", tc.target, len(got),
				rec.Header().Get("X-Total-Count"), rec.Header().Get("Link"), tc.jobs, tc.total, tc.link)
		}
		for _, j := range got {
			if strings.Contains(tc.target, "bot=bot-0003") && j.Bot != "bot-0003" ||
				strings.Contains(tc.target, "result=") && j.LastResult != "api_error" {
				t.Errorf("%s: job %s × %s (%s) does not match", tc.target, j.Bot, j.Window, j.LastResult)
			}
		}
	}
	for _, target := range []string{"/status?limit=0", "/status?limit=x", "/status?offset=-1", "/status?format=json&offset=1e3"} {
		if rec := getStatus(t, h, target); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d, want 400", target, rec.Code)
		}
	}

	// The pages, followed by their links, list every job once.
	seen := map[[2]string]bool{}
	pages := 0
	for target := "/status?format=json&limit=700"; target != ""; pages++ {
		rec := getStatus(t, h, target)
		for _, j := range statusJobs(t, rec) {
			k := [2]string{j.Bot, j.Window}
			if seen[k] {
				t.Fatalf("page %d (%s) lists %v again", pages, target, k)
			}
			seen[k] = true
		}
		target = ""
		if l := rec.Header().Get("Link"); l != "" {
			target = "/status" + strings.TrimSuffix(strings.TrimPrefix(l, "<"), `>; rel="next"`)
		}
	}
	if len(seen) != n || pages != 22 {
		t.Errorf("the pages of 700 list %d jobs in %d pages, want %d in 22", len(seen), pages, n)
	}
}
