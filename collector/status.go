package collector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/kore-exporter/kore_exporter/collector/report"
)

// MaxStatusJobs is the most jobs one /status answer lists, HTML or JSON:
// the default and the maximum of ?limit. An exporter of 1,000 bots has
// 15,000 jobs or more, whose JSON alone is megabytes; one page of 1,000
// is a few hundred kilobytes, rendered into a buffer that is written
// with its Content-Length under the write deadline.
const MaxStatusJobs = 1000

// ResultFailed is the ?result= filter of /status that matches every job
// whose last run failed, whatever its error class.
const ResultFailed = "failed"

// StatusHandler serves the status page: one row per bot × window with the
// last run, its duration, rows, last error (secrets redacted) and next run.
// With ?format=json, or Accept: application/json, it answers JSON: an
// array of the jobs. The page links metricsPath, the telemetry path.
//
// An answer lists at most MaxStatusJobs jobs (?limit lowers it; more is
// taken as the maximum) from ?offset (0 by default), of those matching
// the filters ?bot= (a configured bot name) and ?result= (a result such as
// success or an error class, or ResultFailed for every failed last run).
// Both formats send X-Total-Count, the number of matching jobs, and, when
// there are more, a Link header to the next page (rel="next"); the HTML
// page begins with the counts of all jobs by outcome. A malformed limit
// or offset is answered 400.
func StatusHandler(s *Scheduler, metricsPath string) http.Handler {
	return statusHandler(s.Status, metricsPath)
}

// statusHandler is StatusHandler over the jobs that status returns.
func statusHandler(status func() []JobRecord, metricsPath string) http.Handler {
	buffers := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	// One answer is rendered at a time: rendering is CPU-bound, and each
	// takes a transient copy of every job's record (megabytes at 15,000
	// jobs), which renders at once would multiply.
	rendering := make(chan struct{}, 1)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		q, err := parseStatusQuery(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case rendering <- struct{}{}:
		case <-r.Context().Done():
			return // the client has gone
		}
		buf := buffers.Get().(*bytes.Buffer)
		buf.Reset()
		defer func() {
			if buf.Cap() <= maxPooledBuffer {
				buffers.Put(buf)
			}
		}()
		page, err := q.render(buf, status(), metricsPath)
		<-rendering
		if err != nil {
			http.Error(w, "error rendering the status: "+err.Error(), http.StatusInternalServerError)
			return
		}
		hdr := w.Header()
		if q.json {
			hdr.Set("Content-Type", "application/json")
		} else {
			hdr.Set("Content-Type", "text/html; charset=utf-8")
		}
		hdr.Set("X-Total-Count", strconv.Itoa(page.Matching))
		if page.Next != "" {
			hdr.Set("Link", "<"+page.Next+`>; rel="next"`)
		}
		hdr.Set("Content-Length", strconv.Itoa(buf.Len()))
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusOK)
			return
		}
		_, _ = w.Write(buf.Bytes())
	})
}

// render renders into buf the page of jobs that q asks for, and returns
// the page.
func (q statusQuery) render(buf *bytes.Buffer, jobs []JobRecord, metricsPath string) (statusPage, error) {
	page := q.page(jobs)
	if q.json {
		enc := json.NewEncoder(buf)
		enc.SetIndent("", "  ")
		return page, enc.Encode(statusJSON(page.jobs))
	}
	return page, statusTemplate.Execute(buf, struct {
		Now         time.Time
		MetricsPath string
		MaxJobs     int
		Page        statusPage
	}{time.Now().UTC(), metricsPath, MaxStatusJobs, page})
}

// statusQuery is what a /status request asks for.
type statusQuery struct {
	json          bool
	bot, result   string
	limit, offset int
}

func parseStatusQuery(r *http.Request) (statusQuery, error) {
	v := r.URL.Query()
	q := statusQuery{
		json: v.Get("format") == "json" || r.Header.Get("Accept") == "application/json",
		bot:  v.Get("bot"), result: v.Get("result"), limit: MaxStatusJobs,
	}
	for _, p := range []struct {
		name string
		dst  *int
		min  int
	}{{"limit", &q.limit, 1}, {"offset", &q.offset, 0}} {
		s := v.Get(p.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < p.min {
			return q, fmt.Errorf("%s: want an integer of at least %d, not %q", p.name, p.min, s)
		}
		*p.dst = n
	}
	q.limit = min(q.limit, MaxStatusJobs)
	return q, nil
}

func (q statusQuery) matches(j *JobRecord) bool {
	switch {
	case q.bot != "" && j.Bot != q.bot:
		return false
	case q.result == ResultFailed:
		return j.Attempted && j.LastResult != report.ResultSuccess
	case q.result != "":
		return j.LastResult == q.result
	}
	return true
}

// statusPage is one page of /status: the counts of every job, and the
// matching jobs of the page.
type statusPage struct {
	// Total, Succeeded, Failed, NotRun, Running count every job: all,
	// those whose last run succeeded or failed, those not run yet, and
	// those running now.
	Total, Succeeded, Failed, NotRun, Running int
	// Matching counts the jobs the filters match; jobs are those of the
	// page, the From-th (from 1) to the To-th of them.
	Matching, From, To int
	jobs               []JobRecord
	// Filtered tells whether a filter is set; Prev and Next are the
	// links of the neighbour pages, empty if there is none.
	Filtered   bool
	Prev, Next string
}

// Jobs returns the jobs of the page.
func (p statusPage) Jobs() []JobRecord { return p.jobs }

// page filters jobs in place and returns the page q asks for.
func (q statusQuery) page(jobs []JobRecord) statusPage {
	p := statusPage{Total: len(jobs), Filtered: q.bot != "" || q.result != ""}
	matching := jobs[:0]
	for i := range jobs {
		j := &jobs[i]
		switch {
		case !j.Attempted:
			p.NotRun++
		case j.LastResult == report.ResultSuccess:
			p.Succeeded++
		default:
			p.Failed++
		}
		if j.Running {
			p.Running++
		}
		if q.matches(j) {
			matching = append(matching, *j)
		}
	}
	p.Matching = len(matching)
	from := min(q.offset, len(matching))
	to := min(from+q.limit, len(matching))
	p.jobs = matching[from:to]
	if len(p.jobs) > 0 {
		p.From, p.To = from+1, to
	}
	if to < len(matching) {
		p.Next = q.link(to)
	}
	if from > 0 {
		p.Prev = q.link(max(0, from-q.limit))
	}
	return p
}

// link returns the relative URL of the page at offset, with q's format,
// filters and limit.
func (q statusQuery) link(offset int) string {
	v := url.Values{}
	if q.json {
		v.Set("format", "json")
	}
	if q.bot != "" {
		v.Set("bot", q.bot)
	}
	if q.result != "" {
		v.Set("result", q.result)
	}
	if q.limit != MaxStatusJobs {
		v.Set("limit", strconv.Itoa(q.limit))
	}
	if offset > 0 {
		v.Set("offset", strconv.Itoa(offset))
	}
	return "?" + v.Encode()
}

// ReadyHandler serves /-/ready: 200 once every job of the applied
// configuration has been attempted, 503 before.
func ReadyHandler(s *Scheduler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !s.Ready() {
			http.Error(w, "Not ready: not every report job has run yet.", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready.")
	})
}

// ReloadHandler serves /-/reload: with enabled (--web.enable-lifecycle),
// a POST or PUT calls reload and answers its error, if any, with 500;
// without it every request is refused with 403.
func ReloadHandler(enabled bool, reload func() error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case !enabled:
			http.Error(w, "Lifecycle API is not enabled (--web.enable-lifecycle).", http.StatusForbidden)
		case r.Method != http.MethodPost && r.Method != http.MethodPut:
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "Only POST or PUT requests allowed.", http.StatusMethodNotAllowed)
		default:
			if err := reload(); err != nil {
				http.Error(w, fmt.Sprintf("failed to reload config: %s", err), http.StatusInternalServerError)
				return
			}
			fmt.Fprintln(w, "Reloaded.")
		}
	})
}

type jobJSON struct {
	Bot             string     `json:"bot"`
	BotID           string     `json:"bot_id"`
	Window          string     `json:"window"`
	IntervalSeconds float64    `json:"interval_seconds"`
	Running         bool       `json:"running"`
	LastRun         *time.Time `json:"last_run,omitempty"`
	LastDurationSec float64    `json:"last_duration_seconds"`
	LastResult      string     `json:"last_result,omitempty"`
	LastError       string     `json:"last_error,omitempty"`
	LastSuccess     *time.Time `json:"last_success,omitempty"`
	WindowFrom      *time.Time `json:"window_from,omitempty"`
	WindowTo        *time.Time `json:"window_to,omitempty"`
	Rows            int        `json:"rows"`
	NextRun         *time.Time `json:"next_run,omitempty"`
	SkippedRuns     int        `json:"skipped_runs"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func statusJSON(jobs []JobRecord) []jobJSON {
	out := make([]jobJSON, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, jobJSON{
			Bot: j.Bot, BotID: j.BotID, Window: j.Window, IntervalSeconds: j.Interval.Seconds(),
			Running: j.Running, LastRun: optTime(j.LastRun), LastDurationSec: j.LastDuration.Seconds(),
			LastResult: j.LastResult, LastError: j.LastError, LastSuccess: optTime(j.LastSuccess),
			WindowFrom: optTime(j.WindowFrom), WindowTo: optTime(j.WindowTo), Rows: j.Rows,
			NextRun: optTime(j.NextRun), SkippedRuns: j.Skipped,
		})
	}
	return out
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

var statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"time": fmtTime,
	"dur":  func(d time.Duration) string { return d.Round(time.Millisecond).String() },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>kore_exporter status</title>
<style>
body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#eee}.success{color:#176f2c}.fail{color:#b00020}.err{font-family:monospace;max-width:40em;word-break:break-word}
</style></head><body>
<h1>kore_exporter status</h1>
<p>Report jobs per bot and window, as of {{time .Now}}. <a href="?format=json">JSON</a> · <a href="{{.MetricsPath}}">metrics</a></p>
{{with .Page}}<p>{{.Total}} jobs: {{.Succeeded}} succeeded, <a href="?result=failed">{{.Failed}} failed</a>, {{.NotRun}} not run yet; {{.Running}} running.
{{if .Filtered}}{{.Matching}} match the filters (<a href="?">all jobs</a>).{{end}}
{{if .Jobs}}Jobs {{.From}} to {{.To}} of {{.Matching}}{{if .Prev}} · <a href="{{.Prev}}">previous</a>{{end}}{{if .Next}} · <a href="{{.Next}}">next</a>{{end}}.{{end}}
At most {{$.MaxJobs}} jobs a page: narrow with ?bot=NAME or ?result=failed (or a result class), page with ?offset=N, ?limit=N.</p>{{end}}
<table>
<tr><th>Bot</th><th>Bot ID</th><th>Window</th><th>Interval</th><th>Last run</th><th>Duration</th><th>Result</th><th>Rows</th><th>Data window</th><th>Last success</th><th>Next run</th><th>Skipped</th><th>Last error</th></tr>
{{range .Page.Jobs}}<tr>
<td>{{.Bot}}</td><td>{{.BotID}}</td><td>{{.Window}}</td><td>{{dur .Interval}}</td>
<td>{{if .Running}}running (started {{time .LastRun}}){{else}}{{time .LastRun}}{{end}}</td>
<td>{{if .Attempted}}{{dur .LastDuration}}{{end}}</td>
<td class="{{if eq .LastResult "success"}}success{{else}}fail{{end}}">{{.LastResult}}</td>
<td>{{.Rows}}</td>
<td>{{if not .WindowTo.IsZero}}{{time .WindowFrom}} – {{time .WindowTo}}{{end}}</td>
<td>{{time .LastSuccess}}</td><td>{{time .NextRun}}</td><td>{{.Skipped}}</td>
<td class="err">{{.LastError}}</td>
</tr>{{else}}<tr><td colspan="13">{{if .Page.Total}}No jobs match.{{else}}No jobs configured.{{end}}</td></tr>{{end}}
</table></body></html>
`))
