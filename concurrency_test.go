package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log"
	dto "github.com/prometheus/client_model/go"

	"github.com/kore-exporter/kore_exporter/collector"
	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

// reloadNames are the bots of TestConcurrentScrapesDuringReloads.
var reloadNames = []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta"}

// reloadConfig writes the i-th good configuration of
// TestConcurrentScrapesDuringReloads: one bot of reloadNames in turn gets a
// page size of its own, so its client is rebuilt and its jobs start afresh
// (they run within a few seconds: a tenth of the interval at most), and
// beta has a 6h window besides its 2h one every other round of three. It
// returns the jobs (bot/window) the configuration has.
func reloadConfig(t *testing.T, path, host string, bots []koretest.Bot, i int) []string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "defaults:\n  host: %s\n  allow_insecure_http: true\n  interval: 1m\n  windows: [1h]\n  timeout: 50s\nbots:\n", host)
	var jobs []string
	n := len(reloadNames)
	for j, name := range reloadNames {
		// Bot j's page size goes up by one at every n-th configuration.
		fmt.Fprintf(&b, "  - name: %s\n    bot_id: %s\n    client_id: %s\n    client_secret: %q\n    page_size: %d\n",
			name, bots[j].ID, bots[j].ClientID, bots[j].ClientSecret, 40+(i+n-1-j)/n)
		if name != "beta" {
			jobs = append(jobs, name+"/1h")
		} else {
			if (i/3)%2 == 1 {
				b.WriteString("    windows: [2h, 6h]\n")
				jobs = append(jobs, "beta/2h", "beta/6h")
			} else {
				b.WriteString("    windows: [2h]\n")
				jobs = append(jobs, "beta/2h")
			}
		}
	}
	b.WriteString("limits:\n  max_concurrent_jobs: 6\n  requests_per_minute_per_bot: 30\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	slices.Sort(jobs)
	return jobs
}

// badConfigs are configurations a reload must refuse, keeping the running
// one: a YAML error and an invalid value.
var badConfigs = []string{
	"bots: [{bot_id: x, unknown_key: 1}]\n",
	"bots:\n  - {name: a, bot_id: st-1, client_id: cs-1, client_secret: s, windows: [91d]}\n",
}

// TestConcurrentScrapesDuringReloads runs the real wiring against the
// simulator while scrapers hammer /metrics, /status and /-/ready and a
// reloader applies good and bad configurations, alternately by SIGHUP and
// by POST /-/reload, each good one restarting one bot's jobs (so runs start,
// finish and are cancelled throughout) and every third one adding or
// removing a job: every scrape is answered 200 with a body that parses and
// repeats no series, every reload has the outcome it should (200 or 500;
// for SIGHUP, kore_exporter_config_last_reload_successful), and at the end
// /metrics holds the data of exactly the last good configuration's jobs.
// Run it with -race.
func TestConcurrentScrapesDuringReloads(t *testing.T) {
	skipShort(t, "reload concurrency on real sockets, signals and a real clock")
	sim := koretest.NewServer(koretest.WithJobDuration(100 * time.Millisecond))
	defer sim.Close()
	bots := koretest.DemoBots(len(reloadNames), 23)
	for _, b := range bots {
		sim.AddBot(b)
	}
	path := filepath.Join(t.TempDir(), "kore.yml")
	reloadConfig(t, path, sim.URL, bots, 0)
	e := startExporter(t, "--config.file="+path, "--web.enable-lifecycle")
	client := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
	t.Cleanup(client.CloseIdleConnections) // before the exporter stops
	// Once it answers, run() listens for SIGHUP (it does before it serves).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := client.Get(e.base + "/-/healthy"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving within 10s; logs:\n%s", e.logs.String())
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	var scrapes, others atomic.Int64
	const scrapers = 8
	for i := range scrapers {
		wg.Go(func() {
			c := &http.Client{Transport: &http.Transport{DisableCompression: i%2 == 1}, Timeout: 30 * time.Second}
			defer c.CloseIdleConnections()
			for ctx.Err() == nil {
				if err := scrapeChecked(c, e.base+"/metrics"); err != nil {
					if ctx.Err() == nil {
						t.Errorf("scraper %d: %v", i, err)
					}
					return
				}
				scrapes.Add(1)
				if i < 2 { // two scrapers look at the other pages too
					if err := checkOtherPages(c, e.base); err != nil {
						if ctx.Err() == nil {
							t.Errorf("scraper %d: %v", i, err)
						}
						return
					}
					others.Add(1)
				}
			}
		})
	}

	// The reloader: six kinds of step in turn, for a while.
	steps := []struct {
		name   string
		good   bool
		sighup bool
	}{
		{"good config by SIGHUP", true, true},
		{"good config by POST", true, false},
		{"bad config by POST", false, false},
		{"good config by POST", true, false},
		{"bad config by SIGHUP", false, true},
		{"good config by SIGHUP", true, true},
	}
	counts := map[string]int{}
	var jobs []string
	good := 0
	start := time.Now()
	for i := 0; time.Since(start) < 8*time.Second || i%len(steps) != 0; i++ {
		st := steps[i%len(steps)]
		if st.good {
			good++
			jobs = reloadConfig(t, path, sim.URL, bots, good)
		} else if err := os.WriteFile(path, []byte(badConfigs[i%len(badConfigs)]), 0o600); err != nil {
			t.Fatal(err)
		}
		if st.sighup {
			before := reloadState(t, client, e.base)
			if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			// Wait for the outcome: a newer successful reload, or a
			// failed one.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				now := reloadState(t, client, e.base)
				if st.good && now.ok && now.at > before.at || !st.good && !now.ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("step %d (%s): reload state %+v, was %+v", i, st.name, now, before)
				}
			}
		} else {
			resp, err := client.Post(e.base+"/-/reload", "text/plain", nil)
			if err != nil {
				t.Fatalf("step %d (%s): %v", i, st.name, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := http.StatusOK
			if !st.good {
				want = http.StatusInternalServerError
			}
			if resp.StatusCode != want {
				t.Errorf("step %d (%s): HTTP %d %q, want %d", i, st.name, resp.StatusCode, body, want)
			}
		}
		counts[st.name]++
		time.Sleep(250 * time.Millisecond) // time for some runs of the jobs just started
	}
	reloading := time.Since(start)
	runsWhileReloading := simJobs(sim, bots)
	if runsWhileReloading == 0 {
		t.Error("no report job was submitted while the reloads went on: nothing ran concurrently with them")
	}

	// The last configuration was good: its jobs all run, and /metrics
	// shows the data of exactly those jobs (a bad reload changed nothing,
	// a removed job's data is gone).
	var have []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		fams, err := scrapeFamilies(client, e.base+"/metrics")
		if err != nil {
			t.Fatal(err)
		}
		have = jobsWithData(fams)
		if slices.Equal(have, jobs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the last reload, /metrics has data of the jobs %v, want %v; logs:\n%s", have, jobs, e.logs.String())
		}
	}
	settled := time.Since(start) - reloading
	cancel()
	wg.Wait()

	fams, err := scrapeFamilies(client, e.base+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]float64{}
	for _, m := range fams["kore_exporter_report_runs_total"].GetMetric() {
		runs[labelsOf(m)["result"]] += m.GetCounter().GetValue()
	}
	for _, bad := range []string{"panic", "HTTP server failed", "error writing metrics", "DATA RACE"} {
		if strings.Contains(e.logs.String(), bad) {
			t.Errorf("the logs say %q:\n%s", bad, e.logs.String())
		}
	}
	t.Logf("%v of reloads: %v; %d /metrics scrapes by %d scrapers, %d rounds of /status and /-/ready, all answered 200 (ready: 200 or 503) and parsed, no series twice",
		reloading.Round(100*time.Millisecond), counts, scrapes.Load(), scrapers, others.Load())
	t.Logf("the simulator saw %d report jobs submitted while the reloads went on, %d in all; report runs finished by result (of the jobs still configured): %v; the last configuration's jobs all had data %v after it",
		runsWhileReloading, simJobs(sim, bots), runs, settled.Round(100*time.Millisecond))
}

// simJobs is how many report jobs the simulator was asked for.
func simJobs(sim *koretest.Server, bots []koretest.Bot) int {
	n := 0
	for _, b := range bots {
		n += sim.Stats(b.ID).Submits
	}
	return n
}

type reloadOutcome struct {
	ok bool
	at float64
}

// reloadState reads the reload self-metrics.
func reloadState(t *testing.T, c *http.Client, base string) reloadOutcome {
	t.Helper()
	fams, err := scrapeFamilies(c, base+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	ok, _ := gauge(fams, "kore_exporter_config_last_reload_successful", map[string]string{})
	at, _ := gauge(fams, "kore_exporter_config_last_reload_success_timestamp_seconds", map[string]string{})
	return reloadOutcome{ok == 1, at}
}

// scrapeFamilies scrapes url in the text format and parses it.
func scrapeFamilies(c *http.Client, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d: %.200s", url, resp.StatusCode, body)
	}
	fams, err := parseText(body)
	if err != nil {
		return nil, fmt.Errorf("%s: the body does not parse: %w", url, err)
	}
	return fams, nil
}

// scrapeChecked scrapes /metrics and checks that it parses and repeats no
// series.
func scrapeChecked(c *http.Client, url string) error {
	fams, err := scrapeFamilies(c, url)
	if err != nil {
		return err
	}
	if len(fams["kore_exporter_build_info"].GetMetric()) != 1 {
		return fmt.Errorf("%s: no kore_exporter_build_info", url)
	}
	for name, fam := range fams {
		seen := map[string]bool{}
		for _, m := range fam.GetMetric() {
			var id strings.Builder
			for _, l := range m.GetLabel() {
				fmt.Fprintf(&id, "%s=%q,", l.GetName(), l.GetValue())
			}
			if seen[id.String()] {
				return fmt.Errorf("%s: %s{%s} twice", url, name, id.String())
			}
			seen[id.String()] = true
		}
	}
	return nil
}

// checkOtherPages checks that /status?format=json is JSON and /-/ready
// answers 200 or 503.
func checkOtherPages(c *http.Client, base string) error {
	resp, err := c.Get(base + "/status?format=json")
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	var rows []statusRow
	if err != nil || resp.StatusCode != http.StatusOK || json.Unmarshal(body, &rows) != nil {
		return fmt.Errorf("/status?format=json: HTTP %d, %v: %.200s", resp.StatusCode, err, body)
	}
	resp, err = c.Get(base + "/-/ready")
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
		return fmt.Errorf("/-/ready: HTTP %d, %v", resp.StatusCode, err)
	}
	return nil
}

// jobsWithData returns the bot/window of every job with task series,
// sorted.
func jobsWithData(fams map[string]*dto.MetricFamily) []string {
	seen := map[string]bool{}
	for _, m := range fams["kore_task_sessions"].GetMetric() {
		l := labelsOf(m)
		seen[l["bot"]+"/"+l["window"]] = true
	}
	var out []string
	for j := range seen {
		out = append(out, j)
	}
	slices.Sort(out)
	return out
}

// TestOverlappingReloadsApplyTheNewestConfiguration: of two reloads that
// overlap (a SIGHUP and a POST /-/reload, or two POSTs of a sidecar), the
// exporter must end on the configuration the file held when the later one
// began. Here the earlier reload reads the file, then is held up (as a
// goroutine can be, between reading the file and applying it) until the
// later one, which read the newer file, has had its chance to apply it: the
// older configuration must not be applied over the newer one.
func TestOverlappingReloadsApplyTheNewestConfiguration(t *testing.T) {
	sim := koretest.NewServer(koretest.WithJobDuration(100 * time.Millisecond))
	defer sim.Close()
	bots := koretest.DemoBots(len(reloadNames), 29)
	for _, b := range bots {
		sim.AddBot(b)
	}
	path := filepath.Join(t.TempDir(), "kore.yml")
	reloadConfig(t, path, sim.URL, bots, 1)

	_, metrics, err := collector.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	logger := log.NewNopLogger()
	// The jobs' runs wait until they are stopped: only which jobs run
	// matters here.
	idle := func(config.Bot, *kore.Budgets, kore.Observer) (report.Runner, error) {
		return waitingRunner{}, nil
	}
	sched := collector.NewScheduler(collector.SchedulerOpts{Logger: logger, Store: collector.NewStore(), Metrics: metrics, NewClient: idle})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); sched.Stop() }()
	read := make(chan struct{})    // closed once the first reload has read the file
	release := make(chan struct{}) // lets it go on
	var loads atomic.Int32
	load := func() (*config.Config, error) {
		cfg, err := config.Load(path)
		if loads.Add(1) == 2 { // the first reload; load 1 is the start
			close(read)
			<-release
		}
		return cfg, err
	}
	rl := &reloader{logger: logger, source: path, sched: sched, metrics: metrics, load: load, ctx: ctx}
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.apply(cfg); err != nil {
		t.Fatal(err)
	}

	older := reloadConfig(t, path, sim.URL, bots, 3)
	first := make(chan error, 1)
	go func() { first <- rl.reload() }()
	<-read
	newer := reloadConfig(t, path, sim.URL, bots, 6)
	if slices.Equal(older, newer) {
		t.Fatalf("the two configurations have the same jobs %v", older)
	}
	second := make(chan error, 1)
	go func() { second <- rl.reload() }()
	secondDone := false
	select {
	case err := <-second: // it did not wait for the first reload
		secondDone = true
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second): // it waits for the first reload
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if !secondDone {
		if err := <-second; err != nil {
			t.Fatal(err)
		}
	}
	var running []string
	for _, j := range sched.Status() {
		running = append(running, j.Bot+"/"+j.Window)
	}
	slices.Sort(running)
	if !slices.Equal(running, newer) {
		t.Errorf("after two overlapping reloads the exporter runs the jobs %v of the older configuration; the file held %v when the second reload began", running, newer)
	}
}

// waitingRunner is a report client whose runs last until they are stopped.
type waitingRunner struct{}

func (waitingRunner) RunContainmentReport(ctx context.Context, _ string, _ kore.ReportRequest) (*kore.Report, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
