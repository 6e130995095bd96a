package collector

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

// runRows are the rows run n of a job publishes: 1 + n%5 tasks, every
// count n. A scrape shows one run of a job iff all its task series show
// one value n, and there are 1 + n%5 of them in each family.
func runRows(n int64) []kore.TaskRow {
	rows := make([]kore.TaskRow, 1+n%5)
	for i := range rows {
		rows[i] = kore.TaskRow{TaskName: "task" + strconv.Itoa(i), TaskType: "dialog", Status: "success",
			TotalExecution: n, TotalSession: n, SelfServiceSessions: n, DropOffSessions: n, AgentTransferSessions: n}
	}
	return rows
}

var consistencyTaskFamilies = [...]string{
	"kore_task_executions", "kore_task_sessions", "kore_task_self_service_sessions",
	"kore_task_drop_off_sessions", "kore_task_agent_transfer_sessions",
}

// TestScrapesAreConsistentSnapshots: while every job publishes run after
// run in a tight loop (one goroutine per job, several at once), a reloader
// replaces the bots and drops and sweeps parts, and scrapers scrape the
// real handler over HTTP, every scrape is one consistent snapshot: the
// rows of a job all come from one run (never rows of two runs mixed, nor
// rows of an older run left over), the kore_bot_info series all come from
// one SetBots, a job's self-metrics all come from one run, and a scraper
// never sees a job go back to an older run. Run it with -race.
func TestScrapesAreConsistentSnapshots(t *testing.T) {
	if testing.Short() {
		t.Skip("scrape consistency under load for 5 s on a real clock: skipped with -short")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const bots, scrapers = 4, 6
	windows := [...]string{"1h", "24h"}
	store := NewStore()
	reg, metrics, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(store, reg, HandlerOpts{Metrics: metrics, MaxRequestsInFlight: scrapers}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var published, reloads, scrapes, changes atomic.Int64
	for b := range bots {
		for _, w := range windows {
			wg.Go(func() {
				bot := "bot" + strconv.Itoa(b)
				for n := int64(1); ctx.Err() == nil; n++ {
					metrics.RunStarted(bot, w)
					rows := runRows(n)
					if _, err := store.Publish(bot, w, rows, time.Now(), time.Time{}); err != nil {
						t.Errorf("publish %s/%s run %d: %v", bot, w, n, err)
						return
					}
					metrics.RunEnded(bot, w, RunOutcome{Result: report.ResultSuccess, Duration: time.Duration(n) * time.Second, At: time.Now(), Rows: len(rows)})
					published.Add(1)
				}
			})
		}
	}
	// The reloader: every bot of one SetBots carries its generation as a
	// label; every third one drops bot3's parts (its publishers put them
	// back), as a reload that removes a bot would.
	wg.Go(func() {
		for gen := 0; ctx.Err() == nil; gen++ {
			infos := make([]BotInfo, bots)
			for b := range infos {
				infos[b] = BotInfo{Name: "bot" + strconv.Itoa(b), BotID: "st-" + strconv.Itoa(b), Host: "http://kore.test",
					Labels: map[string]string{"generation": strconv.Itoa(gen)}}
			}
			store.SetBots(infos)
			if gen%3 == 0 {
				store.Retain(func(bot, _ string) bool { return bot != "bot3" })
			}
			store.Sweep(time.Now())
			reloads.Add(1)
			time.Sleep(time.Millisecond)
		}
	})
	for i := range scrapers {
		wg.Go(func() {
			// Half the scrapers take gzip, half identity.
			tr := &http.Transport{DisableCompression: i%2 == 1}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			last := map[[2]string]int64{}
			for ctx.Err() == nil {
				fams, err := scrapeText(client, srv.URL)
				if err != nil {
					t.Errorf("scraper %d: %v", i, err)
					return
				}
				scrapes.Add(1)
				runs, problems := checkSnapshot(fams)
				for _, p := range problems {
					t.Errorf("scraper %d: %s", i, p)
				}
				if len(problems) > 0 {
					return
				}
				for job, n := range runs {
					if n < last[job] {
						t.Errorf("scraper %d: %s/%s went back from run %d to run %d", i, job[0], job[1], last[job], n)
					}
					if n > last[job] && last[job] > 0 {
						changes.Add(1)
					}
					last[job] = n
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d runs published by %d jobs, %d reloads, %d snapshots; %d scrapes by %d scrapers, all consistent; %d times a scraper saw a job's newer run",
		published.Load(), bots*len(windows), reloads.Load(), store.Load().Generation(), scrapes.Load(), scrapers, changes.Load())
	// Not vacuous: every job ran a few times, and the scrapers saw it.
	if scrapes.Load() < scrapers || changes.Load() == 0 || published.Load() < int64(3*bots*len(windows)) {
		t.Errorf("too little happened to check anything: %d scrapes, %d changes seen, %d runs", scrapes.Load(), changes.Load(), published.Load())
	}
}

// scrapeText scrapes url in the text format and parses the answer.
func scrapeText(client *http.Client, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// checkSnapshot checks that one scrape shows each job's data and
// self-metrics from one run, and the bots from one SetBots. It returns
// each job's run (from its data) and the problems.
func checkSnapshot(fams map[string]*dto.MetricFamily) (map[[2]string]int64, []string) {
	var problems []string
	label := func(m *dto.Metric, name string) string {
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
		return ""
	}
	key := func(m *dto.Metric) [2]string { return [2]string{label(m, "bot"), label(m, "window")} }

	// The data: per job, one value in every series of every family, and
	// as many series as that run has rows.
	runs := map[[2]string]int64{}
	perFamily := map[[2]string]map[string]int{}
	for _, name := range consistencyTaskFamilies {
		for _, m := range fams[name].GetMetric() {
			k, v := key(m), int64(m.GetGauge().GetValue())
			if n, ok := runs[k]; ok && n != v {
				problems = append(problems, fmt.Sprintf("%s/%s mixes runs %d and %d (%s)", k[0], k[1], n, v, name))
			}
			runs[k] = v
			if perFamily[k] == nil {
				perFamily[k] = map[string]int{}
			}
			perFamily[k][name]++
		}
	}
	for k, n := range runs {
		for _, name := range consistencyTaskFamilies {
			if got, want := perFamily[k][name], len(runRows(n)); got != want {
				problems = append(problems, fmt.Sprintf("%s/%s run %d: %d %s series, want %d", k[0], k[1], n, got, name, want))
			}
		}
	}

	// The bots: one generation.
	gens := map[string]bool{}
	for _, m := range fams["kore_bot_info"].GetMetric() {
		gens[label(m, "generation")] = true
	}
	if len(gens) > 1 {
		problems = append(problems, fmt.Sprintf("kore_bot_info mixes generations %v", gens))
	}

	// The self-metrics: per job, runs_total{result="success"} = n,
	// duration = n seconds, rows = the rows of run n.
	selfRuns := map[[2]string]float64{}
	for _, m := range fams["kore_exporter_report_runs_total"].GetMetric() {
		if label(m, "result") == report.ResultSuccess {
			selfRuns[key(m)] = m.GetCounter().GetValue()
		}
	}
	durations := map[[2]string]float64{}
	for _, m := range fams["kore_exporter_report_duration_seconds"].GetMetric() {
		durations[key(m)] = m.GetGauge().GetValue()
	}
	for _, m := range fams["kore_exporter_report_rows"].GetMetric() {
		k := key(m)
		n, ok := selfRuns[k]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s/%s has report_rows but no successful runs", k[0], k[1]))
		case durations[k] != n || m.GetGauge().GetValue() != float64(len(runRows(int64(n)))):
			problems = append(problems, fmt.Sprintf("%s/%s self-metrics mix runs: runs_total %v, duration %v, rows %v",
				k[0], k[1], n, durations[k], m.GetGauge().GetValue()))
		}
	}
	return runs, problems
}
