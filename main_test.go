package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log/level"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// skipShort skips t under -short (the fast tier: make test-short), saying
// which slow tier it belongs to, e.g. "end-to-end on a real clock".
func skipShort(t *testing.T, tier string) {
	t.Helper()
	if testing.Short() {
		t.Skip(tier + ": skipped with -short")
	}
}

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// exporter is one run() of the real wiring, in-process.
type exporter struct {
	t      *testing.T
	base   string
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan int
}

func startExporter(t *testing.T, args ...string) *exporter {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	e := &exporter{t: t, base: "http://" + addr, logs: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	args = append(args, "--web.listen-address="+addr)
	go func() { e.done <- run(ctx, args, io.Discard, e.logs) }()
	t.Cleanup(e.stop)
	return e
}

func (e *exporter) stop() {
	e.cancel()
	select {
	case code := <-e.done:
		if code != 0 {
			e.t.Errorf("run exited %d; logs:\n%s", code, e.logs.String())
		}
		e.done <- code
	case <-time.After(15 * time.Second):
		e.t.Fatalf("run did not return within 15s of cancellation")
	}
}

func (e *exporter) get(path string) (int, string) {
	e.t.Helper()
	resp, err := http.Get(e.base + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *exporter) waitReady(timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if code, _ := e.get("/-/ready"); code == http.StatusOK {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("not ready within %v; logs:\n%s", timeout, e.logs.String())
}

func (e *exporter) metrics() map[string]*dto.MetricFamily {
	e.t.Helper()
	code, body := e.get("/metrics")
	if code != http.StatusOK {
		e.t.Fatalf("/metrics: HTTP %d: %s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		e.t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

type statusRow struct {
	Bot        string    `json:"bot"`
	BotID      string    `json:"bot_id"`
	Window     string    `json:"window"`
	LastResult string    `json:"last_result"`
	LastError  string    `json:"last_error"`
	WindowFrom time.Time `json:"window_from"`
	WindowTo   time.Time `json:"window_to"`
	Rows       int       `json:"rows"`
}

func (e *exporter) status() []statusRow {
	e.t.Helper()
	code, body := e.get("/status?format=json")
	if code != http.StatusOK {
		e.t.Fatalf("/status: HTTP %d", code)
	}
	var rows []statusRow
	if err := json.Unmarshal([]byte(body), &rows); err != nil {
		e.t.Fatalf("/status JSON: %v", err)
	}
	return rows
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// gauge returns the value of the series of fam with exactly these labels.
func gauge(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	fam, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range fam.GetMetric() {
		got := labelsOf(m)
		if len(got) != len(labels) {
			continue
		}
		match := true
		for k, v := range labels {
			if got[k] != v {
				match = false
				break
			}
		}
		if match {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

const canarySecret = "canary-Zm9vYmFyLXNlY3JldC1kby1ub3QtbGVhaw"

func writeConfig(t *testing.T, dir, host string, bots []koretest.Bot) string {
	t.Helper()
	secretFile := filepath.Join(dir, "b0.secret")
	if err := os.WriteFile(secretFile, []byte(bots[0].ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`defaults:
  host: %s
  allow_insecure_http: true
  interval: 1m
  windows: [1h, 24h]
  timeout: 50s
  page_size: 40  # several pages per report
bots:
  - name: alpha
    bot_id: %s
    client_id: %s
    client_secret_file: b0.secret
  - name: beta
    bot_id: %s
    client_id: %s
    client_secret: %q
    windows: [2h]
limits:
  max_concurrent_jobs: 3
  requests_per_minute_per_bot: 30
`, host, bots[0].ID, bots[0].ClientID, bots[1].ID, bots[1].ClientID, bots[1].ClientSecret)
	path := filepath.Join(dir, "kore.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeCheckableConfig is writeConfig with an interval and page size whose
// plan can be met, so --config.check exits 0.
func writeCheckableConfig(t *testing.T, dir, host string, bots []koretest.Bot) string {
	t.Helper()
	path := writeConfig(t, dir, host, bots)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(data), "interval: 1m", "interval: 15m", 1)
	s = strings.Replace(s, "page_size: 40", "page_size: 500", 1)
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEndToEnd runs the exporter's real wiring against the simulator and
// checks every exported task gauge against the simulator's own totals.
func TestEndToEnd(t *testing.T) {
	skipShort(t, "end-to-end on a real clock")
	sim := koretest.NewServer(koretest.WithJobDuration(500 * time.Millisecond))
	defer sim.Close()
	bots := koretest.DemoBots(2, 7)
	bots[1].ClientSecret = canarySecret
	for _, b := range bots {
		sim.AddBot(b)
	}
	dir := t.TempDir()
	path := writeConfig(t, dir, sim.URL, bots)

	e := startExporter(t, "--config.file="+path, "--web.enable-lifecycle", "--log.level=debug")
	e.waitReady(60 * time.Second)

	fams := e.metrics()
	st := e.status()
	if len(st) != 3 {
		t.Fatalf("status has %d jobs, want 3 (alpha 1h, alpha 24h, beta 2h): %+v", len(st), st)
	}
	checked := 0
	for _, j := range st {
		if j.LastResult != "success" {
			t.Fatalf("job %s/%s: result %q, error %q", j.Bot, j.Window, j.LastResult, j.LastError)
		}
		want := sim.Expected(j.BotID, j.WindowFrom, j.WindowTo, koretest.Filters{})
		if len(want) == 0 {
			t.Fatalf("simulator has no rows for %s %s", j.Bot, j.Window)
		}
		if j.Rows != len(want) {
			t.Errorf("%s/%s: status rows = %d, want %d", j.Bot, j.Window, j.Rows, len(want))
		}
		for _, r := range want {
			l := map[string]string{"bot": j.Bot, "window": j.Window, "task_name": r.TaskName, "task_type": r.TaskType, "status": r.Status}
			for name, v := range map[string]int64{
				"kore_task_executions":              r.TotalExecution,
				"kore_task_sessions":                r.TotalSession,
				"kore_task_self_service_sessions":   r.SelfServiceSessions,
				"kore_task_drop_off_sessions":       r.DropOffSessions,
				"kore_task_agent_transfer_sessions": r.AgentTransferSessions,
			} {
				got, ok := gauge(fams, name, l)
				if !ok {
					t.Errorf("%s%v missing", name, l)
					continue
				}
				if got != float64(v) {
					t.Errorf("%s%v = %v, want %d (simulator)", name, l, got, v)
				}
				checked++
			}
		}
		// No series beyond the simulator's rows.
		n := 0
		for _, m := range fams["kore_task_sessions"].GetMetric() {
			if l := labelsOf(m); l["bot"] == j.Bot && l["window"] == j.Window {
				n++
			}
		}
		if n != len(want) {
			t.Errorf("%s/%s: %d kore_task_sessions series, want %d", j.Bot, j.Window, n, len(want))
		}
	}
	t.Logf("checked %d sample values against the simulator", checked)
	for _, b := range []struct{ name, id string }{{"alpha", bots[0].ID}, {"beta", bots[1].ID}} {
		if v, ok := gauge(fams, "kore_bot_info", map[string]string{"bot": b.name, "bot_id": b.id, "host": sim.URL}); !ok || v != 1 {
			t.Errorf("kore_bot_info for %s missing", b.name)
		}
		if v, ok := gauge(fams, "kore_exporter_report_success", map[string]string{"bot": b.name, "window": map[string]string{"alpha": "1h", "beta": "2h"}[b.name]}); !ok || v != 1 {
			t.Errorf("kore_exporter_report_success for %s = %v, %v", b.name, v, ok)
		}
	}
	if _, ok := fams["kore_exporter_build_info"]; !ok {
		t.Error("kore_exporter_build_info missing")
	}
	if s := sim.Stats(bots[0].ID); s.Pages < 2 {
		t.Errorf("simulator served %d pages to alpha; page_size 40 should need several", s.Pages)
	}

	// SIGHUP reloads: a new window for beta is picked up, the old jobs keep
	// their data.
	cfgText, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(cfgText), "windows: [2h]", "windows: [2h, 6h]", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := e.status()
		if len(st) == 4 && st[3].LastResult == "success" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP: status %+v, want beta's new 6h window to have run", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	fams = e.metrics()
	if v, _ := gauge(fams, "kore_exporter_config_last_reload_successful", map[string]string{}); v != 1 {
		t.Errorf("config_last_reload_successful = %v after a good reload, want 1", v)
	}

	// A bad new config: reload fails, the old one keeps running.
	if err := os.WriteFile(path, []byte("bots: [{bot_id: x, unknown_key: 1}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(e.base+"/-/reload", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "unknown_key") {
		t.Errorf("reload of a bad config: HTTP %d %q, want 500 naming the field", resp.StatusCode, body)
	}
	fams = e.metrics()
	if v, _ := gauge(fams, "kore_exporter_config_last_reload_successful", map[string]string{}); v != 0 {
		t.Errorf("config_last_reload_successful = %v after a failed reload, want 0", v)
	}
	if len(fams["kore_task_sessions"].GetMetric()) == 0 {
		t.Error("task data gone after a failed reload")
	}

	// Secrets never show: not in /metrics, /status, the landing page or logs.
	for _, p := range []string{"/metrics", "/status", "/status?format=json", "/"} {
		if _, body := e.get(p); strings.Contains(body, canarySecret) || strings.Contains(body, bots[0].ClientSecret) {
			t.Errorf("%s shows a client secret", p)
		}
	}
	if strings.Contains(e.logs.String(), canarySecret) || strings.Contains(e.logs.String(), bots[0].ClientSecret) {
		t.Error("logs show a client secret")
	}
}

// TestEndToEndFaultsKeepLastGoodData: a bot whose API starts failing keeps
// its last good rows (and says so in its self-metrics) while the other bot
// is unaffected.
func TestEndToEndAuthFailureIsReported(t *testing.T) {
	skipShort(t, "end-to-end on a real clock")
	sim := koretest.NewServer(koretest.WithJobDuration(200 * time.Millisecond))
	defer sim.Close()
	bots := koretest.DemoBots(2, 11)
	sim.AddBot(bots[0])
	wrong := bots[1]
	wrong.ClientSecret = canarySecret // the exporter signs with a secret the simulator does not know
	sim.AddBot(bots[1])
	dir := t.TempDir()
	path := writeConfig(t, dir, sim.URL, []koretest.Bot{bots[0], wrong})
	e := startExporter(t, "--config.file="+path)
	e.waitReady(60 * time.Second)
	fams := e.metrics()
	if v, ok := gauge(fams, "kore_exporter_report_success", map[string]string{"bot": "beta", "window": "2h"}); !ok || v != 0 {
		t.Errorf("report_success for the bot with a wrong secret = %v (present %v), want 0", v, ok)
	}
	if v, ok := gauge(fams, "kore_exporter_report_success", map[string]string{"bot": "alpha", "window": "1h"}); !ok || v != 1 {
		t.Errorf("report_success for the good bot = %v, want 1", v)
	}
	resp, err := http.Post(e.base+"/-/reload", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST /-/reload without --web.enable-lifecycle: HTTP %d, want 403", resp.StatusCode)
	}
	if code, body := e.get("/"); code != http.StatusOK || !strings.Contains(body, "kore_exporter") || !strings.Contains(body, "/status") {
		t.Errorf("landing page: HTTP %d, want 200 naming the exporter and linking /status", code)
	}
	if code, _ := e.get("/-/healthy"); code != http.StatusOK {
		t.Errorf("/-/healthy: HTTP %d", code)
	}
	for _, j := range e.status() {
		if j.Bot == "beta" && (j.LastResult != "unauthorized" || j.LastError == "") {
			t.Errorf("beta status = %+v, want unauthorized with an error", j)
		}
	}
	for _, p := range []string{"/metrics", "/status", "/status?format=json"} {
		if _, body := e.get(p); strings.Contains(body, canarySecret) {
			t.Errorf("%s shows the client secret", p)
		}
	}
	if strings.Contains(e.logs.String(), canarySecret) {
		t.Error("logs show the client secret")
	}
}

func TestConfigCheck(t *testing.T) {
	sim := koretest.NewServer()
	defer sim.Close()
	bots := koretest.DemoBots(2, 3)
	dir := t.TempDir()
	path := writeCheckableConfig(t, dir, sim.URL, bots)
	var out, logs syncBuffer
	if code := run(t.Context(), []string{"--config.file=" + path, "--config.check"}, &out, &logs); code != 0 {
		t.Fatalf("--config.check exited %d: %s", code, logs.String())
	}
	for _, want := range []string{"alpha", "beta", "1h", "24h", "2h", "configuration OK: the plan can be met"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan does not mention %q:\n%s", want, out.String())
		}
	}

	// The summary comes first; --config.check.verbose adds every bot's row.
	if !strings.HasPrefix(out.String(), "configuration valid: 2 bots\nsummary:\n") {
		t.Errorf("the plan does not start with the summary:\n%s", out.String())
	}
	out, logs = syncBuffer{}, syncBuffer{}
	if code := run(t.Context(), []string{"--config.file=" + path, "--config.check", "--config.check.verbose"}, &out, &logs); code != 0 {
		t.Fatalf("--config.check --config.check.verbose exited %d: %s", code, logs.String())
	}
	for _, want := range []string{"\nBOT ", "\nalpha ", "\nbeta "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("verbose plan lacks %q:\n%s", want, out.String())
		}
	}

	// Valid, but 4,800 requests/hour for alpha: the limiter holds Kore.ai's
	// 1,800/hour, so its runs come late; the check says so and exits 3.
	path = writeConfig(t, dir, sim.URL, bots)
	out, logs = syncBuffer{}, syncBuffer{}
	if code := run(t.Context(), []string{"--config.file=" + path, "--config.check"}, &out, &logs); code != 3 {
		t.Fatalf("--config.check of a plan that cannot be met exited %d, want 3; logs: %s", code, logs.String())
	}
	for _, want := range []string{
		"error: bot alpha: about 4800 requests/hour exceed the budget of 1800/hour (Kore.ai's cap, which the limiter holds): " +
			"the limiter delays the calls, so each window's run starts only about every 5m instead of every 1m",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan does not say %q:\n%s", want, out.String())
		}
	}
	if want := "configuration valid, but the plan cannot be met"; !strings.Contains(logs.String(), want) || strings.Contains(out.String(), "configuration OK") {
		t.Errorf("stderr %q does not say %q, or stdout says OK:\n%s", logs.String(), want, out.String())
	}
	if err := os.WriteFile(path, []byte("bots:\n  - bot_id: st-1\n    client_id: cs-1\n    windows: [91d]\n    client_secret: "+canarySecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs = syncBuffer{}
	if code := run(t.Context(), []string{"--config.file=" + path, "--config.check"}, &out, &logs); code != 1 {
		t.Fatalf("--config.check of a bad config exited %d, want 1", code)
	}
	if !strings.Contains(logs.String(), "bots[0].windows[0]") {
		t.Errorf("error does not name the path: %s", logs.String())
	}
	if strings.Contains(logs.String(), canarySecret) {
		t.Error("config error shows the secret")
	}
}

func TestDemoServesTaskMetrics(t *testing.T) {
	skipShort(t, "end-to-end on a real clock")
	e := startExporter(t, "--demo", "--demo.drop-off-surge")
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, body := e.get("/metrics"); strings.Contains(body, "\nkore_task_drop_off_sessions{") {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("--demo served no kore_task_drop_off_sessions within 15s; logs:\n%s", e.logs.String())
}

// TestShardsSplitBots: two replicas with the same file run disjoint bots
// that together are all of them.
func TestShardsSplitBots(t *testing.T) {
	sim := koretest.NewServer(koretest.WithJobDuration(100 * time.Millisecond))
	defer sim.Close()
	bots := koretest.DemoBots(2, 5)
	for _, b := range bots {
		sim.AddBot(b)
	}
	path := writeCheckableConfig(t, t.TempDir(), sim.URL, bots)
	seen := map[string]int{}
	for index := range 2 {
		var out, logs syncBuffer
		args := []string{"--config.file=" + path, "--config.check", "--shard.count=2", fmt.Sprintf("--shard.index=%d", index)}
		if code := run(t.Context(), args, &out, &logs); code != 0 {
			t.Fatalf("shard %d: exit %d: %s", index, code, logs.String())
		}
		for _, name := range []string{"alpha", "beta"} {
			if strings.Contains(out.String(), name) {
				seen[name]++
			}
		}
	}
	if seen["alpha"] != 1 || seen["beta"] != 1 {
		t.Errorf("bots per shard: %v, want each bot in exactly one of the two shards", seen)
	}
}

// TestWebConfigBasicAuth: --web.config.file (exporter-toolkit) protects every
// endpoint with basic auth, and the password shows nowhere.
func TestWebConfigBasicAuth(t *testing.T) {
	const password = "canary-web-password-7f3a"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(webCfg, []byte("basic_auth_users:\n  prometheus: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startExporter(t, "--demo", "--web.config.file="+webCfg)
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := e.get("/metrics")
		if code == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics without credentials: HTTP %d, want 401", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, tt := range []struct {
		user, pass string
		want       int
	}{
		{"prometheus", password, http.StatusOK},
		{"prometheus", "wrong", http.StatusUnauthorized},
		{"other", password, http.StatusUnauthorized},
	} {
		req, err := http.NewRequest(http.MethodGet, e.base+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(tt.user, tt.pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("user %q: HTTP %d, want %d", tt.user, resp.StatusCode, tt.want)
		}
		if strings.Contains(string(body), password) {
			t.Error("a response shows the basic-auth password")
		}
	}
	// As the README says: /-/healthy needs credentials too (a liveness
	// probe must send them, or probe the TCP port).
	if code, _ := e.get("/-/healthy"); code != http.StatusUnauthorized {
		t.Errorf("/-/healthy without credentials: HTTP %d, want 401", code)
	}
	req, err := http.NewRequest(http.MethodGet, e.base+"/-/healthy", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("prometheus", password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/-/healthy with credentials: HTTP %d, want 200", resp.StatusCode)
	}
	if strings.Contains(e.logs.String(), password) {
		t.Error("logs show the basic-auth password")
	}
}

// TestBadTelemetryPathIsRejected: a telemetry path that clashes with another
// endpoint, or is not a clean absolute path, stops the exporter at start
// with an error naming the problem (exit 1), never a panic.
func TestBadTelemetryPathIsRejected(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/status", "clashes"},
		{"/", "clashes"},
		{"/-/healthy", "clashes"},
		{"/-/ready", "clashes"},
		{"/-/reload", "clashes"},
		{"metrics", "must start with"},
		{"/metrics/", "not a clean path"},
		{"/a//metrics", "not a clean path"},
		{"/x/../metrics", "not a clean path"},
		{"/metrics/{x}", "not allowed"},
		{"/metrics x", "not allowed"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			var out, logs syncBuffer
			code := run(t.Context(), []string{"--demo", "--web.telemetry-path=" + tc.path, "--web.listen-address=" + freeAddr(t)}, &out, &logs)
			if code != 1 {
				t.Errorf("exit %d, want 1; logs:\n%s", code, logs.String())
			}
			if !strings.Contains(logs.String(), "telemetry path") || !strings.Contains(logs.String(), tc.want) {
				t.Errorf("logs do not say %q about the telemetry path:\n%s", tc.want, logs.String())
			}
		})
	}
}

// TestBadFlagsAreRejected: flag values that cannot work stop the exporter
// at start with an error naming the flag (exit 1).
func TestBadFlagsAreRejected(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--demo", "--web.write-timeout=-1s"}, "--web.write-timeout"},
		{[]string{"--demo", "--web.idle-timeout=0s"}, "--web.idle-timeout"},
		{[]string{"--demo", "--web.idle-timeout=-1m"}, "--web.idle-timeout"},
		{[]string{"--demo.drop-off-surge"}, "--demo.drop-off-surge needs --demo"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, logs syncBuffer
			code := run(t.Context(), append(tc.args, "--web.listen-address="+freeAddr(t)), &out, &logs)
			if code != 1 || !strings.Contains(logs.String(), tc.want) {
				t.Errorf("exit %d, want 1 with an error naming %s; logs:\n%s", code, tc.want, logs.String())
			}
		})
	}
}

// TestIdleConnectionsAreClosed: --web.idle-timeout reaches the server: a
// keep-alive connection left idle is closed.
func TestIdleConnectionsAreClosed(t *testing.T) {
	e := startExporter(t, "--demo", "--web.idle-timeout=1s") // the shortest allowed
	var c net.Conn
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if c, err = net.Dial("tcp", strings.TrimPrefix(e.base, "http://")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("exporter not listening: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /-/healthy HTTP/1.1\r\nHost: exporter\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("/-/healthy: HTTP %d, close %v; want 200 on a keep-alive connection", resp.StatusCode, resp.Close)
	}
	_, err = io.Copy(io.Discard, br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("idle connection still open after 30s")
	}
}

// TestNoDeadLinks: every local link of the landing page and the status page
// answers (no 404), with a telemetry path other than the default, and the
// status page links that path.
func TestNoDeadLinks(t *testing.T) {
	skipShort(t, "end-to-end on a real clock")
	e := startExporter(t, "--demo", "--web.telemetry-path=/kore/metrics")
	e.waitReady(30 * time.Second)
	href := regexp.MustCompile(`href="([^"]*)"`)
	for _, page := range []string{"/", "/status"} {
		code, body := e.get(page)
		if code != http.StatusOK {
			t.Fatalf("%s: HTTP %d", page, code)
		}
		links := href.FindAllStringSubmatch(body, -1)
		if len(links) == 0 {
			t.Fatalf("%s has no links", page)
		}
		seen := map[string]bool{}
		for _, m := range links {
			u, err := url.Parse(html.UnescapeString(m[1]))
			if err != nil {
				t.Fatalf("%s: link %q: %v", page, m[1], err)
			}
			if u.IsAbs() {
				continue // the exporter-toolkit's external links
			}
			target := (&url.URL{Path: page}).ResolveReference(u)
			seen[target.Path] = true
			if code, _ := e.get(target.RequestURI()); code == http.StatusNotFound {
				t.Errorf("%s links %s (resolved %s): HTTP 404", page, m[1], target.RequestURI())
			}
		}
		if !seen["/kore/metrics"] {
			t.Errorf("%s does not link the telemetry path /kore/metrics; links: %v", page, links)
		}
	}
}

// TestDemoShardErrorNamesDemoConfiguration: --demo ignores --config.file,
// so a shard index out of range in demo mode names the flag, not the
// default file name (the flag check refuses it before any load).
func TestDemoShardErrorNamesDemoConfiguration(t *testing.T) {
	var out, logs syncBuffer
	code := run(t.Context(), []string{"--demo", "--shard.count=2", "--shard.index=5", "--web.listen-address=" + freeAddr(t)}, &out, &logs)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(logs.String(), "--shard.index 5: must be in [0, 2)") || strings.Contains(logs.String(), "kore_exporter.yml") {
		t.Errorf("want the error to name --shard.index, not kore_exporter.yml:\n%s", logs.String())
	}
}

// TestLogLinesHaveOneTimestamp: lines of the go-kit logger and of the slog
// bridge (the exporter-toolkit's logger) carry one timestamp, under one key
// (ts) and in one format, in logfmt and in JSON.
func TestLogLinesHaveOneTimestamp(t *testing.T) {
	for _, format := range []string{"logfmt", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf syncBuffer
			logger, slogger := newLogger(&buf, format, "info")
			level.Info(logger).Log("msg", "from go-kit")
			slogger.Info("from slog", "k", "v")
			slogger.With("scope", "s").WithGroup("g").Info("from slog, scoped", "k", "v")
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != 3 {
				t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.String())
			}
			for _, line := range lines {
				var fields map[string]any
				if format == "json" {
					if err := json.Unmarshal([]byte(line), &fields); err != nil {
						t.Fatalf("%q: %v", line, err)
					}
				} else {
					fields = map[string]any{}
					for _, kv := range regexp.MustCompile(`(\w+)=("[^"]*"|\S+)`).FindAllStringSubmatch(line, -1) {
						fields[kv[1]] = strings.Trim(kv[2], `"`)
					}
				}
				if _, ok := fields["time"]; ok {
					t.Errorf("line has a time key: %s", line)
				}
				ts, ok := fields["ts"].(string)
				if !ok {
					t.Errorf("line has no ts: %s", line)
					continue
				}
				if c := strings.Count(line, "ts"); c != 1 {
					t.Errorf("ts appears %d times: %s", c, line)
				}
				if at, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasSuffix(ts, "Z") || time.Since(at).Abs() > time.Hour {
					t.Errorf("ts %q is not a current UTC RFC 3339 time: %v", ts, err)
				}
				if c, _ := fields["caller"].(string); !strings.HasPrefix(c, "main_test.go:") {
					t.Errorf("caller %q, want the log call in main_test.go: %s", c, line)
				}
			}
		})
	}
}

// TestConfigErrorsOnePerLine: a configuration with several problems is
// shown one problem per line by --config.check, and logged one record per
// problem at start-up and on reload; no line holds a literal \n.
func TestConfigErrorsOnePerLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("bots:\n  - {bot_id: st-1, client_id: cs-1, client_secret: "+canarySecret+", windows: [91d], page_size: 0}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	problems := []string{
		"bots[0].windows[0]: window 91d exceeds the API's 90-day maximum",
		"bots[0].page_size: 0 is outside 1..10000",
	}
	// checkLines finds each problem on a line of its own that contains want.
	checkLines := func(t *testing.T, what, out string, want func(i int, p string) string) {
		t.Helper()
		if strings.Contains(out, `\n`) || strings.Contains(out, canarySecret) {
			t.Errorf("%s holds a literal \\n or the secret:\n%s", what, out)
		}
		lines := strings.Split(out, "\n")
		for i, p := range problems {
			n := 0
			for _, l := range lines {
				if strings.Contains(l, p) {
					n++
					if w := want(i, p); !strings.Contains(l, w) {
						t.Errorf("%s: line %q lacks %q", what, l, w)
					}
				}
			}
			if n != 1 {
				t.Errorf("%s: problem %q is on %d lines, want 1:\n%s", what, p, n, out)
			}
		}
	}

	t.Run("config.check", func(t *testing.T) {
		var out, stderr syncBuffer
		if code := run(t.Context(), []string{"--config.file=" + bad, "--config.check"}, &out, &stderr); code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		if want := "invalid configuration " + bad + ": 2 problem(s):\n"; !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks the heading %q:\n%s", want, stderr.String())
		}
		checkLines(t, "--config.check", stderr.String(), func(_ int, p string) string { return "  " + p })
	})
	t.Run("start-up", func(t *testing.T) {
		var logs syncBuffer
		if code := run(t.Context(), []string{"--config.file=" + bad}, io.Discard, &logs); code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		checkLines(t, "start-up log", logs.String(), func(i int, _ string) string {
			return fmt.Sprintf(`msg="invalid configuration" file=%s problem=%d/2 err=`, bad, i+1)
		})
	})
	t.Run("reload", func(t *testing.T) {
		sim := koretest.NewServer(koretest.WithJobDuration(100 * time.Millisecond))
		defer sim.Close()
		bots := koretest.DemoBots(2, 17)
		for _, b := range bots {
			sim.AddBot(b)
		}
		path := writeCheckableConfig(t, t.TempDir(), sim.URL, bots)
		e := startExporter(t, "--config.file="+path, "--web.enable-lifecycle")
		deadline := time.Now().Add(10 * time.Second)
		for code, _ := e.get("/-/healthy"); code != http.StatusOK; code, _ = e.get("/-/healthy") {
			if time.Now().After(deadline) {
				t.Fatalf("/-/healthy: HTTP %d", code)
			}
			time.Sleep(50 * time.Millisecond)
		}
		data, err := os.ReadFile(bad)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(e.base+"/-/reload", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("reload of a bad config: HTTP %d, want 500", resp.StatusCode)
		}
		var failed []string
		for _, l := range strings.Split(e.logs.String(), "\n") {
			if strings.Contains(l, "reload failed") {
				failed = append(failed, l)
			}
		}
		checkLines(t, "reload log", strings.Join(failed, "\n"), func(i int, _ string) string {
			return fmt.Sprintf(`msg="reload failed; keeping the running configuration" file=%s problem=%d/2 err=`, path, i+1)
		})
	})
}

// TestConfigExamplePassesCheck runs --config.check on config.example.yml
// with what its header says to create: secrets/support.secret and
// keys/hr.pem next to it, and KORE_SALES_SECRET (no t.Parallel: it sets
// an environment variable).
func TestConfigExamplePassesCheck(t *testing.T) {
	example, err := os.ReadFile("config.example.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{
		"config.example.yml":     example,
		"secrets/support.secret": []byte("support-" + canarySecret + "\n"),
		"keys/hr.pem":            pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("KORE_SALES_SECRET", "sales-"+canarySecret)
	var out, stderr syncBuffer
	code := run(t.Context(), []string{"--config.file=" + filepath.Join(dir, "config.example.yml"), "--config.check"}, &out, &stderr)
	if code != 0 {
		t.Fatalf("--config.check of config.example.yml exited %d:\n%s\n%s", code, stderr.String(), out.String())
	}
	for _, want := range []string{"configuration valid: 5 bots", "support", "support-web", "support-whatsapp", "sales", "st-3c4d5e6f",
		"budget: bot_id st-1a2b3c4d-0000-5000-8000-00000000a001: variants support, support-web, support-whatsapp share one budget", "configuration OK: the plan can be met"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String()+stderr.String(), canarySecret) {
		t.Error("--config.check shows a secret")
	}
	// Without the variable the check fails, naming it.
	os.Unsetenv("KORE_SALES_SECRET")
	stderr = syncBuffer{}
	if code := run(t.Context(), []string{"--config.file=" + filepath.Join(dir, "config.example.yml"), "--config.check"}, io.Discard, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "bots[3].client_secret: environment variable KORE_SALES_SECRET is not set") {
		t.Errorf("without KORE_SALES_SECRET: exit %d, stderr:\n%s", code, stderr.String())
	}
}

// TestGCPercent: the garbage collector's target is defaultGOGC unless the
// environment sets GOGC.
func TestGCPercent(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	setGCPercent(func(string) (string, bool) { return "", false })
	if got := debug.SetGCPercent(100); got != defaultGOGC {
		t.Errorf("GOGC unset: target %d, want %d", got, defaultGOGC)
	}
	setGCPercent(func(k string) (string, bool) { return "200", k == "GOGC" })
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set: target changed to %d, want it left to the runtime (100 here)", got)
	}
}

// TestMissingConfigFileHint: started without a configuration file (the
// first run of a new user), the exporter, --config.check and backfill say
// how to give one, or to try --demo; a missing secret file named by a
// configuration that exists gets no such hint.
func TestMissingConfigFileHint(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "kore_exporter.yml")
	for _, args := range [][]string{
		{"--config.file=" + missing, "--web.listen-address=127.0.0.1:0"},
		{"--config.file=" + missing, "--config.check"},
		{"backfill", "--config.file=" + missing, "--start=-2h", "--output=-"},
	} {
		var out, logs syncBuffer
		if code := run(t.Context(), args, &out, &logs); code == 0 {
			t.Fatalf("%v: exit 0", args)
		}
		if !strings.Contains(logs.String(), "--config.file=PATH") || !strings.Contains(logs.String(), "--demo") {
			t.Errorf("%v: no hint naming --config.file and --demo:\n%s", args, logs.String())
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "kore.yml")
	cfg := "bots:\n  - {bot_id: st-1, client_id: cs-1, client_secret_file: " + filepath.Join(dir, "missing.secret") + "}\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, logs syncBuffer
	if code := run(t.Context(), []string{"--config.file=" + path, "--config.check"}, &out, &logs); code != 1 {
		t.Fatalf("--config.check of a configuration with a missing secret file exited %d, want 1", code)
	}
	if !strings.Contains(logs.String(), "missing.secret") || strings.Contains(logs.String(), "--demo") {
		t.Errorf("a missing secret file: want its error and no --demo hint:\n%s", logs.String())
	}
}

// TestAddressInUseFailsBeforeJobsStart: an address in use fails the start
// with a hint naming --web.listen-address, before any report job starts.
func TestAddressInUseFailsBeforeJobsStart(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var out, logs syncBuffer
	if code := run(t.Context(), []string{"--demo", "--web.listen-address=" + l.Addr().String()}, &out, &logs); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, logs.String())
	}
	if !strings.Contains(logs.String(), "--web.listen-address") || !strings.Contains(logs.String(), "address already in use") {
		t.Errorf("no hint naming --web.listen-address:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "starting kore_exporter") {
		t.Errorf("report jobs started before the listen failed:\n%s", logs.String())
	}
}
