package koretest

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestRateLimitPerMinute(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithRateLimits(5, 1000))
	post := func() (int, http.Header, apiResp) {
		code, hdr, b := h.do(http.MethodPost, pathSubmit(testBotID), "", h.token())
		return code, hdr, decode(t, b)
	}
	// Five calls, 10s apart: 10:05:01.517 … 10:05:41.517.
	for i := range 5 {
		if code, _, r := post(); code != 200 {
			t.Fatalf("call %d: HTTP %d %+v", i, code, r.Errors)
		}
		h.clock.Advance(10 * time.Second)
	}
	// At +50s the sixth is refused until the first leaves the window at +60s.
	code, hdr, r := post()
	if code != 429 || len(r.Errors) != 1 || r.Errors[0].Code != 429 || r.Errors[0].Msg != msgPerMinute {
		t.Fatalf("HTTP %d %+v, want 429 per-minute", code, r.Errors)
	}
	if got := hdr.Get("Retry-After"); got != "10" {
		t.Fatalf("Retry-After %q, want 10", got)
	}
	// Refused calls take no slot.
	h.clock.Advance(9 * time.Second)
	if code, hdr, _ := post(); code != 429 || hdr.Get("Retry-After") != "1" {
		t.Fatalf("at +59s: HTTP %d Retry-After %q", code, hdr.Get("Retry-After"))
	}
	h.clock.Advance(time.Second)
	if code, _, r := post(); code != 200 {
		t.Fatalf("at +60s: HTTP %d %+v", code, r.Errors)
	}
	if got := h.s.Stats(testBotID).RateLimited; got != 2 {
		t.Errorf("Stats.RateLimited = %d, want 2", got)
	}
}

func TestRateLimitHourly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithRateLimits(100, 10))
	for i := range 10 {
		if code, _, b := h.do(http.MethodPost, pathSubmit(testBotID), "", h.token()); code != 200 {
			t.Fatalf("call %d: HTTP %d %s", i, code, b)
		}
		h.clock.Advance(time.Minute)
	}
	code, hdr, b := h.do(http.MethodPost, pathSubmit(testBotID), "", h.token())
	r := decode(t, b)
	if code != 429 || r.Errors[0].Msg != msgHourly {
		t.Fatalf("HTTP %d %s, want 429 hourly", code, b)
	}
	// The first call (at +0) leaves the hour window at +60m; now is +10m.
	if got := hdr.Get("Retry-After"); got != strconv.Itoa(50*60) {
		t.Fatalf("Retry-After %q, want 3000", got)
	}
	h.clock.Advance(50 * time.Minute)
	if code, _, b := h.do(http.MethodPost, pathSubmit(testBotID), "", h.token()); code != 200 {
		t.Fatalf("after the window rolled: HTTP %d %s", code, b)
	}
}

func TestRateLimitPerJob(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithRateLimits(100, 1000), WithJobStatusLimits(3, 100), WithJobDuration(time.Hour), WithJobExpiry(2*time.Hour))
	a, b := h.submit("", ""), h.submit("", "")
	for range 3 {
		if code, _ := h.poll(a.ID); code != 200 {
			t.Fatalf("poll a: HTTP %d", code)
		}
	}
	code, hdr, body := h.do(http.MethodGet, pathStatus(testBotID, a.ID), "", h.token())
	if r := decode(t, body); code != 429 || r.Errors[0].Msg != msgPerMinute || hdr.Get("Retry-After") != "60" {
		t.Fatalf("fourth poll of a: HTTP %d %s Retry-After %q", code, body, hdr.Get("Retry-After"))
	}
	// Another job id has its own budget.
	if code, _ := h.poll(b.ID); code != 200 {
		t.Fatalf("poll b: HTTP %d", code)
	}
}

func TestRateLimitDefaults(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	n := 0
	for ; n < 100; n++ {
		code, _, _ := h.do(http.MethodPost, pathSubmit(testBotID), "", h.token())
		if code == 429 {
			break
		}
	}
	if n != 60 {
		t.Fatalf("refused after %d calls, want 60", n)
	}
}

func TestWindow(t *testing.T) {
	t.Parallel()
	var w window
	now := t0
	for range 4 {
		w.add(now)
		now = now.Add(time.Second)
	}
	if ok, _, _ := w.check(now, 5, 0); !ok {
		t.Fatal("4 of 5 refused")
	}
	w.add(now)
	ok, msg, retry := w.check(now, 5, 0)
	if ok || msg != msgPerMinute || retry != 56*time.Second {
		t.Fatalf("check = %v %q %v", ok, msg, retry)
	}
	if ok, _, _ := w.check(now, 0, 0); !ok {
		t.Fatal("no limits refused")
	}
	w.check(now.Add(2*time.Hour), 5, 5)
	if len(w.times) != 0 {
		t.Fatalf("prune kept %d", len(w.times))
	}
	if retryAfterSeconds(1500*time.Millisecond) != 2 || retryAfterSeconds(0) != 1 {
		t.Fatal("retryAfterSeconds rounding")
	}
}
