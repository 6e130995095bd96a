package kore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// expectedRows sums API-shaped rows per (taskName, taskType, Status), the
// way RunContainmentReport must.
func expectedRows(rows map[string][]map[string]any) []TaskRow {
	sums := map[RowKey]*TaskRow{}
	for _, rs := range rows {
		for _, r := range rs {
			k := RowKey{r["taskName"].(string), r["taskType"].(string), r["Status"].(string)}
			s := sums[k]
			if s == nil {
				s = &TaskRow{TaskName: k.TaskName, TaskType: k.TaskType, Status: k.Status}
				sums[k] = s
			}
			s.TotalExecution += int64(r["totalExecution"].(int))
			s.TotalSession += int64(r["totalSession"].(int))
			s.SelfServiceSessions += int64(r["selfServiceSessions"].(int))
			s.DropOffSessions += int64(r["dropOffSessions"].(int))
			s.AgentTransferSessions += int64(r["agentTransferSessions"].(int))
		}
	}
	out := make([]TaskRow, 0, len(sums))
	for _, s := range sums {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return cmpKey(out[i].Key(), out[j].Key()) < 0 })
	return out
}

func TestRunContainmentReportPages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		rows      int
		days      int
		pageSize  int
		wantPages int
	}{
		{"one page", 30, 7, 100, 1},
		{"exact pages", 200, 5, 40, 5},
		{"many pages", 250, 5, 40, 7},
		{"page of one", 12, 3, 1, 12},
		{"no rows", 0, 1, 100, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rows := manyRows(tt.rows, tt.days)
				f := newFakeKore(t, 3*time.Second, rows)
				c := newTestClient(t, f)
				from := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
				rep, err := c.RunContainmentReport(t.Context(), testBot, ReportRequest{From: from, To: from.AddDate(0, 0, tt.days), PageSize: tt.pageSize})
				if err != nil {
					t.Fatal(err)
				}
				if got, want := rep.Rows, expectedRows(rows); !slices.Equal(got, want) {
					t.Errorf("rows\n got %+v\nwant %+v", got, want)
				}
				posts, gets := f.counts()
				if rep.Pages != tt.wantPages || len(rep.JobIDs) != tt.wantPages || posts != tt.wantPages ||
					rep.RawRows != tt.rows || rep.Total != tt.rows || rep.Reruns != 0 || rep.Polls != gets || rep.Requests != posts+gets {
					t.Errorf("report pages %d jobs %d posts %d raw %d total %d reruns %d polls %d gets %d requests %d",
						rep.Pages, len(rep.JobIDs), posts, rep.RawRows, rep.Total, rep.Reruns, rep.Polls, gets, rep.Requests)
				}
				for _, r := range rep.Rows {
					if r.DateRange != "" {
						t.Errorf("summed row has a bucket: %+v", r)
					}
				}
			})
		})
	}
}

// TestRunContainmentReportSumsRepeatedKeys: rows of one answer are distinct
// records, even with the same task, type and status in the same bucket;
// all of them are summed.
func TestRunContainmentReportSumsRepeatedKeys(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rows := map[string][]map[string]any{
			"2025-06-01": {
				apiRow("2025-06-01", "Book Flight", "dialog", "success", 14, 9, 6, 2, 1),
				apiRow("2025-06-01", "Book Flight", "dialog", "failtask", 3, 3, 0, 3, 0),
				apiRow("2025-06-01", "Book Flight", "dialog", "success", 14, 9, 6, 2, 1), // same key, same bucket: another record
			},
			"2025-06-02": {
				apiRow("2025-06-02", "Book Flight", "dialog", "success", 4, 3, 3, 0, 0),
				apiRow("2025-06-02", "Baggage Allowance", "faq", "success", 4, 4, 2, 0, 2),
			},
		}
		f := newFakeKore(t, time.Second, rows)
		c := newTestClient(t, f)
		rep, err := c.RunContainmentReport(t.Context(), testBot, ReportRequest{PageSize: 2})
		if err != nil {
			t.Fatal(err)
		}
		want := []TaskRow{
			{TaskName: "Baggage Allowance", TaskType: "faq", Status: "success", TotalExecution: 4, TotalSession: 4, SelfServiceSessions: 2, AgentTransferSessions: 2},
			{TaskName: "Book Flight", TaskType: "dialog", Status: "failtask", TotalExecution: 3, TotalSession: 3, DropOffSessions: 3},
			{TaskName: "Book Flight", TaskType: "dialog", Status: "success", TotalExecution: 32, TotalSession: 21, SelfServiceSessions: 15, DropOffSessions: 4, AgentTransferSessions: 2},
		}
		if !reflect.DeepEqual(rep.Rows, want) {
			t.Errorf("rows\n got %+v\nwant %+v", rep.Rows, want)
		}
		if rep.Reruns != 0 || rep.RawRows != 5 || rep.Pages != 3 || rep.Total != 5 {
			t.Errorf("reruns %d raw %d pages %d total %d", rep.Reruns, rep.RawRows, rep.Pages, rep.Total)
		}
	})
}

// TestRunContainmentReportInconsistentPages: a set of pages that does not
// add up is thrown away and the report run again, a bounded number of
// times; a total beyond MaxRows fails after the first page.
func TestRunContainmentReportInconsistentPages(t *testing.T) {
	t.Parallel()
	setTotal := func(v int) func(map[string]any) { return func(p map[string]any) { p["total"] = v } }
	emptyData := func(p map[string]any) { p["data"] = map[string]any{} }
	tests := []struct {
		name    string
		rows    int
		maxRows int
		hook    func(n int) func(map[string]any) // per job, nil leaves the page alone
		wantErr error                            // nil: success
		reruns  int
		posts   int
	}{
		{name: "total changes on page 2 once: rerun succeeds", rows: 5,
			hook: func(n int) func(map[string]any) {
				if n == 2 {
					return setTotal(6)
				}
				return nil
			}, reruns: 1, posts: 2 + 3},
		{name: "short page before the total, every pass", rows: 5,
			hook: func(n int) func(map[string]any) {
				if n%2 == 0 {
					return emptyData
				}
				return nil
			}, wantErr: ErrInconsistentPages, reruns: maxReruns, posts: 2 * (maxReruns + 1)},
		{name: "more rows than the total", rows: 5,
			hook:    func(int) func(map[string]any) { return setTotal(1) },
			wantErr: ErrInconsistentPages, reruns: maxReruns, posts: maxReruns + 1},
		{name: "a total that lies (1e9) fails at once", rows: 5,
			hook:    func(int) func(map[string]any) { return setTotal(1_000_000_000) },
			wantErr: ErrReportTooLarge, posts: 1},
		{name: "total above MaxRows", rows: 30, maxRows: 20, wantErr: ErrReportTooLarge, posts: 1},
		{name: "total at MaxRows", rows: 20, maxRows: 20, posts: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rows := manyRows(tt.rows, 1)
				f := newFakeKore(t, time.Second, rows)
				if tt.hook != nil {
					f.pageHook = func(n int, p map[string]any) {
						if h := tt.hook(n); h != nil {
							h(p)
						}
					}
				}
				c := newTestClient(t, f)
				rep, err := c.RunContainmentReport(t.Context(), testBot, ReportRequest{PageSize: 2, MaxRows: tt.maxRows})
				if tt.wantErr == nil {
					if err != nil {
						t.Fatal(err)
					}
					if got, want := rep.Rows, expectedRows(rows); !slices.Equal(got, want) {
						t.Errorf("rows\n got %+v\nwant %+v", got, want)
					}
				} else if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if posts, _ := f.counts(); posts != tt.posts || rep == nil || rep.Reruns != tt.reruns {
					t.Errorf("posts %d (want %d), report %+v (want %d reruns)", posts, tt.posts, rep, tt.reruns)
				}
			})
		})
	}
}

// TestRunContainmentReportOverflow: sums beyond int64 fail the run with an
// error naming the count and the task, never wrap to negative values.
func TestRunContainmentReportOverflow(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rows := map[string][]map[string]any{}
		for d := range 10 {
			b := fmt.Sprintf("2025-06-%02d", d+1)
			r := apiRow(b, "Book Flight", "dialog", "success", 1, 1, 1, 0, 0)
			r["totalSession"] = 999999999999999999
			rows[b] = []map[string]any{r}
		}
		f := newFakeKore(t, time.Second, rows)
		c := newTestClient(t, f)
		_, err := c.RunContainmentReport(t.Context(), testBot, ReportRequest{PageSize: 100})
		if !errors.Is(err, ErrCountOverflow) || !strings.Contains(err.Error(), `totalSession of task "Book Flight"`) {
			t.Fatalf("err = %v, want a count overflow naming totalSession and the task", err)
		}
	})
}

func TestRunContainmentReportJobErrors(t *testing.T) {
	t.Parallel()
	t.Run("failed job", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newFakeKore(t, 5*time.Second, manyRows(3, 1))
			f.failJobs = true
			c := newTestClient(t, f)
			_, err := c.RunContainmentReport(t.Context(), testBot, ReportRequest{})
			var je *JobError
			if !errors.As(err, &je) || !errors.Is(err, ErrJobFailed) || errors.Is(err, ErrJobExpired) || je.Status != "FAILED" || je.JobID == "" {
				t.Fatalf("err = %v", err)
			}
			if posts, _ := f.counts(); posts != 1 {
				t.Errorf("%d submits; a failed job must not be retried", posts)
			}
		})
	})
	t.Run("unknown status polled until expireAt", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newFakeKore(t, time.Hour, nil)
			f.status = "WARMING_UP"
			c := newTestClient(t, f)
			start := time.Now()
			_, err := c.RunContainmentReport(t.Context(), testBot, ReportRequest{})
			var je *JobError
			if !errors.As(err, &je) || !errors.Is(err, ErrJobExpired) || je.Status != "WARMING_UP" {
				t.Fatalf("err = %v", err)
			}
			if d := time.Since(start); d < 15*time.Minute || d > 15*time.Minute+30*time.Second {
				t.Errorf("gave up after %s, want just past 15m", d)
			}
		})
	})
	t.Run("job vanishes", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			s := &script{answers: []answer{{code: 200, body: okJob}, {code: 200, body: okStatus}, {code: 404, body: koreErr(404, "Request not found")}}}
			c := newTestClient(t, s)
			_, err := c.RunContainmentReport(t.Context(), testBot, ReportRequest{})
			var je *JobError
			var ae *APIError
			if !errors.As(err, &je) || !je.Expired || je.Status != "IN_PROGRESS" || !errors.As(err, &ae) || ae.StatusCode != 404 {
				t.Fatalf("err = %v", err)
			}
		})
	})
	t.Run("server clock far behind does not expire the job", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			old := `{"_id":"ds-1","status":"IN_PROGRESS","createdOn":"2019-01-01T00:00:00.000Z","expireAt":"2019-01-01T00:15:00.000Z"}`
			s := &script{answers: []answer{{code: 200, body: old}, {code: 200, body: old}, {code: 200, body: sampleStatus}}}
			c := newTestClient(t, s)
			rep, err := c.RunContainmentReport(t.Context(), testBot, ReportRequest{})
			if err != nil || rep.Polls != 2 || len(rep.Rows) != 3 {
				t.Fatalf("report %+v, err %v", rep, err)
			}
		})
	})
	t.Run("POST says SUCCESS: GET at once", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			s := &script{answers: []answer{{code: 200, body: `{"_id":"ds-1","status":"SUCCESS"}`}, {code: 200, body: sampleStatus}}}
			c := newTestClient(t, s)
			start := time.Now()
			rep, err := c.RunContainmentReport(t.Context(), testBot, ReportRequest{PageSize: 3})
			if err != nil || rep.Polls != 1 || time.Since(start) != 0 {
				t.Fatalf("report %+v, err %v, after %s", rep, err, time.Since(start))
			}
		})
	})
	t.Run("decode error", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			s := &script{answers: []answer{{code: 200, body: okJob}, {code: 200, body: strings.Replace(sampleStatus, `"dropOffSessions":3`, `"dropOffSessions":-3`, 1)}}}
			c := newTestClient(t, s)
			_, err := c.RunContainmentReport(t.Context(), testBot, ReportRequest{})
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != "tasksExecutionReport.data[2025-06-01][1].dropOffSessions" {
				t.Fatalf("err = %v", err)
			}
		})
	})
	t.Run("bad request", func(t *testing.T) {
		t.Parallel()
		c := newTestClient(t, http.NotFoundHandler())
		now := time.Now()
		for _, req := range []ReportRequest{{From: now, To: now}, {PageSize: -1}} {
			if _, err := c.RunContainmentReport(t.Context(), testBot, req); err == nil || !strings.Contains(err.Error(), "report request") {
				t.Errorf("err = %v", err)
			}
		}
		if _, err := c.RunContainmentReport(t.Context(), " ", ReportRequest{}); err == nil {
			t.Error("empty bot id accepted")
		}
	})
}

func TestRunContainmentReportProgress(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFakeKore(t, 60*time.Second, manyRows(5, 1))
		c := newTestClient(t, f)
		var got []int
		rep, err := c.RunContainmentReport(t.Context(), testBot, ReportRequest{OnProgress: func(p int) { got = append(got, p) }})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != rep.Polls+1 || got[0] != 0 || got[len(got)-1] != 100 || !sort.IntsAreSorted(got) {
			t.Errorf("progress %v over %d polls", got, rep.Polls)
		}
	})
}

// TestCancelMidPoll: cancelling while a job runs returns at once with the
// context's error; synctest.Test fails if a goroutine outlives the bubble.
func TestCancelMidPoll(t *testing.T) {
	t.Parallel()
	for _, cause := range []string{"cancel", "deadline"} {
		t.Run(cause, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := newFakeKore(t, time.Hour, nil)
				c := newTestClient(t, f)
				var (
					ctx    context.Context
					cancel context.CancelFunc
					want   error
				)
				if cause == "deadline" {
					ctx, cancel = context.WithTimeout(t.Context(), 7*time.Second)
					want = context.DeadlineExceeded
				} else {
					ctx, cancel = context.WithCancel(t.Context())
					time.AfterFunc(7*time.Second, cancel)
					want = context.Canceled
				}
				defer cancel()
				start := time.Now()
				_, err := c.RunContainmentReport(ctx, testBot, ReportRequest{})
				if !errors.Is(err, want) || time.Since(start) != 7*time.Second {
					t.Fatalf("err = %v after %s", err, time.Since(start))
				}
			})
		})
	}
}

// TestCancelMidPollRealNetwork does the same over a real socket; goleak in
// TestMain checks that nothing is left behind.
func TestCancelMidPollRealNetwork(t *testing.T) {
	t.Parallel()
	f := newFakeKore(t, time.Hour, nil)
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, err := NewClient(WithHost(srv.URL), WithInsecureHTTP(), WithCredentials(Credentials{ClientID: testApp, ClientSecret: testSecret}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.RunContainmentReport(ctx, testBot, ReportRequest{})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("err = %v after %s", err, time.Since(start))
	}
}

// TestRequestCount measures the requests of one report (1 POST + polls, one
// page) for jobs of 10 s, 60 s and 300 s. The polls grow about
// logarithmically while the wait grows ×1.5 from 2 s, then linearly at one
// per 30 s: far fewer than one poll per 2 s.
func TestRequestCount(t *testing.T) {
	t.Parallel()
	noJitter := defaultPollBackoff
	noJitter.Jitter = 0
	tests := []struct {
		job       time.Duration
		wantPolls int // without jitter: waits 2, 3, 4.5, 6.75, 10.1, 15.2, 22.8, then 30 s
	}{
		{10 * time.Second, 4},   // polls at 2, 5, 9.5, 16.25 s
		{60 * time.Second, 7},   // … 26.4, 41.6, 64.3 s
		{300 * time.Second, 15}, // … 94.3, 124.3, …, 304.3 s
	}
	var mu sync.Mutex
	var summary []string
	for _, tt := range tests {
		t.Run(tt.job.String(), func(t *testing.T) {
			t.Parallel()
			for _, jitter := range []bool{false, true} {
				synctest.Test(t, func(t *testing.T) {
					f := newFakeKore(t, tt.job, manyRows(20, 2))
					opts := []Option{}
					if !jitter {
						opts = append(opts, WithPollBackoff(noJitter))
					}
					c := newTestClient(t, f, opts...)
					rep, err := c.RunContainmentReport(t.Context(), testBot, ReportRequest{})
					if err != nil {
						t.Fatal(err)
					}
					posts, gets := f.counts()
					if posts != 1 || gets != rep.Polls {
						t.Errorf("posts %d gets %d polls %d", posts, gets, rep.Polls)
					}
					lo, hi := tt.wantPolls, tt.wantPolls
					if jitter {
						lo, hi = tt.wantPolls-1, tt.wantPolls+2
					}
					if gets < lo || gets > hi {
						t.Errorf("jitter %v: %d polls, want %d…%d", jitter, gets, lo, hi)
					}
					if naive := int(tt.job / (2 * time.Second)); gets*2 > naive+4 {
						t.Errorf("%d polls is not far below %d (one per 2 s)", gets, naive)
					}
					mu.Lock()
					summary = append(summary, fmt.Sprintf("job %s jitter %v: %d requests (1 POST + %d polls)", tt.job, jitter, posts+gets, gets))
					mu.Unlock()
				})
			}
		})
	}
	t.Cleanup(func() {
		sort.Strings(summary)
		for _, s := range summary {
			t.Log(s)
		}
	})
}
