package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	var o, s syncBuffer
	code = run(ctx, e.args(extra...), &o, &s)
	return code, o.String(), s.String()
}

// args returns the command line of run.
func (e *backfillEnv) args(extra ...string) []string {
	args := []string{"backfill"}
	for _, f := range [][2]string{{"--config.file", e.cfg}, {"--start", e.from.Format(time.RFC3339)},
		{"--end", e.to.Format(time.RFC3339)}, {"--step", "1h"}, {"--output", e.out}} {
		if !slices.ContainsFunc(extra, func(a string) bool { return strings.HasPrefix(a, f[0]+"=") }) {
			args = append(args, f[0]+"="+f[1])
		}
	}
	return append(args, extra...)
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

// TestBackfillCommandInterrupted: a signal (ctx canceled) while reports
// run stops the run at once with exit 130: the output of an earlier run is
// left as it was, no temporary file is left, and the state keeps the
// points done.
func TestBackfillCommandInterrupted(t *testing.T) {
	t.Parallel()
	e := newBackfillEnv(t, 10*time.Second)
	if err := os.WriteFile(e.out, []byte("# EOF\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	code, _, stderr := e.run(t, ctx)
	if code != exitBackfillInterrupted || !strings.Contains(stderr, "msg=interrupted") || !strings.Contains(stderr, "rerun the same command to resume") {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", code, exitBackfillInterrupted, stderr)
	}
	if out, err := os.ReadFile(e.out); err != nil || string(out) != "# EOF\n" {
		t.Fatalf("output %q, %v; want the earlier run's, untouched", out, err)
	}
	if _, err := os.Stat(e.out + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("temporary file left: %v", err)
	}
}

// trigger is a log writer that calls fn once when a line holds word.
type trigger struct {
	syncBuffer
	word string
	once sync.Once
	fn   func()
}

func (w *trigger) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(w.word)) {
		w.once.Do(w.fn)
	}
	return w.syncBuffer.Write(p)
}

// TestBackfillCommandInterruptedWhileWriting: a signal (ctx canceled) once
// the reports are done and the output is being written stops the writing:
// exit 130 with a message, the earlier output untouched, the temporary
// file removed; a rerun writes the output without a request.
func TestBackfillCommandInterruptedWhileWriting(t *testing.T) {
	t.Parallel()
	e := newBackfillEnv(t, 0)
	if err := os.WriteFile(e.out, []byte("# EOF\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stderr := &trigger{word: "writing the output", fn: cancel}
	var stdout syncBuffer
	code := run(ctx, e.args(), &stdout, stderr)
	if code != exitBackfillInterrupted || !strings.Contains(stderr.String(), "while writing the output") {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitBackfillInterrupted, stdout.String(), stderr.String())
	}
	if out, err := os.ReadFile(e.out); err != nil || string(out) != "# EOF\n" {
		t.Fatalf("output %q, %v; want the earlier run's, untouched", out, err)
	}
	if _, err := os.Stat(e.out + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("temporary file left: %v", err)
	}
	requests := e.sim.Stats(e.bot.ID).Requests
	code, out, _ := e.run(t, t.Context())
	if code != 0 || !strings.Contains(out, "4 of 4 points written") || e.sim.Stats(e.bot.ID).Requests != requests {
		t.Fatalf("rerun: exit %d\n%s", code, out)
	}
}

// TestBackfillCommandRemovesLeftoverTemp: the temporary file a killed run
// left (SIGKILL while writing the output) has a fixed name, and the next
// run removes it.
func TestBackfillCommandRemovesLeftoverTemp(t *testing.T) {
	t.Parallel()
	e := newBackfillEnv(t, 0)
	if err := os.WriteFile(e.out+".tmp", []byte("# HELP kore_bot_info half a fi"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := e.run(t, t.Context()); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(e.out + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the temporary file of the killed run is still there: %v", err)
	}
}

// TestBackfillCommandRefusesOutputThatIsNotAFile: --output at a
// directory, a device, a FIFO or a socket, or a symlink to one, is
// refused before any request, and neither it nor a state file beside it
// is touched.
func TestBackfillCommandRefusesOutputThatIsNotAFile(t *testing.T) {
	t.Parallel()
	e := newBackfillEnv(t, 0)
	link := func(name, to string) string {
		p := filepath.Join(e.dir, name)
		if err := os.Symlink(to, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sub := filepath.Join(e.dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(e.dir, "s.om")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cases := map[string]string{
		sub:                          "a directory",
		link("sub.om", sub):          "a directory",
		link("null.om", "/dev/null"): "a character device",
		sock:                         "a socket",
	}
	if mkfifo, err := exec.LookPath("mkfifo"); err == nil {
		fifo := filepath.Join(e.dir, "fifo.om")
		if out, err := exec.Command(mkfifo, fifo).CombinedOutput(); err != nil {
			t.Fatalf("mkfifo: %v\n%s", err, out)
		}
		cases[fifo] = "a FIFO"
	}
	for path, kind := range cases {
		before, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		code, _, stderr := e.run(t, t.Context(), "--output="+path)
		if code != 1 || !strings.Contains(stderr, "not a regular file: "+kind) {
			t.Errorf("--output=%s: exit %d, want 1 and not a regular file: %s\n%s", path, code, kind, stderr)
		}
		if after, err := os.Lstat(path); err != nil || after.Mode() != before.Mode() {
			t.Errorf("--output=%s: changed from %v to %v (%v)", path, before.Mode(), after.Mode(), err)
		}
		if _, err := os.Lstat(path + ".state"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("--output=%s: a state file was created beside it", path)
		}
	}
	if n := e.sim.Stats(e.bot.ID).Requests; n != 0 {
		t.Fatalf("%d requests sent", n)
	}
	// A symlink to a regular file stays a symlink: the file it points to
	// is replaced.
	real := filepath.Join(e.dir, "real.om")
	if err := os.WriteFile(real, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ok := link("ok.om", real)
	if code, _, stderr := e.run(t, t.Context(), "--output="+ok); code != 0 {
		t.Fatalf("--output=%s (a symlink to a file): exit %d\n%s", ok, code, stderr)
	}
	fi, err := os.Lstat(ok)
	if data, _ := os.ReadFile(real); err != nil || fi.Mode()&fs.ModeSymlink == 0 || !bytes.HasSuffix(data, []byte("# EOF\n")) {
		t.Fatalf("symlink %v (%v), file it points to %q", fi.Mode(), err, data)
	}
}

// TestBackfillCommandStateFileChecks: OUTPUT.state gets the checks of a
// secret file: a FIFO or a symlink to a device is refused at once, without
// blocking or reading it, and a file that is not a state file is refused
// and left as it was; no request is sent.
func TestBackfillCommandStateFileChecks(t *testing.T) {
	t.Parallel()
	e := newBackfillEnv(t, 0)
	state := e.out + ".state"
	type check struct {
		name, want string
		make       func() error
	}
	checks := []check{
		{"symlink to /dev/zero", "not a regular file: a character device", func() error { return os.Symlink("/dev/zero", state) }},
		{"unrelated file", "not a backfill state file", func() error { return os.WriteFile(state, []byte("keep me"), 0o600) }},
		{"unrelated line", "not a backfill state file", func() error { return os.WriteFile(state, []byte("keep me\n"), 0o600) }},
	}
	if mkfifo, err := exec.LookPath("mkfifo"); err == nil {
		checks = append(checks, check{"FIFO", "not a regular file: a FIFO", func() error { return exec.Command(mkfifo, state).Run() }})
	}
	for _, c := range checks {
		os.Remove(state)
		if err := c.make(); err != nil {
			t.Fatal(err)
		}
		regular := strings.HasPrefix(c.name, "unrelated")
		var before []byte
		if regular {
			before, _ = os.ReadFile(state)
		}
		type result struct {
			code   int
			stderr string
		}
		done := make(chan result, 1)
		go func() {
			code, _, stderr := e.run(t, t.Context())
			done <- result{code, stderr}
		}()
		var r result
		select {
		case r = <-done:
		case <-time.After(20 * time.Second): // a bug: release the FIFO
			if w, err := os.OpenFile(state, os.O_WRONLY, 0); err == nil {
				w.Close()
			}
			r = <-done
			t.Errorf("%s: the command blocked on the state file", c.name)
		}
		if r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: exit %d, want 1 with %q\n%s", c.name, r.code, c.want, r.stderr)
		}
		if regular {
			if after, _ := os.ReadFile(state); !bytes.Equal(after, before) {
				t.Errorf("%s: the file was changed to %q", c.name, after)
			}
		}
	}
	if n := e.sim.Stats(e.bot.ID).Requests; n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

// TestBackfillCommandLargePlan: a plan above maxPlanPoints is flagged by
// --dry-run, and a run needs --allow-large-plan; no request is sent.
func TestBackfillCommandLargePlan(t *testing.T) {
	t.Parallel()
	e := newBackfillEnv(t, 0)
	large := []string{"--start=-70d", "--end=-1h", "--step=1m"}
	code, stdout, _ := e.run(t, t.Context(), append(large, "--dry-run")...)
	if code != 0 || !regexp.MustCompile(`warning: 2\d{5} points is more than 100000`).MatchString(stdout) || !strings.Contains(stdout, "--allow-large-plan") {
		t.Fatalf("--dry-run: exit %d\n%s", code, stdout)
	}
	code, stdout, stderr := e.run(t, t.Context(), large...)
	if code != 1 || !strings.Contains(stdout, "points is more than 100000") || !strings.Contains(stderr, "give --allow-large-plan to run it") {
		t.Fatalf("run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if n := e.sim.Stats(e.bot.ID).Requests; n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

// TestBackfillCommandStopsRefusedBot: a bot whose credentials the API
// refuses (401) is stopped at its first failing point, not tried at every
// point; the summary names it and the cause, and the exit status is 1.
func TestBackfillCommandStopsRefusedBot(t *testing.T) {
	t.Parallel()
	e := newBackfillEnv(t, 0)
	e.sim.SetFault(e.bot.ID, koretest.Fault{BadCredentials: true})
	code, stdout, stderr := e.run(t, t.Context(), "--start="+e.to.Add(-23*time.Hour).Format(time.RFC3339))
	requests := e.sim.Stats(e.bot.ID).Requests
	t.Logf("48 points of a bot answering 401: %d requests", requests)
	// Its two reports in flight may both have failed before the first 401
	// stopped it: every point not listed as failed is not tried.
	notTried := fmt.Sprintf("stopped: bot alpha stopped, %d points not tried: unauthorized", 48-strings.Count(stdout, "\nfailed: bot alpha "))
	if code != 1 || !strings.Contains(stdout, notTried) || !strings.Contains(stderr, "bots stopped") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if requests > 2 {
		t.Fatalf("%d requests to the bot answering 401, want at most 2", requests)
	}
}

// startBackfillProcess runs the backfill command in a process of its own
// (TestBackfillHelperProcess), under sh with shell, which may set limits
// (ulimit) before the command starts.
func startBackfillProcess(t *testing.T, shell string, args []string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("no sh: %v", err)
	}
	data, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), sh, "-c", shell+`; exec "$0" -test.run='^TestBackfillHelperProcess$'`, os.Args[0])
	cmd.Env = append(os.Environ(), "KORE_BACKFILL_HELPER="+string(data))
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// TestBackfillHelperProcess is the command's process for the tests that
// send it signals or limit its file sizes: it runs only when
// KORE_BACKFILL_HELPER holds the arguments (JSON), with the signals main
// handles.
func TestBackfillHelperProcess(t *testing.T) {
	data := os.Getenv("KORE_BACKFILL_HELPER")
	if data == "" {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(data), &args); err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// TestBackfillCommandSignals: SIGINT, SIGTERM and SIGHUP sent to the
// process while reports run stop it with a message naming the signal and
// exit 130; nothing is left but the state.
func TestBackfillCommandSignals(t *testing.T) {
	skipShort(t, "processes on a real clock")
	t.Parallel()
	for _, sig := range []struct {
		s          os.Signal
		name, says string
	}{{os.Interrupt, "SIGINT", "interrupt"}, {syscall.SIGTERM, "SIGTERM", "terminated"}, {syscall.SIGHUP, "SIGHUP", "hangup"}} {
		t.Run(sig.name, func(t *testing.T) {
			t.Parallel()
			e := newBackfillEnv(t, time.Minute) // the reports run until the signal
			cmd, out := startBackfillProcess(t, "true", e.args())
			for e.sim.Stats(e.bot.ID).Submits == 0 {
				if cmd.ProcessState != nil {
					t.Fatalf("exited early:\n%s", out.String())
				}
				time.Sleep(20 * time.Millisecond) // polls the simulator's count
			}
			if err := cmd.Process.Signal(sig.s); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != exitBackfillInterrupted || !strings.Contains(out.String(), `msg=interrupted by="`+sig.says+` signal received"`) {
				t.Fatalf("%v (want exit %d)\n%s", err, exitBackfillInterrupted, out.String())
			}
			if _, err := os.Stat(e.out + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("temporary file left: %v", err)
			}
		})
	}
}

// TestBackfillCommandStateWriteFailure runs the command with a file size
// limit (ulimit -f) that the state file reaches: the run stops at the
// failed write, naming the state file, with exit 1 and no report submitted
// after it; the next run, without the limit, resumes from every whole
// record (the cut one is dropped) and completes.
func TestBackfillCommandStateWriteFailure(t *testing.T) {
	skipShort(t, "a process with a file size limit")
	t.Parallel()
	e := newBackfillEnv(t, 0)
	args := e.args("--start=" + e.to.Add(-3*time.Hour).Format(time.RFC3339))
	// 32 or 64 KiB (blocks of 512 or 1024 bytes): the state of the 8 points
	// is some 80 KB, a record at most 15 KB.
	cmd, out := startBackfillProcess(t, "ulimit -f 64", args)
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(out.String(), "write state file "+e.out+".state") || !strings.Contains(out.String(), "file too large") {
		t.Fatalf("%v (want exit 1 naming the state file)\n%s", err, out.String())
	}
	submits := e.sim.Stats(e.bot.ID).Submits

	var o, s syncBuffer
	if code := run(t.Context(), args, &o, &s); code != 0 {
		t.Fatalf("rerun: exit %d\n%s\n%s", code, o.String(), s.String())
	}
	var kept int
	if _, err := fmt.Sscanf(o.String()[strings.Index(o.String(), "8 of 8 points written"):], "8 of 8 points written to "+e.out+" (%d from an earlier run)", &kept); err != nil || kept == 0 {
		t.Fatalf("rerun: %v\n%s", err, o.String())
	}
	// The whole records, the one whose write failed, and the reports of
	// the bot in flight then (2 at most).
	t.Logf("8 points: the state write failed after %d whole records; %d reports submitted in all: those, the one whose record failed and %d in flight", kept, submits, submits-kept-1)
	if submits > kept+2 {
		t.Fatalf("%d reports submitted, %d records kept: reports were submitted after the state write failed", submits, kept)
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
