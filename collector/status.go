package collector

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"time"
)

// StatusHandler serves the status page: one row per bot × window with the
// last run, its duration, rows, last error (secrets redacted) and next run.
// With ?format=json, or Accept: application/json, it answers JSON. The
// page links metricsPath, the telemetry path.
func StatusHandler(s *Scheduler, metricsPath string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		jobs := s.Status()
		if r.URL.Query().Get("format") == "json" || r.Header.Get("Accept") == "application/json" {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(statusJSON(jobs))
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = statusTemplate.Execute(w, struct {
			Now         time.Time
			MetricsPath string
			Jobs        []JobRecord
		}{time.Now().UTC(), metricsPath, jobs})
	})
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
<table>
<tr><th>Bot</th><th>Bot ID</th><th>Window</th><th>Interval</th><th>Last run</th><th>Duration</th><th>Result</th><th>Rows</th><th>Data window</th><th>Last success</th><th>Next run</th><th>Skipped</th><th>Last error</th></tr>
{{range .Jobs}}<tr>
<td>{{.Bot}}</td><td>{{.BotID}}</td><td>{{.Window}}</td><td>{{dur .Interval}}</td>
<td>{{if .Running}}running (started {{time .LastRun}}){{else}}{{time .LastRun}}{{end}}</td>
<td>{{if .Attempted}}{{dur .LastDuration}}{{end}}</td>
<td class="{{if eq .LastResult "success"}}success{{else}}fail{{end}}">{{.LastResult}}</td>
<td>{{.Rows}}</td>
<td>{{if not .WindowTo.IsZero}}{{time .WindowFrom}} – {{time .WindowTo}}{{end}}</td>
<td>{{time .LastSuccess}}</td><td>{{time .NextRun}}</td><td>{{.Skipped}}</td>
<td class="err">{{.LastError}}</td>
</tr>{{else}}<tr><td colspan="13">No jobs configured.</td></tr>{{end}}
</table></body></html>
`))
