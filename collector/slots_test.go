package collector

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/kore"
)

func TestSlotsGoToTheOldestDataFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSlots(1, nil)
		if err := s.acquire(t.Context(), time.Time{}); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		var mu sync.Mutex
		var order []string
		for _, w := range []struct {
			name  string
			since time.Time
		}{
			{"ran 10s ago", t0.Add(-10 * time.Second)},
			{"never ran", time.Time{}},
			{"ran 30s ago", t0.Add(-30 * time.Second)},
			{"also ran 30s ago, asked later", t0.Add(-30 * time.Second)},
		} {
			go func() {
				if err := s.acquire(t.Context(), w.since); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				order = append(order, w.name)
				mu.Unlock()
				s.release()
			}()
			synctest.Wait() // each asks in turn
		}
		if n := s.waitingJobs(); n != 4 {
			t.Fatalf("waiting = %d, want 4", n)
		}
		s.release()
		synctest.Wait()
		want := []string{"never ran", "ran 30s ago", "also ran 30s ago, asked later", "ran 10s ago"}
		if !slices.Equal(order, want) {
			t.Errorf("slots handed out in order %q, want %q", order, want)
		}
		if s.used != 0 || s.waitingJobs() != 0 {
			t.Errorf("after all: used %d, waiting %d; want 0 and 0", s.used, s.waitingJobs())
		}
	})
}

func TestSlotsWaitEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSlots(1, nil)
		if err := s.acquire(t.Context(), time.Time{}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- s.acquire(ctx, time.Time{}) }()
		synctest.Wait()
		cancel()
		if err := <-errc; err != context.Canceled {
			t.Errorf("acquire after cancel = %v, want context.Canceled", err)
		}
		if n := s.waitingJobs(); n != 0 {
			t.Errorf("waiting after cancel = %d, want 0", n)
		}
		s.release()
		if s.used != 0 {
			t.Errorf("used = %d after the only holder released, want 0 (the canceled waiter holds none)", s.used)
		}
	})
}

// TestSchedulerFairSlots: with far too few slots, every job still runs in
// turn. The bound (docs/sizing.md): the start of a job's run follows the
// start of its previous run by at most max(interval, D) + ceil(N/S) × D, for
// N jobs, S slots and runs of at most D, because a waiting job is passed by
// each other job at most once; so a job's data is never older than that
// (plus its first run's half interval, at start).
func TestSchedulerFairSlots(t *testing.T) {
	for _, tt := range []struct {
		name  string
		bots  int
		slots int
		run   func(bot int) time.Duration
	}{
		{"40 jobs of 10s, 3 slots", 20, 3, func(int) time.Duration { return 10 * time.Second }},
		{"60 jobs of 2s to 20s, 4 slots", 30, 4, func(bot int) time.Duration { return time.Duration(2+bot%10*2) * time.Second }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const interval = time.Minute
				const length = 30 * time.Minute
				var mu sync.Mutex
				starts := map[string][]time.Time{}
				runners := map[string]*fakeRunner{}
				var bots []config.Bot
				var longest time.Duration
				for i := range tt.bots {
					name := fmt.Sprintf("bot-%02d", i)
					d := tt.run(i)
					longest = max(longest, d)
					runners[name] = &fakeRunner{run: func(ctx context.Context, _ int, req kore.ReportRequest) (*kore.Report, error) {
						mu.Lock()
						k := name + "/" + req.To.Sub(req.From).String()
						starts[k] = append(starts[k], time.Now())
						mu.Unlock()
						select {
						case <-time.After(d):
							return rowsReport(kore.TaskRow{TaskName: "t", TaskType: "Dialog", Status: "success", TotalExecution: 1}), nil
						case <-ctx.Done():
							return nil, ctx.Err()
						}
					}}
					b := testBot(name, "1h", "24h")
					b.StaleAfter = time.Hour
					bots = append(bots, b)
				}
				h := newHarness(t, runners)
				jobs := 2 * tt.bots
				bound := max(interval, longest) + time.Duration((jobs+tt.slots-1)/tt.slots)*longest
				if capacity := time.Duration(tt.slots) * interval / longest; int(capacity) >= jobs {
					t.Fatalf("test setup: %d slots run %d jobs of %v a minute; want too few slots", tt.slots, int(capacity), longest)
				}

				if err := h.sched.Apply(t.Context(), &config.Config{Bots: bots, Limits: config.Limits{MaxConcurrentJobs: tt.slots}}); err != nil {
					t.Fatal(err)
				}
				// Sample the data age of every job each second.
				var maxAge time.Duration
				end := time.Now().Add(length)
				for time.Now().Before(end) {
					time.Sleep(time.Second)
					synctest.Wait()
					for _, st := range h.sched.Status() { // the published data's age
						if !st.LastSuccess.IsZero() {
							maxAge = max(maxAge, time.Since(st.LastSuccess))
						}
					}
				}
				h.sched.Stop()

				mu.Lock()
				defer mu.Unlock()
				if len(starts) != jobs {
					t.Fatalf("%d of %d jobs ran", len(starts), jobs)
				}
				var maxGap time.Duration
				fewest, most := int(^uint(0)>>1), 0
				for k, at := range starts {
					// Runs in [start, end): the jobs stop at end, where a
					// run may still start as a slot frees.
					at = slices.DeleteFunc(at, func(a time.Time) bool { return !a.Before(end) })
					fewest, most = min(fewest, len(at)), max(most, len(at))
					for i := 2; i < len(at); i++ { // from the second run: the first is off the phase
						gap := at[i].Sub(at[i-1])
						maxGap = max(maxGap, gap)
						if gap > bound {
							t.Errorf("%s: run %d started %v after the previous one, above the bound %v", k, i+1, gap, bound)
						}
					}
				}
				if most-fewest > 1 {
					t.Errorf("runs per job from %d to %d in %v: want every job to run in turn (at most one apart)", fewest, most, length)
				}
				if maxAge > bound {
					t.Errorf("oldest data seen %v, above the bound %v", maxAge, bound)
				}
				t.Logf("%d jobs, %d slots, runs up to %v: %d-%d runs per job in %v, longest gap between starts %v, oldest data %v (bound %v)",
					jobs, tt.slots, longest, fewest, most, length, maxGap, maxAge, bound)
			})
		})
	}
}

func TestSlotsResize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSlots(2, nil)
		for range 2 {
			if err := s.acquire(t.Context(), time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		var granted sync.WaitGroup
		for range 3 {
			granted.Go(func() {
				if err := s.acquire(t.Context(), time.Time{}); err != nil {
					t.Error(err)
				}
			})
		}
		synctest.Wait()
		s.resize(4) // two more slots: two waiters run at once
		synctest.Wait()
		if s.used != 4 || s.waitingJobs() != 1 {
			t.Fatalf("after growing to 4: used %d, waiting %d; want 4 and 1", s.used, s.waitingJobs())
		}
		s.resize(1) // fewer: holders keep theirs, the waiter waits for 3 releases
		for i := range 3 {
			s.release()
			synctest.Wait()
			if s.waitingJobs() != 1 {
				t.Fatalf("after shrinking to 1 and %d releases: the waiter got a slot with %d in use", i+1, s.used)
			}
		}
		s.release()
		granted.Wait()
		if s.used != 1 {
			t.Errorf("after the 4th release: used %d, want 1 (the last waiter)", s.used)
		}
	})
}

// TestSchedulerSlotMetrics: the slot gauges show the slots and the jobs
// waiting for one, and each job's last run reports its requests.
func TestSchedulerSlotMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &fakeRunner{run: func(ctx context.Context, n int, _ kore.ReportRequest) (*kore.Report, error) {
			select {
			case <-time.After(10 * time.Second):
				return &kore.Report{Requests: 3 + n%2}, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}}
		runners := map[string]*fakeRunner{}
		var bots []config.Bot
		for i := range 5 {
			name := fmt.Sprintf("b%d", i)
			runners[name] = r
			bots = append(bots, testBot(name, "1h", "24h"))
		}
		h := newHarness(t, runners)
		if err := h.sched.Apply(t.Context(), &config.Config{Bots: bots, Limits: config.Limits{MaxConcurrentJobs: 3}}); err != nil {
			t.Fatal(err)
		}
		defer h.sched.Stop()
		time.Sleep(2 * time.Second) // every job is due (start spread 1 s); 3 run
		synctest.Wait()
		if s, w := testutil.ToFloat64(h.metrics.jobSlots), testutil.ToFloat64(h.metrics.jobsWaiting); s != 3 || w != 7 {
			t.Errorf("job_slots %v, jobs_waiting %v; want 3 and 7", s, w)
		}
		time.Sleep(40 * time.Second) // 10 runs of 10 s on 3 slots
		synctest.Wait()
		if w := testutil.ToFloat64(h.metrics.jobsWaiting); w != 0 {
			t.Errorf("jobs_waiting %v after every job ran, want 0", w)
		}
		var sum float64
		for _, b := range bots {
			for _, w := range []string{"1h", "24h"} {
				v := testutil.ToFloat64(h.metrics.requests.WithLabelValues(b.Name, w))
				if v != 3 && v != 4 {
					t.Errorf("%s/%s: report_requests %v, want the run's 3 or 4", b.Name, w, v)
				}
				sum += v
			}
		}
		if sum != 35 { // runs 1..10: five of 3, five of 4
			t.Errorf("report_requests sum to %v over the 10 jobs, want 35", sum)
		}
	})
}
