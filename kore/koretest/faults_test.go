package koretest

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// Tests of the faults of faults.go.

func TestFaultStatusServerErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithJobDuration(0))
	h.s.SetFault(testBotID, Fault{StatusServerErrors: 2})
	job := h.submit("", "") // submits are not affected
	for i, want := range []int{500, 502, 200} {
		if code, _ := h.poll(job.ID); code != want {
			t.Fatalf("poll %d: HTTP %d, want %d", i, code, want)
		}
	}
	if st := h.s.Stats(testBotID); st.ServerErrors != 2 || st.Requests != 4 || st.Pages != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFaultRetryAfterForms(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tt := range []struct {
		fault Fault
		want  string
	}{
		{Fault{RateLimited: true, RetryAfterHeader: "soon"}, "soon"},
		{Fault{RateLimited: true, RetryAfterHeader: "-5"}, "-5"},
		{Fault{RateLimited: true, RetryAfter: 90 * time.Second, RetryAfterDate: true}, t0.Add(90 * time.Second).Format(http.TimeFormat)},
		{Fault{RateLimited: true, RetryAfterDate: true}, t0.Add(time.Minute).Format(http.TimeFormat)},
	} {
		h.s.SetFault(testBotID, tt.fault)
		code, hdr, b := h.do(http.MethodPost, pathSubmit(testBotID), "", h.token())
		if code != 429 || hdr.Get("Retry-After") != tt.want || decode(t, b).Errors[0].Code != 429 {
			t.Errorf("%+v: HTTP %d Retry-After %q, want %q", tt.fault, code, hdr.Get("Retry-After"), tt.want)
		}
	}
	// The simulator's own rate limits get the header too.
	h2 := newHarness(t, WithRateLimits(1, 0))
	h2.s.SetFault(testBotID, Fault{RetryAfterHeader: "garbage"})
	h2.submit("", "")
	if code, hdr, _ := h2.do(http.MethodPost, pathSubmit(testBotID), "", h2.token()); code != 429 || hdr.Get("Retry-After") != "garbage" {
		t.Errorf("rate limit: HTTP %d Retry-After %q", code, hdr.Get("Retry-After"))
	}
}

func TestFaultOversize(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.s.SetFault(testBotID, Fault{Oversize: 2 << 20})
	code, hdr, b := h.do(http.MethodPost, pathSubmit(testBotID), "", h.token())
	if code != 200 || len(b) != 2<<20 || hdr.Get("Content-Length") != "2097152" {
		t.Fatalf("HTTP %d, %d bytes, Content-Length %q", code, len(b), hdr.Get("Content-Length"))
	}
	if r := decode(t, b); r.ID == "" || r.Status != "IN_PROGRESS" {
		t.Fatalf("padded body is not the envelope: %+v", r)
	}
	// Error answers are not padded.
	h.s.SetFault(testBotID, Fault{Oversize: 2 << 20, BadCredentials: true})
	if code, _, b := h.do(http.MethodPost, pathSubmit(testBotID), "", h.token()); code != 401 || len(b) > 1000 {
		t.Fatalf("HTTP %d, %d bytes", code, len(b))
	}
}

func TestFaultForgetJobsAndBadCredentials(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.s.SetFault(testBotID, Fault{ForgetJobs: true})
	job := h.submit("", "")
	if code, _ := h.poll(job.ID); code != 404 {
		t.Fatalf("poll of a forgotten job: HTTP %d, want 404", code)
	}
	h.s.SetFault(testBotID, Fault{})
	if code, _ := h.poll(job.ID); code != 404 {
		t.Fatalf("the job came back: HTTP %d", code)
	}
	h.s.SetFault(testBotID, Fault{BadCredentials: true})
	code, _, b := h.do(http.MethodPost, pathSubmit(testBotID), "", h.token())
	if r := decode(t, b); code != 401 || r.Errors[0].Code != codeAuth || r.Errors[0].Msg != msgBadCredentials {
		t.Fatalf("HTTP %d %s", code, b)
	}
	if st := h.s.Stats(testBotID); st.NotFound != 2 || st.Unauthorized != 1 || st.Requests != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFaultRefuse(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.s.SetFault(testBotID, Fault{Refuse: true})
	req, _ := http.NewRequest(http.MethodPost, h.s.URL+pathSubmit(testBotID), nil)
	_, err := h.hc.Do(req)
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("in memory: err %v, want a dial error, connection refused", err)
	}
	if st := h.s.Stats(testBotID); st.Refused != 1 || st.Requests != 0 {
		t.Fatalf("stats %+v", st)
	}

	s := NewServer()
	defer s.Close()
	s.AddBot(testBot())
	s.SetFault(testBotID, Fault{Refuse: true})
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	req, _ = http.NewRequest(http.MethodPost, s.URL+pathSubmit(testBotID), nil)
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("over loopback: HTTP %d, want no answer", resp.StatusCode)
	}
}

// TestFaultSlowBody runs in a synctest bubble: the body never ends, so the
// client's deadline ends it, in fake time.
func TestFaultSlowBody(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := NewInMemory()
		defer s.Close()
		bot := testBot()
		s.AddBot(bot)
		s.SetFault(bot.ID, Fault{SlowBody: true})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second+time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+pathSubmit(bot.ID), nil)
		req.Header.Set("auth", sign(t, map[string]any{"appId": bot.ClientID}, bot.ClientSecret))
		start := time.Now()
		resp, err := s.Client().Do(req)
		if err != nil || resp.StatusCode != 200 || resp.ContentLength != -1 || time.Since(start) != 0 {
			t.Fatalf("headers: %v %+v after %v", err, resp, time.Since(start))
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !errors.Is(err, context.DeadlineExceeded) || strings.TrimSpace(string(b)) != "" || len(b) != 10 {
			t.Fatalf("body %q (%d bytes), err %v; want 10 spaces, then the deadline", b, len(b), err)
		}
	})
}

func TestFaultRows(t *testing.T) {
	t.Parallel()
	from, to := t0.Add(-24*time.Hour), t0
	body := filtersBody(from, to, nil)
	t.Run("task flood", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, WithJobDuration(0))
		clean, _ := h.fetch(body, 0)
		h.s.SetFault(testBotID, Fault{TaskFlood: 500})
		rows, total := h.fetch(body, 100)
		if total != len(rows) || len(sumRows(rows)) != len(clean)+500 {
			t.Fatalf("%d rows (total %d, %d keys), clean %d", len(rows), total, len(sumRows(rows)), len(clean))
		}
		if last := rows[len(rows)-1]; last.TaskName != "Flood task 000500" || last.DateRange != rows[0].DateRange {
			t.Fatalf("last row %+v", last)
		}
	})
	t.Run("token in task name", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, WithJobDuration(0))
		clean, _ := h.fetch(body, 0)
		h.s.SetFault(testBotID, Fault{TokenInTaskName: true})
		rows, total := h.fetch(body, 0)
		if total != len(clean)+2 || len(rows) != total {
			t.Fatalf("%d rows (total %d), clean %d; want 2 more", len(rows), total, len(clean))
		}
		a, b := rows[len(rows)-2], rows[len(rows)-1]
		if !strings.HasPrefix(a.TaskName, "eyJ") || strings.Count(a.TaskName, ".") != 2 || b.TaskName != "Book flight "+a.TaskName {
			t.Fatalf("last rows %+v, %+v: want a token and \"Book flight \" + token", a, b)
		}
	})
	t.Run("overflow counts", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, WithJobDuration(0))
		clean, _ := h.fetch(body, 0)
		h.s.SetFault(testBotID, Fault{OverflowCounts: true})
		rows, total := h.fetch(body, 0)
		if total != 2*len(clean) || len(rows) != total {
			t.Fatalf("%d rows (total %d), clean %d", len(rows), total, len(clean))
		}
		for i := 0; i < len(rows); i += 2 {
			a, b := rows[i], rows[i+1]
			if a.TaskName != b.TaskName || a.Status != b.Status || a.TotalSession <= math.MaxInt64-b.TotalSession {
				t.Fatalf("records %d, %d: %+v %+v: not two records whose sum overflows", i, i+1, a, b)
			}
		}
	})
}
