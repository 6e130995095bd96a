package koretest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestFaultServerErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.s.SetFault(testBotID, Fault{ServerErrors: 5})
	want := []int{500, 502, 503, 504, 500, 200}
	for i, w := range want {
		code, hdr, b := h.do(http.MethodPost, pathSubmit(testBotID), "", h.token())
		if code != w {
			t.Fatalf("request %d: HTTP %d, want %d", i, code, w)
		}
		html := strings.HasPrefix(hdr.Get("Content-Type"), "text/html")
		if (code == 502 || code == 504) != html {
			t.Errorf("HTTP %d: Content-Type %q", code, hdr.Get("Content-Type"))
		}
		if !html && json.Unmarshal(b, new(any)) != nil {
			t.Errorf("HTTP %d: body not JSON: %s", code, b)
		}
	}
	if st := h.s.Stats(testBotID); st.ServerErrors != 5 || st.Requests != 6 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFaultRateLimited(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.s.SetFault(testBotID, Fault{RateLimited: true})
	for _, f := range []struct {
		fault Fault
		retry string
	}{{Fault{RateLimited: true}, "60"}, {Fault{RateLimited: true, RetryAfter: 1500 * time.Millisecond}, "2"}} {
		h.s.SetFault(testBotID, f.fault)
		code, hdr, b := h.do(http.MethodPost, pathSubmit(testBotID), "", h.token())
		r := decode(t, b)
		if code != 429 || r.Errors[0].Code != 429 || r.Errors[0].Msg != msgRateLimit || hdr.Get("Retry-After") != f.retry {
			t.Fatalf("HTTP %d %s Retry-After %q", code, b, hdr.Get("Retry-After"))
		}
	}
	h.s.SetFault(testBotID, Fault{})
	if code, _, _ := h.do(http.MethodPost, pathSubmit(testBotID), "", h.token()); code != 200 {
		t.Fatalf("healed: HTTP %d", code)
	}
	if got := h.s.Stats(testBotID).RateLimited; got != 2 {
		t.Fatalf("Stats.RateLimited = %d", got)
	}
}

func TestFaultBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault Fault
		check func(t *testing.T, body []byte, readErr error)
	}{
		{"truncated", Fault{Truncated: true}, func(t *testing.T, body []byte, readErr error) {
			if !errors.Is(readErr, io.ErrUnexpectedEOF) {
				t.Fatalf("read error %v, want unexpected EOF", readErr)
			}
			if json.Unmarshal(body, new(any)) == nil {
				t.Fatalf("half body is JSON: %s", body)
			}
		}},
		{"malformed", Fault{Malformed: true}, func(t *testing.T, body []byte, readErr error) {
			if readErr != nil || json.Unmarshal(body, new(any)) == nil {
				t.Fatalf("err %v, body %s", readErr, body)
			}
		}},
		{"wrong types", Fault{WrongTypes: true}, func(t *testing.T, body []byte, readErr error) {
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			if rep, ok := m["tasksExecutionReport"].(map[string]any); ok {
				if _, ok := rep["total"].(map[string]any); !ok {
					t.Fatalf("total is %T", rep["total"])
				}
				for _, rows := range rep["data"].(map[string]any) {
					row := rows.([]any)[0].(map[string]any)
					if _, ok := row["totalExecution"].(map[string]any); !ok {
						t.Fatalf("totalExecution is %T", row["totalExecution"])
					}
					if _, ok := row["totalSession"].(bool); !ok {
						t.Fatalf("totalSession is %T", row["totalSession"])
					}
				}
				return
			}
			if _, ok := m["_id"].(float64); !ok {
				t.Fatalf("_id is %T", m["_id"])
			}
			if _, ok := m["percentageComplete"].(map[string]any); !ok {
				t.Fatalf("percentageComplete is %T", m["percentageComplete"])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, WithJobDuration(0))
			job := h.submit("", "") // healthy submit, so we know the id
			h.s.SetFault(testBotID, tt.fault)
			for _, path := range []string{pathSubmit(testBotID), pathStatus(testBotID, job.ID)} {
				method := http.MethodPost
				if strings.Contains(path, "/status/") {
					method = http.MethodGet
				}
				req, _ := http.NewRequest(method, h.s.URL+path, nil)
				req.Header.Set("auth", h.token())
				resp, err := h.hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("%s: HTTP %d", path, resp.StatusCode)
				}
				tt.check(t, body, err)
			}
			// Error answers are never spoiled.
			code, _, b := h.do(http.MethodGet, pathStatus(testBotID, "ds-unknown"), "", h.token())
			if r := decode(t, b); code != 404 || r.Errors[0].Code != 404 {
				t.Fatalf("404 spoiled: %s", b)
			}
		})
	}
}

func TestFaultJobs(t *testing.T) {
	t.Parallel()
	t.Run("fail", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, WithJobDuration(2*time.Second))
		h.s.SetFault(testBotID, Fault{FailJobs: true})
		job := h.submit("", "")
		h.s.SetFault(testBotID, Fault{}) // the job's fate is set at submission
		h.clock.Advance(2 * time.Second)
		code, _, b := h.do(http.MethodGet, pathStatus(testBotID, job.ID), "", h.token())
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil || code != 200 {
			t.Fatalf("HTTP %d %s", code, b)
		}
		if m["status"] != "FAILED" || m["_id"] != job.ID || m["tasksExecutionReport"] != nil || m["jobType"] == nil {
			t.Fatalf("FAILED answer %s", b)
		}
		// A new job succeeds.
		h.await(h.submit("", "").ID)
	})
	t.Run("never finish", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, WithJobDuration(2*time.Second), WithJobExpiry(5*time.Minute))
		h.s.SetFault(testBotID, Fault{NeverFinish: true})
		job := h.submit("", "")
		last := -1
		for h.clock.Now().Before(t0.Add(5 * time.Minute)) {
			code, r := h.poll(job.ID)
			if code != 200 || r.Status != "IN_PROGRESS" || r.PercentageComplete >= 100 || r.PercentageComplete < last {
				t.Fatalf("at %v: HTTP %d %+v", h.clock.Now().Sub(t0), code, r)
			}
			last = r.PercentageComplete
			h.clock.Advance(10 * time.Second)
		}
		if last == 0 {
			t.Error("progress never moved")
		}
		if code, _ := h.poll(job.ID); code != 404 {
			t.Fatalf("after expireAt: HTTP %d", code)
		}
	})
	t.Run("split rows", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, WithJobDuration(0))
		from, to := t0.Add(-3*24*time.Hour), t0
		body := filtersBody(from, to, map[string]any{"AggregationType": "Daily"})
		clean, _ := h.fetch(body, 0)
		h.s.SetFault(testBotID, Fault{SplitRows: true})
		split, total := h.fetch(body, 50)
		if total != len(split) || len(split) <= len(clean) {
			t.Fatalf("split: %d rows (total %d), clean %d", len(split), total, len(clean))
		}
		repeats := 0
		for i := 1; i < len(split); i++ {
			if split[i-1].DateRange == split[i].DateRange && split[i-1].TaskName == split[i].TaskName &&
				split[i-1].TaskType == split[i].TaskType && split[i-1].Status == split[i].Status {
				repeats++
			}
		}
		if repeats != len(split)-len(clean) {
			t.Fatalf("%d records repeat a key, want %d", repeats, len(split)-len(clean))
		}
		// Summing every record gives the clean report back.
		rowsEqual(t, "split vs Expected", sumRows(split), h.s.Expected(testBotID, from, to, Filters{}))
	})
	t.Run("total offset", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, WithJobDuration(0))
		from, to := t0.Add(-3*24*time.Hour), t0
		body := filtersBody(from, to, nil)
		clean, _ := h.fetch(body, 0)
		h.s.SetFault(testBotID, Fault{TotalOffset: 1_000_000_000})
		_, total := h.fetch(body, 0)
		if total != len(clean)+1_000_000_000 {
			t.Fatalf("total %d, want %d", total, len(clean)+1_000_000_000)
		}
	})
}

// TestFaultLatencyAndHang runs in a synctest bubble: the in-memory client
// needs no network, so fake time makes the waits instant.
func TestFaultLatencyAndHang(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := NewInMemory(WithJobDuration(3 * time.Second))
		defer s.Close()
		bot := testBot()
		s.AddBot(bot)
		hc := s.Client()
		call := func(ctx context.Context) (time.Duration, int, error) {
			start := time.Now()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+pathSubmit(bot.ID), nil)
			req.Header.Set("auth", sign(t, map[string]any{"appId": bot.ClientID}, bot.ClientSecret))
			resp, err := hc.Do(req)
			if err != nil {
				return time.Since(start), 0, err
			}
			resp.Body.Close()
			return time.Since(start), resp.StatusCode, nil
		}

		s.SetFault(bot.ID, Fault{Latency: 2 * time.Second})
		if d, code, err := call(context.Background()); err != nil || code != 200 || d != 2*time.Second {
			t.Fatalf("latency: %v %d %v", d, code, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		d, _, err := call(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || d != 500*time.Millisecond {
			t.Fatalf("latency cut by ctx: %v %v", d, err)
		}

		s.SetFault(bot.ID, Fault{Hang: true})
		ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
		d, _, err = call(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || d != time.Minute {
			t.Fatalf("hang: %v %v", d, err)
		}

		// A hung request also ends when the server closes.
		done := make(chan error)
		go func() {
			_, _, err := call(context.Background())
			done <- err
		}()
		synctest.Wait()
		s.Close()
		if err := <-done; err == nil {
			t.Fatal("hung request succeeded after Close")
		}
	})
}

// TestFaultsOverNetwork checks the faults that depend on the connection
// against a real loopback listener.
func TestFaultsOverNetwork(t *testing.T) {
	t.Parallel()
	s := NewServer(WithJobDuration(0))
	defer s.Close()
	bot := testBot()
	s.AddBot(bot)
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	call := func(ctx context.Context) ([]byte, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+pathSubmit(bot.ID), nil)
		req.Header.Set("auth", sign(t, map[string]any{"appId": bot.ClientID}, bot.ClientSecret))
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}
	if _, err := call(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.SetFault(bot.ID, Fault{Truncated: true})
	if b, err := call(context.Background()); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated over network: %v %q", err, b)
	}
	s.SetFault(bot.ID, Fault{Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := call(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang over network: %v", err)
	}
	s.SetFault(bot.ID, Fault{Latency: 20 * time.Millisecond})
	start := time.Now()
	if _, err := call(context.Background()); err != nil || time.Since(start) < 20*time.Millisecond {
		t.Fatalf("latency over network: %v after %v", err, time.Since(start))
	}
}
