package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

// backfillEnv is a simulator on loopback and a configuration file of one of
// its bots (windows 1h and 24h), for the backfill command.
type backfillEnv struct {
	sim  *koretest.Server
	bot  koretest.Bot
	dir  string
	cfg  string
	out  string
	from time.Time // the first instant
	to   time.Time // the last instant
}

func newBackfillEnv(t *testing.T, jobDuration time.Duration) *backfillEnv {
	t.Helper()
	sim := koretest.NewServer(koretest.WithJobDuration(jobDuration))
	t.Cleanup(sim.Close)
	bot := koretest.DemoBots(1, 3)[0]
	sim.AddBot(bot)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`defaults:
  host: %s
  allow_insecure_http: true
  windows: [1h, 24h]
  timeout: 50s
  page_size: 500
bots:
  - name: alpha
    bot_id: %s
    client_id: %s
    client_secret: %q
limits:
  max_concurrent_jobs: 4
  requests_per_minute_per_bot: 30
`, sim.URL, bot.ID, bot.ClientID, bot.ClientSecret)
	path := filepath.Join(dir, "kore.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	to := time.Now().Truncate(time.Hour)
	return &backfillEnv{sim: sim, bot: bot, dir: dir, cfg: path, out: filepath.Join(dir, "h.om"), from: to.Add(-time.Hour), to: to}
}

// run runs the backfill command with the env's configuration, range, step
// and output, each unless extra (--flag=value) sets it, and extra.
func (e *backfillEnv) run(t *testing.T, ctx context.Context, extra ...string) (code int, stdout, stderr string) {
	t.Helper()
	args := []string{"backfill"}
	for _, f := range [][2]string{{"--config.file", e.cfg}, {"--start", e.from.Format(time.RFC3339)},
		{"--end", e.to.Format(time.RFC3339)}, {"--step", "1h"}, {"--output", e.out}} {
		if !slices.ContainsFunc(extra, func(a string) bool { return strings.HasPrefix(a, f[0]+"=") }) {
			args = append(args, f[0]+"="+f[1])
		}
	}
	args = append(args, extra...)
	var o, s syncBuffer
	code = run(ctx, args, &o, &s)
	return code, o.String(), s.String()
}

// findBin returns the binary named by env, else name on PATH. Without it
// the test is skipped, except under CI=true (.ci/run installs both), where
// it fails.
func findBin(t *testing.T, env, name string) string {
	t.Helper()
	if bin := os.Getenv(env); bin != "" {
		return bin
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found (%s unset, not on PATH) under CI=true: .ci/run installs it", name, env)
		}
		t.Skipf("%s not found (%s unset, not on PATH): run .ci/run, or set %s", name, env, env)
	}
	return bin
}

// TestBackfillCommandIntoPrometheus runs the command against the simulator,
// checks its plan, summary and rerun, imports the file with the real
// promtool, starts the real Prometheus on the blocks, and asks it for a
// past point's value: the simulator's Expected total.
func TestBackfillCommandIntoPrometheus(t *testing.T) {
	skipShort(t, "starts promtool and Prometheus")
	t.Parallel()
	e := newBackfillEnv(t, 200*time.Millisecond)
	code, stdout, stderr := e.run(t, t.Context())
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"backfill plan: 2 instants", "alpha", "backfill: 4 of 4 points written", "0 failed", "next: promtool tsdb create-blocks-from openmetrics"} {
		if !strings.Contains(stdout, want) {
			t.Fatalf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	first, err := os.ReadFile(e.out)
	if err != nil {
		t.Fatal(err)
	}
	state, err := os.ReadFile(e.out + ".state")
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"stdout": stdout, "stderr": stderr, "output": string(first), "state": string(state)} {
		if strings.Contains(text, e.bot.ClientSecret) {
			t.Fatalf("the client secret leaks into %s", name)
		}
	}

	// A rerun with the same arguments runs nothing and writes the same file.
	requests := e.sim.Stats(e.bot.ID).Requests
	code, stdout, _ = e.run(t, t.Context())
	if code != 0 || !strings.Contains(stdout, "(4 from an earlier run); 0 reports, 0 requests") {
		t.Fatalf("rerun: exit %d:\n%s", code, stdout)
	}
	if again, _ := os.ReadFile(e.out); !bytes.Equal(again, first) || e.sim.Stats(e.bot.ID).Requests != requests {
		t.Fatal("the rerun changed the file or made requests")
	}

	promtool := findBin(t, "PROMTOOL_BIN", "promtool")
	data := filepath.Join(e.dir, "data")
	if out, err := exec.CommandContext(t.Context(), promtool, "tsdb", "create-blocks-from", "openmetrics", e.out, data).CombinedOutput(); err != nil {
		t.Fatalf("promtool refuses the file: %v\n%s", err, out)
	}

	prometheus := findBin(t, "PROMETHEUS_BIN", "prometheus")
	empty := filepath.Join(e.dir, "prometheus.yml")
	if err := os.WriteFile(empty, []byte("scrape_configs: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	var logs syncBuffer
	cmd := exec.CommandContext(t.Context(), prometheus, "--storage.tsdb.path="+data, "--config.file="+empty, "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30s:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The 24h window at the first instant: [from - 24h, from).
	want := e.sim.Expected(e.bot.ID, e.from.Add(-24*time.Hour), e.from, koretest.Filters{})[0]
	q := fmt.Sprintf(`kore_task_sessions{bot="alpha",window="24h",task_name=%q,task_type=%q,status=%q}`, want.TaskName, want.TaskType, want.Status)
	resp, err := http.Get(base + "/api/v1/query?" + url.Values{"query": {q}, "time": {strconv.FormatInt(e.from.Unix(), 10)}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.Status != "success" || len(body.Data.Result) != 1 {
		t.Fatalf("query %s at %s: %+v", q, e.from, body)
	}
	if got := body.Data.Result[0].Value[1]; got != strconv.FormatInt(want.TotalSession, 10) {
		t.Fatalf("query %s at %s = %v, want %d", q, e.from, got, want.TotalSession)
	}
}

// TestBackfillCommandFailuresExitOne: points whose jobs fail are listed and
// the exit status is 1; the file is still complete.
func TestBackfillCommandFailuresExitOne(t *testing.T) {
	t.Parallel()
	e := newBackfillEnv(t, 200*time.Millisecond)
	e.sim.SetFault(e.bot.ID, koretest.Fault{FailJobs: true})
	code, stdout, stderr := e.run(t, t.Context())
	if code != 1 || strings.Count(stdout, "failed: bot alpha window ") != 4 || !strings.Contains(stderr, "points failed") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if out, err := os.ReadFile(e.out); err != nil || string(out) != "# EOF\n" {
		t.Fatalf("output %q, %v; want an empty, complete file", out, err)
	}
}

// TestBackfillCommandInterrupted: a signal (ctx canceled) while reports run
// leaves a complete file and exits 130.
func TestBackfillCommandInterrupted(t *testing.T) {
	t.Parallel()
	e := newBackfillEnv(t, 10*time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	code, _, stderr := e.run(t, ctx)
	if code != exitBackfillInterrupted || !strings.Contains(stderr, "rerun the same command to resume") {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", code, exitBackfillInterrupted, stderr)
	}
	if out, err := os.ReadFile(e.out); err != nil || !bytes.HasSuffix(out, []byte("# EOF\n")) {
		t.Fatalf("output %q, %v; want a complete file", out, err)
	}
}

// TestBackfillCommandBadFlags: bad flags and ranges fail before any
// request, naming the problem; --dry-run prints the plan only.
func TestBackfillCommandBadFlags(t *testing.T) {
	t.Parallel()
	e := newBackfillEnv(t, 200*time.Millisecond)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--step=30s"}, 1, "must be at least 1m"},
		{[]string{"--start=-100d"}, 1, "more than 90 days back"},
		{[]string{"--start=-1h", "--end=-3h"}, 1, "is before --start"},
		{[]string{"--start=yesterday"}, 1, "--start"},
		{[]string{"--end=+2h"}, 1, "in the future"},
		{[]string{"--output="}, 2, "--output is required"},
		{[]string{"--bogus"}, 2, "unknown long flag"},
		{[]string{"--label=task_name=x"}, 2, `--label: label "task_name": the exporter's series have this label already`},
		{[]string{"--label=__name__=x"}, 2, `--label: label "__name__": not a valid label name`},
		{[]string{"--label=team-x=y"}, 2, `--label: label "team-x": not a valid label name`},
		{[]string{"--label=job"}, 2, "expected KEY=VALUE"},
	} {
		code, stdout, stderr := e.run(t, t.Context(), tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", tc.args, code, tc.code, tc.want, stdout, stderr)
		}
	}
	code, stdout, _ := e.run(t, t.Context(), "--dry-run")
	if code != 0 || !strings.Contains(stdout, "backfill plan: 2 instants") || strings.Contains(stdout, "points written") {
		t.Fatalf("--dry-run: exit %d:\n%s", code, stdout)
	}
	if n := e.sim.Stats(e.bot.ID).Requests; n != 0 {
		t.Fatalf("%d requests made", n)
	}
}

// TestBackfillCommandTargetLabels: every series of the output carries the
// target labels: job="kore_exporter" by default, as the shipped scrape
// configuration names the job, so backfilled history and the live series
// are one series for the recording rules, which keep job; --label replaces
// the default.
func TestBackfillCommandTargetLabels(t *testing.T) {
	t.Parallel()
	e := newBackfillEnv(t, 0)
	for _, tc := range []struct {
		args []string
		want map[string]string
	}{
		{nil, map[string]string{"job": "kore_exporter"}},
		{[]string{"--label=job=kore", "--label=namespace=prod"}, map[string]string{"job": "kore", "namespace": "prod"}},
	} {
		code, stdout, stderr := e.run(t, t.Context(), append(tc.args, "--output=-")...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", tc.args, code, stderr)
		}
		n, kinds := 0, map[string]bool{}
		for _, line := range strings.Split(stdout, "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			name, rest, _ := strings.Cut(line, "{")
			labels, _, _ := strings.Cut(rest, "}")
			for k, v := range tc.want {
				if !strings.Contains(","+labels+",", fmt.Sprintf(",%s=%q,", k, v)) {
					t.Fatalf("%v: series without %s=%q: %s", tc.args, k, v, line)
				}
			}
			kinds[name] = true
			n++
		}
		if n == 0 || !kinds["kore_bot_info"] || !kinds["kore_task_sessions"] {
			t.Fatalf("%v: %d series of %v", tc.args, n, kinds)
		}
	}
}
