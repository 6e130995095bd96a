package collector

import (
	"context"
	"encoding/json"
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
