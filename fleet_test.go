package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

// The fleet benchmark (docs/performance.md, "Fleet benchmark"): TestFleet starts the
// simulator with N bots whose jobs finish at submit, and the exporter as a
// subprocess against it, waits for full data, runs at least one more
// interval with concurrent scrapers, and prints what a fleet costs.
//
// It is opt-in (its short form takes about 80 s and builds a binary): it
// runs only with KORE_FLEET=1 in the environment or with any -fleet.* flag
// below set, and skips otherwise, -short or not. The defaults are the short
// form, which the README's test command (so .ci/run and make test) runs as
// its fleet tier:
//
//	KORE_FLEET=1 go test -race -run '^TestFleet$' .
//
// The flags give the long form, e.g.
//
//	go test -run '^TestFleet$' -v -timeout 30m . -args -fleet.bots=1000 -fleet.duration=5m -fleet.slots=100 -fleet.scrapers=8
//
// KORE_FLEET_BINARY names a prebuilt exporter to measure instead of building
// the working tree (to compare an older commit).
var (
	fleetBots      = flag.Int("fleet.bots", 200, "TestFleet: simulated bots")
	fleetWindows   = flag.String("fleet.windows", "1h,24h", "TestFleet: windows of every bot, comma-separated")
	fleetTasks     = flag.Int("fleet.tasks", 20, "TestFleet: tasks per bot; every report holds 2 rows (success, failtask) per task")
	fleetInterval  = flag.Duration("fleet.interval", time.Minute, "TestFleet: the bots' interval (at least 1m)")
	fleetDuration  = flag.Duration("fleet.duration", 65*time.Second, "TestFleet: how long to run after full data (at least one interval and 5s)")
	fleetSlots     = flag.Int("fleet.slots", 0, "TestFleet: limits.max_concurrent_jobs; 0 leaves it out (the exporter's default)")
	fleetBudget    = flag.Int("fleet.budget", 30, "TestFleet: limits.requests_per_minute_per_bot")
	fleetScraperN  = flag.Int("fleet.scrapers", 4, "TestFleet: concurrent scrapers; half ask for gzip (at most --web.max-requests, 40)")
	fleetScrapeDt  = flag.Duration("fleet.scrape-every", 5*time.Second, "TestFleet: every this often, all scrapers scrape at once")
	fleetFullBound = flag.Duration("fleet.full-data-within", 3*time.Minute, "TestFleet: fail unless every report has data this long after the start")
)

// fleetSampleEvery is the period of the samples after full data (RSS, CPU,
// goroutines, data age, skipped runs); the CPU buckets are this long.
const fleetSampleEvery = 5 * time.Second

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// fleetAsked reports whether TestFleet was asked for: KORE_FLEET=1 or a
// -fleet.* flag set on the command line.
func fleetAsked() bool {
	asked := os.Getenv("KORE_FLEET") == "1"
	flag.Visit(func(f *flag.Flag) { asked = asked || strings.HasPrefix(f.Name, "fleet.") })
	return asked
}

func TestFleet(t *testing.T) {
	if !fleetAsked() {
		t.Skip("the fleet benchmark is opt-in: set KORE_FLEET=1 or a -fleet.* flag (the README's test command does)")
	}
	if runtime.GOOS != "linux" {
		t.Skipf("TestFleet reads the exporter's RSS and CPU from /proc: Linux only, this is %s", runtime.GOOS)
	}
	windows := strings.Split(*fleetWindows, ",")
	if *fleetBots < 1 || *fleetTasks < 1 || len(windows) == 0 || *fleetScraperN < 1 || *fleetInterval < time.Minute {
		t.Fatalf("bad flags: -fleet.bots %d, -fleet.tasks %d, -fleet.windows %q, -fleet.scrapers %d, -fleet.interval %v",
			*fleetBots, *fleetTasks, *fleetWindows, *fleetScraperN, *fleetInterval)
	}
	steady := max(*fleetDuration, *fleetInterval+5*time.Second)
	ctx := t.Context()
	dir := t.TempDir()

	bin, binDesc := fleetBinary(t, dir)

	sim := koretest.NewServer(koretest.WithJobDuration(0))
	t.Cleanup(sim.Close)
	bots := koretest.DemoBots(*fleetBots, 6)
	for i := range bots {
		bots[i].Tasks, bots[i].Volume = *fleetTasks, koretest.DenseVolume
		sim.AddBot(bots[i])
		sim.Tasks(bots[i].ID) // builds the bot's data now, not during the run
	}
	cfgPath := writeFleetConfig(t, dir, sim.URL, bots, windows)

	ex := startFleetExporter(t, bin, cfgPath, dir)
	m := newFleetMonitor(ex, sim, bots, windows)
	t.Cleanup(m.close)

	// Up to full data: sample every second.
	var samples []fleetSample
	var full fleetSample
	for {
		s, err := m.sample(ctx)
		if err != nil {
			t.Fatalf("sampling the exporter: %v\n%s", err, ex.logTail())
		}
		samples = append(samples, s)
		if s.withData == m.jobs {
			full = s
			break
		}
		if s.since > *fleetFullBound {
			t.Fatalf("no full data within %v of the start: %d of %d reports have data\n%s", *fleetFullBound, s.withData, m.jobs, ex.logTail())
		}
		if !sleepCtx(ctx, time.Second) {
			t.Fatal(ctx.Err())
		}
	}

	// Steady phase: scrapers and samples.
	scrapeCtx, stopScrapers := context.WithCancel(ctx)
	sc := newFleetScrapers(ex.base, *fleetScraperN)
	scDone := make(chan struct{})
	go func() { defer close(scDone); sc.run(scrapeCtx, *fleetScrapeDt) }()
	t.Cleanup(func() { stopScrapers(); <-scDone; sc.close() })

	end := time.Now().Add(steady)
	tick := time.NewTicker(fleetSampleEvery)
	defer tick.Stop()
	var steadySamples []fleetSample
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-tick.C:
		}
		s, err := m.sample(ctx)
		if err != nil {
			t.Fatalf("sampling the exporter: %v\n%s", err, ex.logTail())
		}
		steadySamples = append(steadySamples, s)
	}
	stopScrapers()
	<-scDone
	last := steadySamples[len(steadySamples)-1]

	// The final bodies, parsed in full.
	plain, err := fetchParsed(ctx, ex.base, false)
	if err != nil {
		t.Fatalf("plain /metrics: %v", err)
	}
	gz, err := fetchParsed(ctx, ex.base, true)
	if err != nil {
		t.Fatalf("gzip /metrics: %v", err)
	}

	r := fleetResult{
		bots: len(bots), windows: windows, tasks: *fleetTasks, interval: *fleetInterval, slots: *fleetSlots,
		budget: *fleetBudget, scrapers: *fleetScraperN, scrapeEvery: *fleetScrapeDt, steady: steady, binary: binDesc,
		start: samples[0], full: full, last: last, steadySamples: steadySamples, scrapes: sc.results(),
		plain: plain, gzip: gz, all: append(samples, steadySamples...),
	}
	t.Logf("fleet benchmark\n%s", r.table())
	r.check(t, m.jobs)
	if t.Failed() {
		t.Logf("exporter log (tail):\n%s", ex.logTail())
	}
}

// fleetBinary returns the exporter to run: KORE_FLEET_BINARY, or one built
// from the working tree without -race (the test's own flags do not reach
// it), and a description for the table.
func fleetBinary(t *testing.T, dir string) (string, string) {
	t.Helper()
	if bin := os.Getenv("KORE_FLEET_BINARY"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(abs); err != nil {
			t.Fatalf("KORE_FLEET_BINARY: %v", err)
		}
		return abs, "KORE_FLEET_BINARY=" + bin
	}
	bin := filepath.Join(dir, "kore_exporter")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin, "built from the working tree (go build)"
}

func writeFleetConfig(t *testing.T, dir, host string, bots []koretest.Bot, windows []string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "defaults:\n  host: %s\n  allow_insecure_http: true\n  interval: %s\n  windows: [%s]\nbots:\n",
		host, model.Duration(*fleetInterval), strings.Join(windows, ", "))
	for i, bot := range bots {
		fmt.Fprintf(&b, "  - name: fleet-%04d\n    bot_id: %q\n    client_id: %q\n    client_secret: %q\n", i, bot.ID, bot.ClientID, bot.ClientSecret)
	}
	fmt.Fprintf(&b, "limits:\n  requests_per_minute_per_bot: %d\n", *fleetBudget)
	if *fleetSlots > 0 {
		fmt.Fprintf(&b, "  max_concurrent_jobs: %d\n", *fleetSlots)
	}
	path := filepath.Join(dir, "fleet.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fleetExporter is the exporter subprocess.
type fleetExporter struct {
	cmd     *exec.Cmd
	pid     int
	base    string
	logPath string
	started time.Time
}

// startFleetExporter starts the exporter and waits until it serves. Its
// cleanup stops it with SIGTERM (SIGKILL after 15 s) and fails the test if
// it did not exit 0.
func startFleetExporter(t *testing.T, bin, cfgPath, dir string) *fleetExporter {
	t.Helper()
	addr := freeAddr(t)
	logPath := filepath.Join(dir, "exporter.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	// Not t.Context(): that ends before the cleanups, which stop the
	// exporter gracefully.
	runCtx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(runCtx, bin, "--config.file="+cfgPath, "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	ex := &fleetExporter{cmd: cmd, base: "http://" + addr, logPath: logPath, started: time.Now()}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s: %v", bin, err)
	}
	ex.pid = cmd.Process.Pid
	t.Cleanup(func() {
		cancel()
		// Wait reports the cancellation even when the exporter exits 0.
		_ = cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("the exporter did not exit 0 on SIGTERM: %v\n%s", cmd.ProcessState, ex.logTail())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(ex.base + "/-/healthy")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the exporter does not serve /-/healthy within 30s: %v\n%s", err, ex.logTail())
		}
		if !sleepCtx(t.Context(), 50*time.Millisecond) {
			t.Fatal(t.Context().Err())
		}
	}
	http.DefaultClient.CloseIdleConnections()
	return ex
}

// logTail returns the end of the exporter's log.
func (e *fleetExporter) logTail() string {
	b, err := os.ReadFile(e.logPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// fleetSample is one look at the exporter: its /metrics (gzip, scanned for
// a few self-metrics) and /proc.
type fleetSample struct {
	at         time.Time
	since      time.Duration // since the exporter started
	withData   int           // reports (bot × window) with task series
	goroutines float64
	skipped    float64 // sum of kore_exporter_report_skipped_runs_total
	maxAge     time.Duration
	rss, hwm   int64  // bytes
	load       string // the machine's load averages (/proc/loadavg), for the noise
	cpuTicks   int64  // utime + stime
	// From the simulator: requests per bot, and runs (submits) and 429
	// answers over all bots, since the start.
	requests             []int
	submits, rateLimited int
}

type fleetMonitor struct {
	ex     *fleetExporter
	sim    *koretest.Server
	bots   []koretest.Bot
	jobs   int
	client *http.Client
}

func newFleetMonitor(ex *fleetExporter, sim *koretest.Server, bots []koretest.Bot, windows []string) *fleetMonitor {
	return &fleetMonitor{ex: ex, sim: sim, bots: bots, jobs: len(bots) * len(windows),
		client: &http.Client{Transport: &http.Transport{DisableCompression: true}}}
}

func (m *fleetMonitor) close() { m.client.CloseIdleConnections() }

func (m *fleetMonitor) sample(ctx context.Context) (fleetSample, error) {
	s := fleetSample{at: time.Now(), requests: make([]int, len(m.bots))}
	s.since = s.at.Sub(m.ex.started)
	for i, b := range m.bots {
		st := m.sim.Stats(b.ID)
		s.requests[i], s.submits, s.rateLimited = st.Requests, s.submits+st.Submits, s.rateLimited+st.RateLimited
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.ex.base+"/metrics", nil)
	if err != nil {
		return s, err
	}
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := m.client.Do(req)
	if err != nil {
		return s, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("GET /metrics: HTTP %d", resp.StatusCode)
	}
	var body io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return s, fmt.Errorf("GET /metrics: %w", err)
		}
		body = zr
	}
	withData := make(map[string]bool, m.jobs)
	var oldest float64
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte("kore_task_sessions{")):
			withData[labelValue(line, "bot")+"\x00"+labelValue(line, "window")] = true
		case bytes.HasPrefix(line, []byte("kore_exporter_report_last_success_timestamp_seconds{")):
			if v := lineValue(line); v > 0 && (oldest == 0 || v < oldest) {
				oldest = v
			}
		case bytes.HasPrefix(line, []byte("kore_exporter_report_skipped_runs_total{")):
			s.skipped += lineValue(line)
		case bytes.HasPrefix(line, []byte("go_goroutines ")):
			s.goroutines = lineValue(line)
		}
	}
	if err := sc.Err(); err != nil {
		return s, fmt.Errorf("reading /metrics: %w", err)
	}
	s.withData = len(withData)
	if oldest > 0 {
		s.maxAge = s.at.Sub(time.Unix(0, int64(oldest*1e9)))
	}
	if s.rss, s.hwm, err = procMemory(m.ex.pid); err != nil {
		return s, err
	}
	if s.cpuTicks, err = procCPU(m.ex.pid); err != nil {
		return s, err
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		s.load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return s, nil
}

// labelValue returns the value of label name in an exposition line, for
// values without escapes (the fleet's bot names and windows).
func labelValue(line []byte, name string) string {
	for _, sep := range []string{"{", ","} {
		key := []byte(sep + name + `="`)
		if i := bytes.Index(line, key); i >= 0 {
			rest := line[i+len(key):]
			if j := bytes.IndexByte(rest, '"'); j >= 0 {
				return string(rest[:j])
			}
		}
	}
	return ""
}

// lineValue returns the sample value of an exposition line without a
// timestamp; NaN-free lines only (0 when it does not parse).
func lineValue(line []byte) float64 {
	i := bytes.LastIndexByte(line, ' ')
	v, err := strconv.ParseFloat(string(line[i+1:]), 64)
	if err != nil {
		return 0
	}
	return v
}

// procMemory returns VmRSS and VmHWM (peak RSS) of pid in bytes.
func procMemory(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("exporter memory: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("exporter memory: %s: %w", line, err)
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	if rss == 0 || hwm == 0 {
		return 0, 0, fmt.Errorf("exporter memory: no VmRSS or VmHWM in /proc/%d/status", pid)
	}
	return rss, hwm, nil
}

// procCPU returns utime + stime of pid in clock ticks.
func procCPU(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("exporter CPU: %w", err)
	}
	// The fields after the command name (in parentheses, which may hold
	// spaces): state is field 3, utime 14 and stime 15.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("exporter CPU: cannot parse /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("exporter CPU: %w", err)
	}
	return utime + stime, nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// meanRequests returns the requests per bot per minute between two
// samples, on average over the bots.
func meanRequests(a, b fleetSample) float64 {
	var sum int
	for i := range a.requests {
		sum += b.requests[i] - a.requests[i]
	}
	return float64(sum) / float64(len(a.requests)) / b.at.Sub(a.at).Minutes()
}

// mostRequests returns the most requests any bot made between two samples
// at most a minute apart: a lower bound of its busiest rolling minute,
// close to it at a sample every few seconds.
func mostRequests(samples []fleetSample) int {
	most := 0
	i := 0
	for j := range samples {
		for samples[j].at.Sub(samples[i].at) > time.Minute {
			i++
		}
		for k := range samples[j].requests {
			most = max(most, samples[j].requests[k]-samples[i].requests[k])
		}
	}
	return most
}

// scrapeResult is one scrape by the concurrent scrapers.
type scrapeResult struct {
	gzip    bool
	latency time.Duration // request to the body's last byte
	bytes   int64
	err     error
}

// fleetScrapers are K clients that scrape /metrics at the same moments,
// each on its own keep-alive connection, the odd ones asking for gzip.
type fleetScrapers struct {
	base    string
	clients []*http.Client
	mu      sync.Mutex
	res     []scrapeResult
}

func newFleetScrapers(base string, k int) *fleetScrapers {
	s := &fleetScrapers{base: base}
	for range k {
		s.clients = append(s.clients, &http.Client{Transport: &http.Transport{DisableCompression: true}})
	}
	return s
}

func (s *fleetScrapers) run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		var wg sync.WaitGroup
		for i, c := range s.clients {
			wg.Go(func() {
				r := scrapeOnce(ctx, c, s.base, i%2 == 1)
				if ctx.Err() != nil {
					return // cut off by the end of the run
				}
				s.mu.Lock()
				s.res = append(s.res, r)
				s.mu.Unlock()
			})
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *fleetScrapers) results() []scrapeResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.res)
}

func (s *fleetScrapers) close() {
	for _, c := range s.clients {
		c.CloseIdleConnections()
	}
}

func scrapeOnce(ctx context.Context, c *http.Client, base string, gz bool) scrapeResult {
	r := scrapeResult{gzip: gz}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		r.err = err
		return r
	}
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		r.err = err
		return r
	}
	defer resp.Body.Close()
	r.bytes, err = io.Copy(io.Discard, resp.Body)
	r.latency = time.Since(start)
	switch {
	case err != nil:
		r.err = err
	case resp.StatusCode != http.StatusOK:
		r.err = fmt.Errorf("HTTP %d", resp.StatusCode)
	case gz != (resp.Header.Get("Content-Encoding") == "gzip"):
		r.err = fmt.Errorf("gzip %v asked, Content-Encoding %q answered", gz, resp.Header.Get("Content-Encoding"))
	}
	return r
}

// parsedBody is a /metrics answer parsed in full with expfmt.
type parsedBody struct {
	bytes, decoded int64
	series         int            // every sample line
	taskSeries     int            // kore_task_* series
	reports        map[string]int // bot\x00window → kore_task_sessions series
}

func fetchParsed(ctx context.Context, base string, gz bool) (parsedBody, error) {
	var p parsedBody
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return p, err
	}
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := c.Do(req)
	if err != nil {
		return p, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return p, err
	}
	if resp.StatusCode != http.StatusOK {
		return p, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	p.bytes = int64(len(raw))
	body := raw
	if gz {
		if resp.Header.Get("Content-Encoding") != "gzip" {
			return p, errors.New("asked for gzip, got none")
		}
		var err error
		if body, err = gunzip(raw); err != nil {
			return p, fmt.Errorf("gzip: %w", err)
		}
	}
	p.decoded = int64(len(body))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return p, fmt.Errorf("expfmt: %w", err)
	}
	p.reports = make(map[string]int)
	for name, fam := range fams {
		p.series += len(fam.GetMetric())
		if !strings.HasPrefix(name, "kore_task_") {
			continue
		}
		p.taskSeries += len(fam.GetMetric())
		if name != "kore_task_sessions" {
			continue
		}
		for _, m := range fam.GetMetric() {
			l := labelsOf(m)
			p.reports[l["bot"]+"\x00"+l["window"]]++
		}
	}
	return p, nil
}

// fleetResult is everything the table shows.
type fleetResult struct {
	bots, tasks, slots, budget, scrapers int
	windows                              []string
	interval, scrapeEvery, steady        time.Duration
	binary                               string
	start, full, last                    fleetSample
	steadySamples                        []fleetSample
	scrapes                              []scrapeResult
	plain, gzip                          parsedBody
	// all are the samples from the start, every second until full data,
	// then every fleetSampleEvery.
	all []fleetSample
}

// lastMinute returns the first sample of the run's last minute.
func (r *fleetResult) lastMinute() fleetSample {
	for _, s := range r.all {
		if r.last.at.Sub(s.at) <= time.Minute+fleetSampleEvery/2 {
			return s
		}
	}
	return r.last
}

func (r *fleetResult) table() string {
	var b strings.Builder
	jobs := r.bots * len(r.windows)
	slots := "the exporter's default"
	if r.slots > 0 {
		slots = strconv.Itoa(r.slots)
	}
	fmt.Fprintf(&b, "fleet: %d bots × windows %s = %d reports of %d tasks × 2 statuses (%d task series); interval %v; max_concurrent_jobs %s; requests_per_minute_per_bot %d\n",
		r.bots, strings.Join(r.windows, ","), jobs, r.tasks, jobs*r.tasks*2*5, r.interval, slots, r.budget)
	fmt.Fprintf(&b, "run: %v after full data; %d scrapers at once every %v (half gzip); %d CPUs; exporter %s\n",
		r.steady.Round(time.Second), r.scrapers, r.scrapeEvery, runtime.NumCPU(), r.binary)
	row := func(k, format string, a ...any) { fmt.Fprintf(&b, "| %-58s | %s |\n", k, fmt.Sprintf(format, a...)) }
	fmt.Fprintf(&b, "| %-58s | %s |\n|%s|%s|\n", "measure", "value", strings.Repeat("-", 60), "---")
	row("time to full data (every report on /metrics)", "%.1f s (sampled every 1 s)", r.full.since.Seconds())
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	row("RSS at full data / end; peak (VmHWM)", "%.0f / %.0f MiB; peak %.0f MiB", mib(r.full.rss), mib(r.last.rss), mib(r.last.hwm))
	minRSS, maxRSS := r.last.rss, r.last.rss
	for _, s := range r.steadySamples {
		minRSS, maxRSS = min(minRSS, s.rss), max(maxRSS, s.rss)
	}
	row("RSS over the run after full data: min / max", "%.0f / %.0f MiB", mib(minRSS), mib(maxRSS))
	mid := r.steadySamples[len(r.steadySamples)/2]
	row("goroutines (go_goroutines) start / full data / mid / end", "%.0f / %.0f / %.0f / %.0f", r.start.goroutines, r.full.goroutines, mid.goroutines, r.last.goroutines)
	row("API requests per bot per minute: mean after full data / in the last minute", "%.2f / %.2f (simulator's count)", meanRequests(r.full, r.last), meanRequests(r.lastMinute(), r.last))
	row("API requests of the busiest bot in any minute; budget", "%d; %d (simulator's count, minutes between samples)", mostRequests(r.all), r.budget)
	row("API requests per run; 429 answers", "%.2f; %d (simulator's count, since the start)", float64(sum(r.last.requests))/float64(max(r.last.submits, 1)), r.last.rateLimited)
	row("skipped runs (sum of kore_exporter_report_skipped_runs_total)", "%.0f at full data, %.0f at the end", r.full.skipped, r.last.skipped)
	missing := jobs - len(r.plain.reports)
	row("reports without data at the end (missing or expired)", "%d of %d", missing, jobs)
	var worstAge time.Duration
	for _, s := range r.steadySamples {
		worstAge = max(worstAge, s.maxAge)
	}
	row("max data age (now − last success, oldest job): worst / end", "%.0f s / %.0f s (sampled every %v)", worstAge.Seconds(), r.last.maxAge.Seconds(), fleetSampleEvery)
	for _, gz := range []bool{false, true} {
		var lat []time.Duration
		var size int64
		errs := 0
		for _, s := range r.scrapes {
			if s.gzip != gz {
				continue
			}
			if s.err != nil {
				errs++
				continue
			}
			lat = append(lat, s.latency)
			size = s.bytes
		}
		name := "plain"
		if gz {
			name = "gzip"
		}
		slices.Sort(lat)
		row(fmt.Sprintf("scrape %s: p50 / p99 / max (%d scrapes, %d errors)", name, len(lat), errs), "%s / %s / %s; body %.1f MiB",
			ms(percentile(lat, 50)), ms(percentile(lat, 99)), ms(percentile(lat, 100)), mib(size))
	}
	row("final scrape: series; task series", "%d; %d (plain and gzip parse with expfmt)", r.plain.series, r.plain.taskSeries)
	mean, most, n := cpuBuckets(r.steadySamples, time.Minute)
	row(fmt.Sprintf("exporter CPU per %v over the last minute: mean / max", fleetSampleEvery), "%.2f / %.2f cores (%d buckets)", mean, most, n)
	row("exporter CPU after full data, mean", "%.2f cores", cpuCores(r.full, r.last))
	row("machine load averages (1, 5, 15 min) at the start / end", "%s / %s (everything on the machine)", r.start.load, r.last.load)
	return b.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// percentile returns the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (p*len(sorted)+99)/100 - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func cpuCores(a, b fleetSample) float64 {
	d := b.at.Sub(a.at).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(b.cpuTicks-a.cpuTicks) / clockTicks / d
}

// cpuBuckets returns the mean and largest CPU use (in cores) of the
// intervals between consecutive samples in the last span, and their number.
func cpuBuckets(samples []fleetSample, span time.Duration) (mean, most float64, n int) {
	if len(samples) < 2 {
		return 0, 0, 0
	}
	from := samples[len(samples)-1].at.Add(-span - fleetSampleEvery/2)
	var sum float64
	for i := 1; i < len(samples); i++ {
		if samples[i-1].at.Before(from) {
			continue
		}
		c := cpuCores(samples[i-1], samples[i])
		sum, most, n = sum+c, max(most, c), n+1
	}
	if n == 0 {
		return 0, 0, 0
	}
	return sum / float64(n), most, n
}

// check asserts what does not depend on the machine's speed.
func (r *fleetResult) check(t *testing.T, jobs int) {
	t.Helper()
	for _, p := range []parsedBody{r.plain, r.gzip} {
		if len(p.reports) != jobs {
			t.Errorf("at the end %d of %d reports have data on /metrics", len(p.reports), jobs)
		}
		for k, n := range p.reports {
			if n != 2*r.tasks {
				t.Errorf("report %q: %d kore_task_sessions series, want %d", k, n, 2*r.tasks)
				break
			}
		}
	}
	if r.plain.taskSeries != r.gzip.taskSeries {
		t.Errorf("plain and gzip answers differ: %d vs %d task series", r.plain.taskSeries, r.gzip.taskSeries)
	}
	// Goroutines may move with the jobs and connections in flight, not
	// with the number of runs: a leak of one per run would add thousands.
	mid := r.steadySamples[len(r.steadySamples)/2]
	slack := 50 + mid.goroutines/10 + 4*float64(max(r.slots, 4)) + 4*float64(r.scrapers)
	if r.last.goroutines > mid.goroutines+slack {
		t.Errorf("goroutines grew from %.0f (mid-run) to %.0f (end), beyond the slack of %.0f", mid.goroutines, r.last.goroutines, slack)
	}
	if most := mostRequests(r.all); most > r.budget {
		t.Errorf("a bot made %d requests within a minute, above its budget of %d", most, r.budget)
	}
	if r.last.rateLimited > 0 {
		t.Errorf("the simulator answered 429 %d times", r.last.rateLimited)
	}
	var errs []error
	for _, s := range r.scrapes {
		if s.err != nil {
			errs = append(errs, s.err)
		}
	}
	if len(errs) > 0 {
		t.Errorf("%d of %d scrapes failed, the first: %v", len(errs), len(r.scrapes), errs[0])
	}
	if len(r.scrapes) == 0 {
		t.Error("no scrape finished")
	}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}
