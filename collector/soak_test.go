//go:build !race

package collector

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

// TestSoak's size: the short form runs in .ci/run (the README's test
// command runs it outside -race, which would make it ten times slower; the
// code it drives is under -race in the other tests); the long form is in
// docs/reliability.md.
var (
	soakBots     = flag.Int("soak.bots", 20, "TestSoak: bots, with windows 1h and 24h each")
	soakDuration = flag.Duration("soak.duration", time.Hour, "TestSoak: simulated time to run")
	soakSeed     = flag.Uint64("soak.seed", 1, "TestSoak: seed of the faults")
)

// soakFaults are the faults TestSoak switches on and off.
var soakFaults = []struct {
	name  string
	fault koretest.Fault
}{
	{"5xx burst", koretest.Fault{ServerErrors: 3}},
	{"429 with Retry-After 5s", koretest.Fault{RateLimited: true, RetryAfter: 5 * time.Second}},
	{"jobs fail", koretest.Fault{FailJobs: true}},
	{"jobs never finish", koretest.Fault{NeverFinish: true}},
	{"HTML instead of JSON", koretest.Fault{Malformed: true}},
	{"wrong JSON types", koretest.Fault{WrongTypes: true}},
	{"truncated bodies", koretest.Fault{Truncated: true}},
	{"hung requests", koretest.Fault{Hang: true}},
	{"slow answers (20s)", koretest.Fault{Latency: 20 * time.Second}},
	{"a total that lies", koretest.Fault{TotalOffset: 1}},
}

// TestSoak runs the scheduler, store, /metrics handler and the real client
// against the in-memory simulator for soak.duration of simulated time, with
// faults switched on and off at random (seeded) on a tenth of the bots at
// a time. It checks the failure contract over time: memory and goroutines
// stay flat, no bot ever exceeds Kore.ai's request limits (the simulator
// answers no 429 the test did not inject), every scrape is valid, the data
// of a bot without a fault is never older than stale_after, and a bot
// recovers within timeout + interval after its fault ends.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("the soak (about 15 s of CPU for its simulated hour; the no-race tier runs it): skipped with -short")
	}
	synctest.Test(t, func(t *testing.T) {
		const (
			interval   = time.Minute
			timeout    = 2 * time.Minute
			staleAfter = 3 * interval
			sample     = 10 * time.Second
		)
		sim := koretest.NewInMemory(koretest.WithJobDuration(5*time.Second), koretest.WithSeed(int64(*soakSeed)))
		defer sim.Close()
		simBots := koretest.DemoBots(*soakBots, int64(*soakSeed))
		var yaml strings.Builder
		fmt.Fprintf(&yaml, "defaults: {host: %q, interval: %s, timeout: %s, stale_after: %s, windows: [1h, 24h]}\nbots:\n",
			sim.URL, interval, timeout, staleAfter)
		for i, b := range simBots {
			b.Tasks = 20
			sim.AddBot(b)
			fmt.Fprintf(&yaml, "  - {name: bot-%03d, bot_id: %s, client_id: %s, client_secret: %q}\n", i, b.ID, b.ClientID, b.ClientSecret)
		}
		cfg, err := config.Parse([]byte(yaml.String()))
		if err != nil {
			t.Fatal(err)
		}

		reg, metrics, err := NewRegistry()
		if err != nil {
			t.Fatal(err)
		}
		store := NewStore()
		sched := NewScheduler(SchedulerOpts{Store: store, Metrics: metrics,
			NewClient: func(b config.Bot, budgets *kore.Budgets, obs kore.Observer) (report.Runner, error) {
				return kore.NewClient(kore.WithHost(b.Host), kore.WithHTTPClient(sim.Client()), kore.WithObserver(obs), kore.WithBudgets(budgets),
					kore.WithCredentials(kore.Credentials{ClientID: b.ClientID, ClientSecret: b.ClientSecret.Reveal()}))
			}})
		handler := NewHandler(store, reg, HandlerOpts{Metrics: metrics})
		goroutines := runtime.NumGoroutine()
		if err := sched.Apply(t.Context(), cfg); err != nil {
			t.Fatal(err)
		}

		type botState struct {
			id           string
			fault        int       // index in soakFaults, or -1
			until        time.Time // when the fault ends
			clear        time.Time // when the last fault ended
			lastRequests int       // simulator requests at the last minute
			last429      int       // simulator 429s at the last sample
		}
		bots := make(map[string]*botState, len(cfg.Bots))
		for _, b := range cfg.Bots {
			bots[b.Name] = &botState{id: b.BotID, fault: -1}
		}
		rng := rand.New(rand.NewPCG(*soakSeed, 7))
		pending := map[string]time.Time{} // job → when its bot's fault ended, until it succeeds again
		const recovery = timeout + interval + 10*time.Second
		start := time.Now()
		var (
			episodes, recovered                     int
			worstRecovery, worstAge                 time.Duration
			maxPerMinute, maxGoroutines, scrapes    int
			heap                                    []uint64
			unexpected429                           int
			staleOK, recoveryLate, invalidExposures []string
		)
		names := make([]string, 0, len(bots))
		for n := range bots {
			names = append(names, n)
		}
		slices.Sort(names)

		for now := start; now.Sub(start) < *soakDuration; now = time.Now() {
			time.Sleep(sample)
			synctest.Wait()
			now = time.Now()
			minute := now.Sub(start)%interval < sample
			// 429s since the last sample, before this sample's fault
			// changes: only a bot whose fault made them may have them.
			for _, n := range names {
				b := bots[n]
				st := sim.Stats(b.id)
				if b.fault < 0 || !soakFaults[b.fault].fault.RateLimited {
					unexpected429 += st.RateLimited - b.last429
				}
				b.last429 = st.RateLimited
			}
			// Faults: end the due ones; start new ones on about a tenth of
			// the bots at a time, for 1 to 6 minutes, but none in the last
			// quarter, so the end shows every bot recovered.
			for _, n := range names {
				b := bots[n]
				if b.fault >= 0 && !now.Before(b.until) {
					sim.SetFault(b.id, koretest.Fault{})
					b.fault, b.clear = -1, now
					for _, w := range []string{"1h", "24h"} {
						pending[n+"/"+w] = now
					}
				}
				if minute && b.fault < 0 && now.Sub(start) < *soakDuration*3/4 && rng.IntN(50) == 0 {
					b.fault = rng.IntN(len(soakFaults))
					b.until = now.Add(time.Duration(1+rng.IntN(6)) * interval)
					sim.SetFault(b.id, soakFaults[b.fault].fault)
					episodes++
				}
			}
			if minute {
				for _, n := range names {
					b := bots[n]
					st := sim.Stats(b.id)
					perMinute := st.Requests - b.lastRequests
					maxPerMinute = max(maxPerMinute, perMinute)
					b.lastRequests = st.Requests
				}
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				heap = append(heap, ms.HeapInuse)
				// A scrape, as Prometheus sends it, parses.
				_, body, err := scrapeErr(handler, http.MethodGet, acceptText, "gzip")
				dec := expfmt.NewDecoder(bytes.NewReader(body), expfmt.NewFormat(expfmt.TypeTextPlain))
				for err == nil {
					err = dec.Decode(&dto.MetricFamily{})
				}
				if errors.Is(err, io.EOF) {
					err = nil
				}
				if err != nil {
					invalidExposures = append(invalidExposures, fmt.Sprintf("%v at %v", err, now.Sub(start)))
				}
				scrapes++
			}
			maxGoroutines = max(maxGoroutines, runtime.NumGoroutine())

			// Data: a bot without a fault since stale_after has data no
			// older than stale_after; a job whose bot's fault ended
			// succeeds again within timeout + interval (+ the 5 s job):
			// a run still in flight may take its timeout to give up.
			for _, st := range sched.Status() {
				b := bots[st.Bot]
				key := st.Bot + "/" + st.Window
				if since, ok := pending[key]; ok && b.fault < 0 {
					switch {
					case !st.LastSuccess.Before(since):
						worstRecovery = max(worstRecovery, st.LastSuccess.Sub(since))
						delete(pending, key)
					case now.Sub(since) > recovery:
						recoveryLate = append(recoveryLate, fmt.Sprintf("%s: no success %v after its fault ended", key, now.Sub(since)))
						delete(pending, key)
					}
				}
				if st.LastSuccess.IsZero() || b.fault >= 0 {
					continue
				}
				if age := now.Sub(st.LastSuccess); b.clear.IsZero() || now.Sub(b.clear) > recovery+staleAfter {
					worstAge = max(worstAge, age)
					if age > staleAfter {
						staleOK = append(staleOK, fmt.Sprintf("%s: data %v old at %v with no fault", key, age, now.Sub(start)))
					}
				}
			}
		}
		for _, n := range names {
			if b := bots[n]; !b.clear.IsZero() {
				recovered++
			}
		}
		sched.Stop()
		synctest.Wait()
		after := runtime.NumGoroutine()

		for _, list := range [][]string{staleOK, recoveryLate, invalidExposures} {
			for i, msg := range list {
				if i == 5 {
					t.Errorf("... and %d more", len(list)-5)
					break
				}
				t.Error(msg)
			}
		}
		if unexpected429 > 0 {
			t.Errorf("the simulator answered %d requests with 429 that no fault asked for: the exporter went over a bot's limit", unexpected429)
		}
		if maxPerMinute > kore.MaxRequestsPerMinute {
			t.Errorf("a bot sent %d requests in one minute, above Kore.ai's %d", maxPerMinute, kore.MaxRequestsPerMinute)
		}
		if after > goroutines {
			t.Errorf("%d goroutines after Stop, %d before Apply", after, goroutines)
		}
		// Heap in use: the last quarter no higher than the second, with
		// 25% and 4 MiB for the garbage collector's noise.
		q := len(heap) / 4
		if q > 0 {
			peak := func(s []uint64) uint64 { return slices.Max(s) }
			if mid, end := peak(heap[q:2*q]), peak(heap[3*q:]); float64(end) > 1.25*float64(mid)+4<<20 {
				t.Errorf("heap in use grew from %d to %d bytes between the second and the last quarter", mid, end)
			}
		}
		if episodes == 0 {
			t.Error("no fault was injected: raise soak.duration")
		}
		runs := map[string]float64{}
		all := prometheus.NewRegistry()
		all.MustRegister(metrics)
		mfs, err := all.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "kore_exporter_report_runs_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "result" {
						runs[l.GetValue()] += m.GetCounter().GetValue()
					}
				}
			}
		}
		t.Logf("soak: %d bots × 2 windows, %v simulated, seed %d: %d fault episodes on %d bots; runs by result %v", len(bots), *soakDuration, *soakSeed, episodes, recovered, runs)
		t.Logf("soak: heap in use per minute (after GC) first %.1f MiB, middle %.1f MiB, last %.1f MiB; goroutines at most %d while running, %d before and %d after",
			mib(heap[0]), mib(heap[len(heap)/2]), mib(heap[len(heap)-1]), maxGoroutines, goroutines, after)
		t.Logf("soak: at most %d requests per bot per minute (Kore.ai allows %d); %d scrapes, all valid; oldest data of a bot without a fault %v (stale_after %v); slowest recovery after a fault ended %v (bound %v)",
			maxPerMinute, kore.MaxRequestsPerMinute, scrapes, worstAge.Round(time.Second), staleAfter, worstRecovery.Round(time.Second), recovery)
	})
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
