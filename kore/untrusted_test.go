package kore

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
)

// tokenEcho answers every request with body, where TOKEN is replaced by the
// request's own JWT, and records the tokens.
type tokenEcho struct {
	post, get string // bodies; TOKEN is replaced
	code      int    // of the POST answer; 200 when 0
	tokens    []string
}

func (e *tokenEcho) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok := r.Header.Get("auth")
	e.tokens = append(e.tokens, tok)
	body, code := e.post, e.code
	if r.Method == http.MethodGet {
		body, code = e.get, 200
	}
	if code == 0 {
		code = 200
	}
	w.WriteHeader(code)
	io.WriteString(w, strings.ReplaceAll(body, "TOKEN", tok))
}

// leaks reports whether s holds the token or any 12-byte piece of its
// signature.
func leaks(s string, tokens []string) bool {
	for _, tok := range tokens {
		if strings.Contains(s, tok) {
			return true
		}
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		for i := 0; i+12 <= len(sig); i++ {
			if strings.Contains(s, sig[i:i+12]) {
				return true
			}
		}
	}
	return false
}

// TestUntrustedServerStrings: whatever the server sends back, errors hold
// no part of the token and no unbounded text.
func TestUntrustedServerStrings(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("Q", 1<<20)
	tests := []struct {
		name   string
		echo   tokenEcho
		check  func(t *testing.T, err error)
		maxLen int // of err.Error()
	}{
		{name: "token straddles the cut of a text body",
			echo: tokenEcho{code: 502, post: strings.Repeat("x", 230) + " TOKEN " + strings.Repeat("y", 300)}, maxLen: 400,
			check: func(t *testing.T, err error) {
				var ae *APIError
				if !errors.As(err, &ae) || !strings.Contains(ae.Message, redacted) {
					t.Fatalf("err = %v, want an APIError with the token redacted", err)
				}
			}},
		{name: "token in a JSON message",
			echo: tokenEcho{code: 400, post: koreErr(400, "bad auth TOKEN")}, maxLen: 400,
			check: func(t *testing.T, err error) {
				var ae *APIError
				if !errors.As(err, &ae) || ae.Message != "bad auth "+redacted {
					t.Fatalf("err = %v", err)
				}
			}},
		{name: "1 MiB JSON message", echo: tokenEcho{code: 400, post: koreErr(400, huge)}, maxLen: 400,
			check: func(t *testing.T, err error) {
				if !errors.As(err, new(*APIError)) {
					t.Fatalf("err = %v", err)
				}
			}},
		{name: "token as the job id", echo: tokenEcho{post: `{"_id":"TOKEN","status":"IN_PROGRESS"}`}, maxLen: 400,
			check: func(t *testing.T, err error) {
				var de *DecodeError
				if !errors.As(err, &de) || de.Field != "_id" {
					t.Fatalf("err = %v, want a DecodeError on _id", err)
				}
			}},
		{name: "64 KiB job id", echo: tokenEcho{post: `{"_id":"ds-` + huge[:64<<10] + `","status":"IN_PROGRESS"}`}, maxLen: 400,
			check: func(t *testing.T, err error) {
				var de *DecodeError
				if !errors.As(err, &de) || de.Field != "_id" {
					t.Fatalf("err = %v, want a DecodeError on _id", err)
				}
			}},
		{name: "job id with a path in it", echo: tokenEcho{post: `{"_id":"../../other","status":"IN_PROGRESS"}`}, maxLen: 400,
			check: func(t *testing.T, err error) {
				if !errors.Is(err, ErrInvalidResponse) {
					t.Fatalf("err = %v", err)
				}
			}},
		{name: "1 MiB status of a failed job",
			echo: tokenEcho{post: `{"_id":"ds-1","status":"IN_PROGRESS"}`, get: `{"_id":"ds-1","status":"FAILED ` + huge + `"}`}, maxLen: 400,
			check: func(t *testing.T, err error) {
				var je *JobError
				if !errors.As(err, &je) || len(je.Status) > maxStatusText+len("…") {
					t.Fatalf("err = %v", err)
				}
			}},
		{name: "control characters in a status",
			echo: tokenEcho{post: `{"_id":"ds-1","status":"IN_PROGRESS"}`, get: `{"_id":"ds-1","status":"FAILED\u001b[2J\r\nlevel=error msg=fake"}`}, maxLen: 400,
			check: func(t *testing.T, err error) {
				var je *JobError
				if !errors.As(err, &je) || strings.ContainsAny(je.Status, "\x1b\r\n") {
					t.Fatalf("err = %v", err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := tt.echo
				c := newTestClient(t, &e, WithMaxAttempts(1))
				_, err := c.RunContainmentReport(t.Context(), testBot, ReportRequest{})
				if err == nil {
					t.Fatal("no error")
				}
				tt.check(t, err)
				if leaks(err.Error(), e.tokens) {
					t.Errorf("error holds the token: %.300s", err)
				}
				if len(err.Error()) > tt.maxLen {
					t.Errorf("error is %d bytes, want at most %d: %.300s…", len(err.Error()), tt.maxLen, err)
				}
			})
		})
	}
}
