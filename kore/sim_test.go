package kore_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kore-exporter/kore_exporter/kore"
	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

// Integration tests against the simulator, in memory and inside synctest
// bubbles: jobs take simulated seconds, retries wait simulated minutes.

var simBot = koretest.Bot{
	ID:           "st-0f1e2d3c-0000-5000-8000-0000000000aa",
	ClientID:     "cs-0f1e2d3c-0000-5000-8000-0000000000bb",
	ClientSecret: "sim-secret-0123456789abcdef+/=",
	EnforceJTI:   true,
	Tasks:        40,
}

func newSim(t testing.TB, bot koretest.Bot, simOpts []koretest.Option, opts ...kore.Option) (*koretest.Server, *kore.Client) {
	t.Helper()
	sim := koretest.NewInMemory(simOpts...)
	t.Cleanup(sim.Close)
	sim.AddBot(bot)
	base := []kore.Option{
		kore.WithHost(sim.URL),
		kore.WithCredentials(kore.Credentials{ClientID: bot.ClientID, ClientSecret: bot.ClientSecret}),
		kore.WithHTTPClient(sim.Client()),
	}
	c, err := kore.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

// window is the last 7 days up to the last full hour, so the simulator's
// data for it no longer changes.
func window() (from, to time.Time) {
	to = time.Now().UTC().Truncate(time.Hour)
	return to.AddDate(0, 0, -7), to
}

func compareExpected(t *testing.T, sim *koretest.Server, from, to time.Time, f koretest.Filters, rep *kore.Report) {
	t.Helper()
	want := sim.Expected(simBot.ID, from, to, f)
	var got []koretest.Row
	for _, r := range rep.Rows {
		if r.TotalExecution|r.TotalSession|r.SelfServiceSessions|r.DropOffSessions|r.AgentTransferSessions == 0 {
			continue // Expected leaves all-zero rows out
		}
		got = append(got, koretest.Row{TaskName: r.TaskName, TaskType: r.TaskType, Status: r.Status,
			TotalExecution: r.TotalExecution, TotalSession: r.TotalSession, SelfServiceSessions: r.SelfServiceSessions,
			DropOffSessions: r.DropOffSessions, AgentTransferSessions: r.AgentTransferSessions})
	}
	if len(want) == 0 {
		t.Fatal("the simulator expects no rows; the test proves nothing")
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestSimulatorFullReport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		pageSize int
		agg      string
		filters  koretest.Filters
	}{
		{"cumulative one page", 1000, "", koretest.Filters{}},
		{"cumulative many pages", 7, "", koretest.Filters{}},
		{"daily pages", 25, kore.AggregationDaily, koretest.Filters{}},
		{"filtered", 5, "", koretest.Filters{ConversationType: kore.ConversationTypeInteractive, ConversationStatus: kore.ConversationStatusClosed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				sim, c := newSim(t, simBot, []koretest.Option{koretest.WithJobDuration(20 * time.Second)})
				from, to := window()
				rep, err := c.RunContainmentReport(t.Context(), simBot.ID, kore.ReportRequest{
					From: from, To: to, AggregationType: tt.agg, PageSize: tt.pageSize,
					ConversationType: tt.filters.ConversationType, ConversationStatus: tt.filters.ConversationStatus,
				})
				if err != nil {
					t.Fatal(err)
				}
				compareExpected(t, sim, from, to, tt.filters, rep)
				st := sim.Stats(simBot.ID)
				if rep.Pages != (rep.Total+tt.pageSize-1)/tt.pageSize || st.Submits != rep.Pages || st.Pages != rep.Pages ||
					st.Polls != rep.Polls || rep.Reruns != 0 || st.RateLimited+st.Unauthorized+st.BadRequests != 0 {
					t.Errorf("report pages %d polls %d total %d; simulator %+v", rep.Pages, rep.Polls, rep.Total, st)
				}
			})
		})
	}
}

func TestSimulatorFaults(t *testing.T) {
	t.Parallel()
	type check func(t *testing.T, sim *koretest.Server, rep *kore.Report, err error)
	is := func(target error) check {
		return func(t *testing.T, _ *koretest.Server, _ *kore.Report, err error) {
			if !errors.Is(err, target) {
				t.Fatalf("err = %v, want %v", err, target)
			}
		}
	}
	tests := []struct {
		name string
		// fault is set before the run; pollFault once the job is
		// submitted (from OnProgress), to hit the status calls only.
		fault, pollFault koretest.Fault
		timeout          time.Duration
		opts             []kore.Option
		check            check
	}{
		{name: "5xx burst on polls recovered", pollFault: koretest.Fault{ServerErrors: 4}, check: func(t *testing.T, sim *koretest.Server, rep *kore.Report, err error) {
			if err != nil {
				t.Fatal(err)
			}
			if st := sim.Stats(simBot.ID); st.ServerErrors != 4 {
				t.Errorf("stats %+v", st)
			}
		}},
		{name: "5xx on submit not retried", fault: koretest.Fault{ServerErrors: 1}, check: func(t *testing.T, sim *koretest.Server, _ *kore.Report, err error) {
			var ae *kore.APIError
			if !errors.As(err, &ae) || ae.StatusCode != 500 || sim.Stats(simBot.ID).Requests != 1 {
				t.Fatalf("err = %v, stats %+v", err, sim.Stats(simBot.ID))
			}
		}},
		{name: "malformed", fault: koretest.Fault{Malformed: true}, check: is(kore.ErrInvalidResponse)},
		{name: "wrong types", pollFault: koretest.Fault{WrongTypes: true}, check: func(t *testing.T, _ *koretest.Server, _ *kore.Report, err error) {
			var de *kore.DecodeError
			if !errors.As(err, &de) || de.Field == "" {
				t.Fatalf("err = %v, want a DecodeError naming a field", err)
			}
		}},
		{name: "truncated", fault: koretest.Fault{Truncated: true}, check: func(t *testing.T, _ *koretest.Server, _ *kore.Report, err error) {
			var re *kore.RequestError
			if !errors.As(err, &re) && !errors.Is(err, kore.ErrInvalidResponse) {
				t.Fatalf("err = %v", err)
			}
		}},
		{name: "failed job", fault: koretest.Fault{FailJobs: true}, check: is(kore.ErrJobFailed)},
		{name: "never finishes: expired", fault: koretest.Fault{NeverFinish: true}, check: is(kore.ErrJobExpired)},
		{name: "never finishes: deadline", fault: koretest.Fault{NeverFinish: true}, timeout: 5 * time.Minute, check: is(context.DeadlineExceeded)},
		{name: "rate limited past the deadline", fault: koretest.Fault{RateLimited: true, RetryAfter: 90 * time.Second}, timeout: time.Minute,
			check: func(t *testing.T, _ *koretest.Server, _ *kore.Report, err error) {
				var rl *kore.RateLimitError
				if !errors.As(err, &rl) || rl.RetryAfter != 90*time.Second {
					t.Fatalf("err = %v, want RateLimitError", err)
				}
			}},
		{name: "rate limited until attempts run out", fault: koretest.Fault{RateLimited: true, RetryAfter: 5 * time.Second}, opts: []kore.Option{kore.WithMaxAttempts(3)},
			check: func(t *testing.T, sim *koretest.Server, _ *kore.Report, err error) {
				if !errors.Is(err, kore.ErrRateLimited) || sim.Stats(simBot.ID).RateLimited != 3 {
					t.Fatalf("err = %v, stats %+v", err, sim.Stats(simBot.ID))
				}
			}},
		{name: "split rows summed", fault: koretest.Fault{SplitRows: true}, check: func(t *testing.T, sim *koretest.Server, rep *kore.Report, err error) {
			if err != nil {
				t.Fatal(err)
			}
			if rep.RawRows <= len(rep.Rows) {
				t.Errorf("raw rows %d, summed %d: no split records seen", rep.RawRows, len(rep.Rows))
			}
			from, to := window()
			compareExpected(t, sim, from, to, koretest.Filters{}, rep)
		}},
		{name: "total off by one: reruns, then inconsistent", fault: koretest.Fault{TotalOffset: 1}, check: func(t *testing.T, sim *koretest.Server, rep *kore.Report, err error) {
			if !errors.Is(err, kore.ErrInconsistentPages) || rep == nil || rep.Reruns != 2 || sim.Stats(simBot.ID).Submits != 3 {
				t.Fatalf("err = %v, report %+v, stats %+v", err, rep, sim.Stats(simBot.ID))
			}
		}},
		{name: "total that lies: fails after one page", fault: koretest.Fault{TotalOffset: 1_000_000_000}, check: func(t *testing.T, sim *koretest.Server, _ *kore.Report, err error) {
			if !errors.Is(err, kore.ErrReportTooLarge) || sim.Stats(simBot.ID).Submits != 1 {
				t.Fatalf("err = %v, stats %+v", err, sim.Stats(simBot.ID))
			}
		}},
		{name: "hung submit times out, not retried", fault: koretest.Fault{Hang: true}, opts: []kore.Option{kore.WithRequestTimeout(10 * time.Second)},
			check: func(t *testing.T, sim *koretest.Server, _ *kore.Report, err error) {
				var re *kore.RequestError
				if !errors.As(err, &re) || sim.Stats(simBot.ID).Requests != 1 {
					t.Fatalf("err = %v, stats %+v", err, sim.Stats(simBot.ID))
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				sim, c := newSim(t, simBot, []koretest.Option{koretest.WithJobDuration(10 * time.Second)}, tt.opts...)
				sim.SetFault(simBot.ID, tt.fault)
				ctx := t.Context()
				if tt.timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.timeout)
					defer cancel()
				}
				from, to := window()
				armed := tt.pollFault != (koretest.Fault{})
				rep, err := c.RunContainmentReport(ctx, simBot.ID, kore.ReportRequest{From: from, To: to, PageSize: 500,
					OnProgress: func(int) {
						if armed {
							armed = false
							sim.SetFault(simBot.ID, tt.pollFault)
						}
					}})
				tt.check(t, sim, rep, err)
				// The run counts every request the simulator saw, retries
				// included, whatever the answer.
				if rep != nil && rep.Requests != sim.Stats(simBot.ID).Requests {
					t.Errorf("report counts %d requests, the simulator saw %d", rep.Requests, sim.Stats(simBot.ID).Requests)
				}
			})
		})
	}
}

func TestSimulatorAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		bot    koretest.Bot
		secret string
		want   kore.AuthReason
	}{
		{"wrong secret", simBot, "not-the-secret", kore.AuthBadCredentials},
		{"no metrics scope", func() koretest.Bot { b := simBot; b.NoMetricsScope = true; return b }(), simBot.ClientSecret, kore.AuthScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sim, c := newSim(t, tt.bot, nil, kore.WithCredentials(kore.Credentials{ClientID: simBot.ClientID, ClientSecret: tt.secret}))
			_, err := c.RunContainmentReport(t.Context(), simBot.ID, kore.ReportRequest{})
			var ae *kore.AuthError
			if !errors.As(err, &ae) || ae.Reason != tt.want || sim.Stats(simBot.ID).Requests != 1 {
				t.Fatalf("err = %v, stats %+v", err, sim.Stats(simBot.ID))
			}
		})
	}
}

// BenchmarkReportSimulator runs a whole 7-day report of 40 tasks through the
// simulator in memory, in pages of 20 rows: JWTs, request bodies, the
// simulator's own work, decoding and summing. Jobs finish at their first
// poll and nothing waits.
func BenchmarkReportSimulator(b *testing.B) {
	sim, c := newSim(b, simBot, []koretest.Option{koretest.WithJobDuration(0), koretest.WithRateLimits(0, 0)},
		kore.WithoutBotLimits(), kore.WithPollBackoff(kore.Backoff{Initial: time.Nanosecond, Multiplier: 1, Max: time.Nanosecond}))
	from, to := window()
	if len(sim.Expected(simBot.ID, from, to, koretest.Filters{})) == 0 {
		b.Fatal("no rows")
	}
	b.ReportAllocs()
	var rows, pages int
	for b.Loop() {
		rep, err := c.RunContainmentReport(b.Context(), simBot.ID, kore.ReportRequest{From: from, To: to, PageSize: 20})
		if err != nil {
			b.Fatal(err)
		}
		rows, pages = rep.RawRows, rep.Pages
	}
	b.ReportMetric(float64(rows), "rows/report")
	b.ReportMetric(float64(pages), "pages/report")
}
