package deploy_test

// The end-to-end proof of the rules and dashboards on the real Prometheus:
// from an empty data directory, 8 days of demo history are backfilled with
// the exporter's backfill command and imported with promtool; Prometheus
// starts on them with the shipped scrape config and rules and scrapes the
// exporter in --demo --demo.drop-off-surge. Every rule must be healthy and
// produce series, the rising drop-off alert must fire for the surging task
// and no drop-off alert for the healthy ones, every dashboard query must
// return data over the last day, and the exporter-absent alert must fire
// once the exporter stops.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// tool returns the path of a program the tests run (prometheus, promtool,
// helm): $env, else name on PATH. Without it the test fails under CI=true
// and is skipped otherwise; under -short it is skipped.
func tool(t *testing.T, env, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("starts %s: skipped with -short", name)
	}
	if p := os.Getenv(env); p != "" {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set and %s is not on PATH (.ci/run installs it)", env, name)
	}
	t.Skipf("%s is not set and %s is not on PATH", env, name)
	return ""
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// process is a started command whose output is kept.
type process struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// start starts a command and stops it (SIGTERM, then kill) when the test
// ends.
func start(t *testing.T, name string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(name, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop() })
	return p
}

func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// promAPI queries a Prometheus server's HTTP API.
type promAPI struct {
	base string
	t    *testing.T
}

func (p promAPI) get(path string, q url.Values, v any) error {
	resp, err := http.Get(p.base + path + "?" + q.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: %w: %.200s", path, err, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s %v: %s", path, q, env.Error)
	}
	return json.Unmarshal(env.Data, v)
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

type series struct {
	Metric map[string]string `json:"metric"`
	Values [][2]any          `json:"values"`
}

func (p promAPI) query(expr string, at time.Time) ([]sample, error) {
	var r struct {
		Result []sample `json:"result"`
	}
	err := p.get("/api/v1/query", url.Values{"query": {expr}, "time": {fmt.Sprint(at.Unix())}}, &r)
	return r.Result, err
}

func (p promAPI) queryRange(expr string, from, to time.Time, step time.Duration) ([]series, error) {
	var r struct {
		Result []series `json:"result"`
	}
	err := p.get("/api/v1/query_range", url.Values{"query": {expr}, "start": {fmt.Sprint(from.Unix())},
		"end": {fmt.Sprint(to.Unix())}, "step": {fmt.Sprint(int(step.Seconds()))}}, &r)
	return r.Result, err
}

type alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
	ActiveAt    time.Time         `json:"activeAt"`
}

func (p promAPI) alerts() ([]alert, error) {
	var r struct {
		Alerts []alert `json:"alerts"`
	}
	err := p.get("/api/v1/alerts", nil, &r)
	return r.Alerts, err
}

// eventually polls cond every second until it returns "" or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) {
		if last = cond(); last == "" {
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("%s: not within %s: %s", what, d, last)
}

// shortFor rewrites every alert's `for:` to d in a copy of the rule file:
// the proof checks the expressions on real data within minutes; the `for`
// durations are covered by promtool's unit tests.
var forLine = regexp.MustCompile(`(?m)^(\s+for:\s*)\S+`)

// testRules writes copies of the shipped rule files into dir, evaluated
// every second and with every `for:` at 5s, and returns their paths.
func testRules(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob("prometheus/rules/*.yml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no rule files in prometheus/rules: %v", err)
	}
	var out []string
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s := forLine.ReplaceAllString(string(raw), "${1}5s")
		s = regexp.MustCompile(`(?m)^(\s+interval:\s*)\S+`).ReplaceAllString(s, "${1}1s")
		dst := filepath.Join(dir, filepath.Base(p))
		if err := os.WriteFile(dst, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, dst)
	}
	return out
}

// recordedNames returns the series the rule files record.
func recordedNames(t *testing.T, files []string) []string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\s*-?\s*record:\s*(\S+)`)
	var names []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(raw), -1) {
			names = append(names, m[1])
		}
	}
	return names
}

// TestProofOnRealPrometheus is the proof described at the top of this file.
// With KORE_PROOF_PICTURES set to a directory, it also renders the README's
// pictures there from the proof's Prometheus (see pictures_test.go).
func TestProofOnRealPrometheus(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts the exporter and a real Prometheus: skipped with -short")
	}
	promBin := tool(t, "PROMETHEUS_BIN", "prometheus")
	promtool := tool(t, "PROMTOOL_BIN", "promtool")
	began := time.Now()
	dir := t.TempDir()

	// The exporter, built from this checkout.
	exporter := filepath.Join(dir, "kore_exporter")
	run(t, "..", "go", "build", "-o", exporter, ".")

	// 8 days of demo history, imported into an empty data directory, up to
	// the moment the live exporter starts.
	history := filepath.Join(dir, "history.om")
	end := time.Now().Truncate(time.Hour)
	run(t, dir, exporter, "backfill", "--demo", "--start=-8d", "--end="+end.Format(time.RFC3339), "--step=1h", "--output="+history)
	data := filepath.Join(dir, "data")
	run(t, dir, promtool, "tsdb", "create-blocks-from", "openmetrics", history, data)
	t.Logf("backfilled and imported 8 days in %s", time.Since(began).Round(time.Second))

	// The live exporter, with one task's drop-off surging.
	exporterAddr := freePort(t)
	exp := start(t, exporter, "--demo", "--demo.drop-off-surge", "--web.listen-address="+exporterAddr)
	started := time.Now()
	var surgeBot, surgeTask string
	eventually(t, 30*time.Second, "the demo names its surging task", func() string {
		m := regexp.MustCompile(`msg="demo: drop-off of one task is climbing" bot=(\S+) task="?([^"\n]+)"?`).FindStringSubmatch(exp.output())
		if m == nil {
			return "no such log line yet:\n" + exp.output()
		}
		surgeBot, surgeTask = m[1], strings.TrimSpace(m[2])
		return ""
	})

	// Prometheus with the shipped scrape config (target, intervals made
	// short for the test) and the shipped rules.
	rules := testRules(t, dir)
	scrape, err := os.ReadFile("prometheus/scrape.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(scrape)
	cfg = strings.Replace(cfg, "localhost:10027", exporterAddr, 1)
	cfg = regexp.MustCompile(`(?m)^(\s*(scrape|evaluation)_interval:\s*)\S+`).ReplaceAllString(cfg, "${1}1s")
	cfg = regexp.MustCompile(`(?m)^(\s*scrape_timeout:\s*)\S+`).ReplaceAllString(cfg, "${1}1s")
	for _, r := range rules {
		cfg = strings.Replace(cfg, "rules/"+filepath.Base(r), r, 1)
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := freePort(t)
	prom := start(t, promBin, "--config.file="+cfgPath, "--storage.tsdb.path="+data, "--web.listen-address="+promAddr,
		"--storage.tsdb.retention.time=30d")
	api := promAPI{base: "http://" + promAddr, t: t}
	eventually(t, 60*time.Second, "Prometheus ready", func() string {
		resp, err := http.Get(api.base + "/-/ready")
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return resp.Status + "\n" + prom.output()
		}
		return ""
	})

	// The target is up.
	eventually(t, 60*time.Second, "the exporter's target is up", func() string {
		s, err := api.query(`up{job="kore_exporter"}`, time.Now())
		if err != nil || len(s) != 1 || s[0].Value[1] != "1" {
			return fmt.Sprint(s, err)
		}
		return ""
	})

	// Every rule is healthy, and every recording rule produces series.
	recorded := recordedNames(t, rules)
	eventually(t, 90*time.Second, "every rule healthy and every recording rule producing series", func() string {
		var r struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		}
		if err := api.get("/api/v1/rules", nil, &r); err != nil {
			return err.Error()
		}
		n := 0
		for _, g := range r.Groups {
			for _, rule := range g.Rules {
				n++
				if rule.Health != "ok" {
					return fmt.Sprintf("rule %s/%s: health %q %s", g.Name, rule.Name, rule.Health, rule.LastError)
				}
			}
		}
		if n == 0 {
			return "no rules loaded"
		}
		for _, name := range recorded {
			s, err := api.query(name, time.Now())
			if err != nil || len(s) == 0 {
				return fmt.Sprintf("recording rule %s: no series (%v)", name, err)
			}
		}
		return ""
	})

	// The rising drop-off alert fires for the surging task, and no drop-off
	// alert for any other task.
	var rising alert
	eventually(t, 120*time.Second, "KoreTaskDropOffRising firing for "+surgeTask, func() string {
		as, err := api.alerts()
		if err != nil {
			return err.Error()
		}
		for _, a := range as {
			if a.Labels["alertname"] == "KoreTaskDropOffRising" && a.State == "firing" &&
				a.Labels["bot"] == surgeBot && a.Labels["task_name"] == surgeTask {
				rising = a
				return ""
			}
		}
		return fmt.Sprintf("alerts: %+v", as)
	})
	t.Logf("KoreTaskDropOffRising fired for %s/%s %s after the exporter started: %s",
		surgeBot, surgeTask, rising.ActiveAt.Sub(started).Round(time.Second), rising.Annotations["description"])
	as, err := api.alerts()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if strings.HasPrefix(a.Labels["alertname"], "KoreTaskDropOff") && a.Labels["task_name"] != surgeTask {
			t.Errorf("drop-off alert for a healthy task: %v (%s)", a.Labels, a.State)
		}
	}

	// Every dashboard query returns data over the last day. The demo
	// throttles its third bot 20 s after its start (see demoFaults in
	// main.go): wait for the retries it causes, which the health dashboard
	// shows.
	// The third bot's first request after those 20 s comes with its next
	// run, on its phase of the 1-minute interval: up to about 90 s after
	// the start.
	eventually(t, 150*time.Second, "the demo's throttled requests retried", func() string {
		// Several samples of the new counters, so that increase() has two.
		s, err := api.query(`count_over_time(kore_exporter_api_retries_total{reason="rate_limited"}[1m]) >= 3`, time.Now())
		if err != nil || len(s) == 0 {
			return fmt.Sprint("no rate-limited retries yet ", err)
		}
		return ""
	})
	// Every dashboard query returns data over the last day.
	checkDashboardQueries(t, api, map[string]string{"bot": ".+", "task": regexp.QuoteMeta(surgeTask)})

	if dir := os.Getenv("KORE_PROOF_PICTURES"); dir != "" {
		renderPictures(t, api, dir, surgeBot, surgeTask, started, rising.ActiveAt)
	}

	// The exporter stops: its target goes down and KoreExporterDown fires.
	exp.stop()
	stopped := time.Now()
	eventually(t, 60*time.Second, "KoreExporterDown firing once the exporter stopped", func() string {
		as, err := api.alerts()
		if err != nil {
			return err.Error()
		}
		for _, a := range as {
			if a.Labels["alertname"] == "KoreExporterDown" && a.State == "firing" {
				return ""
			}
		}
		return fmt.Sprintf("alerts: %+v", as)
	})
	t.Logf("KoreExporterDown fired %s after the exporter stopped; the proof took %s",
		time.Since(stopped).Round(time.Second), time.Since(began).Round(time.Second))
}

// checkDashboardQueries runs every panel query of every dashboard over the
// last day, with each variable at its current value, or vars' value for a
// variable without one (the drill-down's task), and fails for a query that
// returns no series.
func checkDashboardQueries(t *testing.T, api promAPI, vars map[string]string) {
	t.Helper()
	for name, raw := range dashboardFiles(t) {
		var d dashJSON
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		values := map[string]string{}
		for _, v := range d.Templating.List {
			values[v.Name] = currentValue(v)
		}
		for k, v := range vars {
			if cur, ok := values[k]; ok && cur == "" {
				values[k] = v
			}
		}
		var panels []panelJSON
		for _, p := range d.Panels {
			panels = append(panels, p)
			panels = append(panels, p.Panels...)
		}
		for _, p := range panels {
			for _, target := range p.Targets {
				var tg struct {
					Expr string `json:"expr"`
				}
				if err := json.Unmarshal(target, &tg); err != nil || tg.Expr == "" {
					continue
				}
				expr := substitute(tg.Expr, values)
				res, err := api.queryRange(expr, time.Now().Add(-24*time.Hour), time.Now(), 5*time.Minute)
				if err == nil && len(res) == 0 {
					// Series that exist only while something happens (a
					// job running, a throttle) may fall between the day's
					// 5-minute steps: look again, second by second, over
					// the last minutes the exporter ran.
					res, err = api.queryRange(expr, time.Now().Add(-3*time.Minute), time.Now(), time.Second)
				}
				if err != nil {
					t.Errorf("%s: panel %q: %v", name, p.Title, err)
				} else if len(res) == 0 {
					t.Errorf("%s: panel %q: no data over the last day for %s", name, p.Title, expr)
				}
			}
		}
	}
}
