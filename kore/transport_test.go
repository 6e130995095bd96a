package kore

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

const (
	okStatus = `{"status":"IN_PROGRESS","percentageComplete":40,"_id":"ds-1"}`
	okJob    = `{"status":"IN_PROGRESS","percentageComplete":0,"_id":"ds-1","expireAt":"2025-06-02T10:20:01.512Z"}`
)

// TestRetryPolicy runs one call against scripted answers inside a synctest
// bubble, so waits cost no real time and are measured exactly.
func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	type check func(t *testing.T, err error)
	isAPI := func(code int) check {
		return func(t *testing.T, err error) {
			var ae *APIError
			if !errors.As(err, &ae) || ae.StatusCode != code {
				t.Errorf("err = %v, want APIError %d", err, code)
			}
		}
	}
	is := func(target error) check {
		return func(t *testing.T, err error) {
			if !errors.Is(err, target) {
				t.Errorf("err = %v, want errors.Is %v", err, target)
			}
		}
	}
	isAuth := func(r AuthReason) check {
		return func(t *testing.T, err error) {
			var ae *AuthError
			if !errors.As(err, &ae) || ae.Reason != r || !errors.Is(err, ErrUnauthorized) {
				t.Errorf("err = %v, want AuthError %s", err, r)
			}
		}
	}
	rl := func(code int, retryAfter string) answer {
		a := answer{code: code, body: koreErr(code, "You've exceeded the per-minute rate limit. Please wait for sometime before retrying.")}
		if retryAfter != "" {
			a.header = map[string]string{"Retry-After": retryAfter}
		}
		return a
	}
	replay := answer{code: 401, body: koreErr(401, "error verifying the jwt: possibly a replay")}
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	resetErr := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

	tests := []struct {
		name        string
		post        bool
		answers     []answer
		netErrs     []error // transport errors before the scripted answers
		timeout     time.Duration
		opts        []Option
		wantCalls   int
		wantElapsed time.Duration // exact, or a range with wantMax
		wantMax     time.Duration
		wantRetries []string
		wantErr     check // nil: success
	}{
		{name: "GET 503 then ok", answers: []answer{{code: 503, body: "busy"}, {code: 200, body: okStatus}},
			wantCalls: 2, wantElapsed: 500 * time.Millisecond, wantMax: 1500 * time.Millisecond, wantRetries: []string{"status server_error"}},
		{name: "GET 500 502 504 then ok", answers: []answer{{code: 500}, {code: 502}, {code: 504}, {code: 200, body: okStatus}},
			wantCalls: 4, wantMax: 20 * time.Second, wantRetries: []string{"status server_error", "status server_error", "status server_error"}},
		{name: "GET 503 forever gives up after max attempts", answers: []answer{{code: 503}}, opts: []Option{WithMaxAttempts(3)},
			wantCalls: 3, wantMax: 20 * time.Second, wantRetries: []string{"status server_error", "status server_error"}, wantErr: isAPI(503)},
		{name: "GET 503 Retry-After honoured", answers: []answer{{code: 503, header: map[string]string{"Retry-After": "20"}}, {code: 200, body: okStatus}},
			wantCalls: 2, wantElapsed: 20 * time.Second, wantRetries: []string{"status server_error"}},
		{name: "POST 500 not retried (job may exist)", post: true, answers: []answer{{code: 500, body: koreErr(500, "boom")}},
			wantCalls: 1, wantErr: isAPI(500)},
		{name: "POST 502 not retried", post: true, answers: []answer{{code: 502, body: "<html>Bad Gateway</html>"}},
			wantCalls: 1, wantErr: isAPI(502)},
		{name: "POST 503 not retried", post: true, answers: []answer{{code: 503}}, wantCalls: 1, wantErr: isAPI(503)},
		{name: "POST 429 retried after Retry-After", post: true, answers: []answer{rl(429, "7"), {code: 200, body: okJob}},
			wantCalls: 2, wantElapsed: 7 * time.Second, wantRetries: []string{"submit rate_limited"}},
		{name: "GET 429 Retry-After capped at 2m", answers: []answer{rl(429, "3600"), {code: 200, body: okStatus}},
			wantCalls: 2, wantElapsed: 2 * time.Minute, wantRetries: []string{"status rate_limited"}},
		{name: "429 Retry-After as HTTP date", answers: []answer{rl(429, "Sat, 01 Jan 2000 00:00:45 GMT"), {code: 200, body: okStatus}},
			wantCalls: 2, wantElapsed: 45 * time.Second, wantRetries: []string{"status rate_limited"}},
		{name: "429 without Retry-After waits 60s plus jitter", post: true, answers: []answer{rl(429, ""), {code: 200, body: okJob}},
			wantCalls: 2, wantElapsed: 60 * time.Second, wantMax: 70 * time.Second, wantRetries: []string{"submit rate_limited"}},
		{name: "rate limit text on a 400 is a rate limit", answers: []answer{rl(400, "5"), {code: 200, body: okStatus}},
			wantCalls: 2, wantElapsed: 5 * time.Second, wantRetries: []string{"status rate_limited"}},
		{name: "Retry-After past the deadline gives up at once", timeout: 10 * time.Second, answers: []answer{rl(429, "30")},
			wantCalls: 1, wantErr: func(t *testing.T, err error) {
				var rle *RateLimitError
				if !errors.As(err, &rle) || rle.RetryAfter != 30*time.Second || !errors.Is(err, ErrRateLimited) {
					t.Errorf("err = %v, want RateLimitError (30s)", err)
				}
			}},
		{name: "no Retry-After and a 30s deadline gives up at once", post: true, timeout: 30 * time.Second, answers: []answer{rl(429, "")},
			wantCalls: 1, wantErr: is(ErrRateLimited)},
		{name: "401 replay re-signed once", answers: []answer{replay, {code: 200, body: okStatus}},
			wantCalls: 2, wantRetries: []string{"status unauthorized"}},
		{name: "401 replay on POST re-signed once", post: true, answers: []answer{replay, {code: 200, body: okJob}},
			wantCalls: 2, wantRetries: []string{"submit unauthorized"}},
		{name: "401 replay twice fails", answers: []answer{replay}, wantCalls: 2,
			wantRetries: []string{"status unauthorized"}, wantErr: isAuth(AuthReplay)},
		{name: "401 replay with one attempt still re-signs once", answers: []answer{replay, {code: 200, body: okStatus}}, opts: []Option{WithMaxAttempts(1)},
			wantCalls: 2, wantRetries: []string{"status unauthorized"}},
		{name: "401 bad credentials not retried", answers: []answer{{code: 401, body: koreErr(4002, "Invalid SDK credentials")}},
			wantCalls: 1, wantErr: isAuth(AuthBadCredentials)},
		{name: "401 scope not retried", post: true, answers: []answer{{code: 401, body: koreErr(4002, "Permission denied. Scope is incorrect!")}},
			wantCalls: 1, wantErr: isAuth(AuthScope)},
		{name: "400 validation not retried", post: true, answers: []answer{{code: 400, body: koreErr(400, "dateFrom must be before dateTo")}},
			wantCalls: 1, wantErr: func(t *testing.T, err error) {
				var ae *APIError
				if !errors.As(err, &ae) || ae.Code != 400 || ae.Message != "dateFrom must be before dateTo" || errors.Is(err, ErrJobExpired) {
					t.Errorf("err = %v", err)
				}
			}},
		{name: "412 not retried", post: true, answers: []answer{{code: 412, body: koreErr(412, "Validation errors/ Invalid arguments")}},
			wantCalls: 1, wantErr: isAPI(412)},
		{name: "GET 404 is an expired job", answers: []answer{{code: 404, body: koreErr(404, "Request not found")}},
			wantCalls: 1, wantErr: is(ErrJobExpired)},
		{name: "GET 410 is an expired job", answers: []answer{{code: 410}}, wantCalls: 1, wantErr: is(ErrJobExpired)},
		{name: "GET 400 not found is an expired job", answers: []answer{{code: 400, body: koreErr(400, "Test Suite not found")}},
			wantCalls: 1, wantErr: is(ErrJobExpired)},
		{name: "redirect not followed", answers: []answer{{code: 302, header: map[string]string{"Location": "https://evil.test/"}}},
			wantCalls: 1, wantErr: isAPI(302)},
		{name: "GET network error retried", netErrs: []error{resetErr}, answers: []answer{{code: 200, body: okStatus}},
			wantCalls: 1, wantMax: 2 * time.Second, wantRetries: []string{"status network"}},
		{name: "POST connection refused retried", post: true, netErrs: []error{dialErr, dialErr}, answers: []answer{{code: 200, body: okJob}},
			wantCalls: 1, wantMax: 5 * time.Second, wantRetries: []string{"submit network", "submit network"}},
		{name: "POST connection reset not retried", post: true, netErrs: []error{resetErr}, answers: []answer{{code: 200, body: okJob}},
			wantCalls: 0, wantErr: func(t *testing.T, err error) {
				var re *RequestError
				if !errors.As(err, &re) || re.Dial || !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("err = %v, want a non-dial RequestError", err)
				}
			}},
		{name: "GET request timeout retried", opts: []Option{WithRequestTimeout(5 * time.Second)}, answers: []answer{{hang: true}, {code: 200, body: okStatus}},
			wantCalls: 2, wantElapsed: 5500 * time.Millisecond, wantMax: 6500 * time.Millisecond, wantRetries: []string{"status network"}},
		{name: "POST request timeout not retried", post: true, opts: []Option{WithRequestTimeout(5 * time.Second)}, answers: []answer{{hang: true}},
			wantCalls: 1, wantElapsed: 5 * time.Second, wantErr: func(t *testing.T, err error) {
				var re *RequestError
				if !errors.As(err, &re) || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "request timeout of 5s") {
					t.Errorf("err = %v, want a request timeout", err)
				}
			}},
		{name: "deadline during retries: ctx error wins", timeout: 3 * time.Second, answers: []answer{{code: 503}, {hang: true}},
			wantCalls: 2, wantElapsed: 3 * time.Second, wantErr: func(t *testing.T, err error) {
				if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last error") {
					t.Errorf("err = %v, want DeadlineExceeded", err)
				}
			}, wantRetries: []string{"status server_error"}},
		{name: "oversized submit body", post: true, answers: []answer{{code: 200, body: `{"_id":"ds-1","status":"x","pad":"` + strings.Repeat("x", 1<<20) + `"}`}},
			wantCalls: 1, wantErr: func(t *testing.T, err error) {
				if !errors.Is(err, ErrResponseTooLarge) || !errors.Is(err, ErrInvalidResponse) {
					t.Errorf("err = %v, want ErrResponseTooLarge", err)
				}
			}},
		{name: "malformed JSON not retried", answers: []answer{{code: 200, body: `{"status":"SUCCESS","tasksExecutionReport":{"total":1,"data":{"d":[{"taskName":`}},
			wantCalls: 1, wantErr: is(ErrInvalidResponse)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				s := &script{answers: tt.answers}
				netErrs := tt.netErrs
				tr := rtFunc(func(r *http.Request) (*http.Response, error) {
					if len(netErrs) > 0 {
						err := netErrs[0]
						netErrs = netErrs[1:]
						return nil, err
					}
					return handlerTransport{s}.RoundTrip(r)
				})
				obs := &recObserver{}
				opts := append([]Option{WithHTTPClient(&http.Client{Transport: tr}), WithObserver(obs)}, tt.opts...)
				c := newTestClient(t, nil, opts...)
				ctx := t.Context()
				if tt.timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.timeout)
					defer cancel()
				}
				start := time.Now()
				var err error
				if tt.post {
					_, err = c.SubmitReport(ctx, testBot, ReportRequest{}, 0, 10)
				} else {
					_, err = c.ReportStatus(ctx, testBot, "ds-1")
				}
				elapsed := time.Since(start)
				if tt.wantErr == nil && err != nil {
					t.Fatalf("err = %v", err)
				}
				if tt.wantErr != nil {
					if err == nil {
						t.Fatal("no error")
					}
					tt.wantErr(t, err)
					if containsAny(err.Error(), append(s.tokens, testSecret)...) {
						t.Errorf("error leaks a credential: %v", err)
					}
				}
				if got := s.n(); got != tt.wantCalls {
					t.Errorf("%d calls reached the server, want %d: %v", got, tt.wantCalls, s.calls)
				}
				if tt.wantMax == 0 && elapsed != tt.wantElapsed {
					t.Errorf("took %s, want %s", elapsed, tt.wantElapsed)
				}
				if tt.wantMax > 0 && (elapsed < tt.wantElapsed || elapsed > tt.wantMax) {
					t.Errorf("took %s, want %s…%s", elapsed, tt.wantElapsed, tt.wantMax)
				}
				reqs, retries := obs.snapshot()
				if strings.Join(retries, ",") != strings.Join(tt.wantRetries, ",") {
					t.Errorf("retries %q, want %q", retries, tt.wantRetries)
				}
				if want := len(retries) + 1; len(reqs) != want {
					t.Errorf("observer saw %d exchanges (%v), want %d", len(reqs), reqs, want)
				}
				for i, r := range reqs {
					if i < len(tt.netErrs) && !strings.HasSuffix(r, " 0") {
						t.Errorf("exchange %d without a response reported as %q, want code 0", i, r)
					}
				}
			})
		})
	}
}

func TestRequestShape(t *testing.T) {
	t.Parallel()
	var got *http.Request
	var body string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		io.WriteString(w, okJob)
	})
	c := newTestClient(t, h, WithHost("https://kore.test/"))
	req := ReportRequest{
		From:               time.Date(2025, 6, 1, 12, 0, 0, 0, time.FixedZone("CEST", 2*3600)),
		To:                 time.Date(2025, 6, 2, 10, 0, 0, 0, time.UTC),
		IncludeTaskNames:   []string{"Book Flight"},
		ConversationType:   ConversationTypeInteractive,
		ConversationStatus: ConversationStatusClosed,
		Tags:               []Tag{{Name: "channel", Values: []string{"web"}, Type: "session"}},
	}
	if _, err := c.SubmitReport(t.Context(), "st-a/b", req, 200, 100); err != nil {
		t.Fatal(err)
	}
	if got.Method != http.MethodPost || got.URL.EscapedPath() != "/api/public/bot/st-a%2Fb/taskContainmentReport" ||
		got.URL.RawQuery != "skip=200&limit=100" {
		t.Errorf("request %s %s", got.Method, got.URL)
	}
	if got.Header.Get("Content-Type") != "application/json" || got.Header.Get("auth") == "" || got.Header.Get("Authorization") != "" {
		t.Errorf("headers %v", got.Header)
	}
	want := `{"filters":{"dateFrom":"2025-06-01T10:00:00.000Z","dateTo":"2025-06-02T10:00:00.000Z","includeTaskName":["Book Flight"],` +
		`"ConversationType":"Interactive","ConversationStatus":"Closed","AggregationType":"Cumulative",` +
		`"tags":[{"name":"channel","values":["web"],"type":"session"}]}}`
	if body != want {
		t.Errorf("body\n got %s\nwant %s", body, want)
	}
	// The zero request asks for the API's defaults.
	if b, _ := (&ReportRequest{AggregationType: AggregationDaily}).Body(); string(b) != `{"filters":{"AggregationType":"Daily"}}` {
		t.Errorf("zero body %s", b)
	}
	if _, err := (&ReportRequest{From: req.To, To: req.From}).Body(); err == nil {
		t.Error("From after To accepted")
	}
}

func TestErrorBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		answer answer
		want   string // APIError.Message
		code   int
	}{
		{"kore body", answer{code: 412, body: koreErr(412, "Validation errors/ Invalid arguments")}, "Validation errors/ Invalid arguments", 412},
		{"code as string", answer{code: 405, body: `{"errors":[{"msg":"Method Not Allowed","code":"405"}]}`}, "Method Not Allowed", 405},
		{"html 502", answer{code: 502, body: "<html>\n  <body>\n\n Bad   Gateway </body></html>"}, "<html> <body> Bad Gateway </body></html>", 0},
		{"huge html", answer{code: 504, body: strings.Repeat("gateway timeout ", 10000)}, strings.Repeat("gateway timeout ", 16)[:256] + "…", 0},
		{"empty", answer{code: 500}, "", 0},
		{"token echoed", answer{code: 500, body: `{"errors":[{"msg":"bad token TOKEN","code":500}]}`}, "bad token [redacted]", 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.answer.code)
				io.WriteString(w, strings.ReplaceAll(tt.answer.body, "TOKEN", r.Header.Get("auth")))
			})
			c := newTestClient(t, h)
			_, err := c.SubmitReport(t.Context(), testBot, ReportRequest{}, 0, 1)
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v", err)
			}
			if ae.Message != tt.want || ae.Code != tt.code || ae.StatusCode != tt.answer.code || ae.Endpoint != EndpointSubmit {
				t.Errorf("APIError %+v, want message %q code %d", ae, tt.want, tt.code)
			}
			if strings.Contains(err.Error(), "eyJ") {
				t.Errorf("error holds a JWT: %v", err)
			}
		})
	}
}

// TestRateLimitPausesBot: a 429 on one call holds the bot's other calls
// too, but not other bots'.
func TestRateLimitPausesBot(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		first := true
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if first && strings.Contains(r.URL.Path, testBot) {
				first = false
				w.Header().Set("Retry-After", "30")
				w.WriteHeader(429)
				return
			}
			io.WriteString(w, okStatus)
		})
		c := newTestClient(t, h)
		start := time.Now()
		if _, err := c.ReportStatus(t.Context(), testBot, "ds-1"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ReportStatus(t.Context(), "st-other", "ds-1"); err != nil || time.Since(start) != 30*time.Second {
			t.Fatalf("other bot: %v after %s", err, time.Since(start))
		}
		// The paused bot's pause has passed by now; a call made during it
		// would have waited.
		c.limiter(testBot).pause(time.Now().Add(10 * time.Second))
		if _, err := c.ReportStatus(t.Context(), testBot, "ds-1"); err != nil || time.Since(start) != 40*time.Second {
			t.Fatalf("paused bot: %v after %s", err, time.Since(start))
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 2, 10, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"-5":                            0,
		"12":                            12 * time.Second,
		" 3 ":                           3 * time.Second,
		"99999999999":                   24 * time.Hour,
		"soon":                          0,
		"Mon, 02 Jun 2025 10:01:00 GMT": time.Minute,
		"Mon, 02 Jun 2025 09:00:00 GMT": 0,
	}
	for v, want := range tests {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}
