package kore

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// sessionsAnswers serves canned getSessions pages in turn.
func sessionsAnswers(t *testing.T, answers ...string) (http.Handler, *int) {
	calls := 0
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/getSessions") {
			t.Errorf("%s %s, want POST …/getSessions", r.Method, r.URL.Path)
		}
		a := answers[min(calls, len(answers)-1)]
		calls++
		if code, body, ok := strings.Cut(a, " "); ok && code == "502" {
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte(body))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(a))
	}), &calls
}

const userData = "+15551234567"

func TestSessionsDecodeAndStop(t *testing.T) {
	from := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	to := from.Add(time.Hour)
	s := func(id, start string) string {
		return `{"sessionId":"` + id + `","start_time":"` + start + `","channel":"rtm","sessionType":"interactive","containmentType":"dropOff","userId":"` + userData + `","tags":{"sessionTags":[{"name":"caller","value":"` + userData + `"}]}}`
	}
	for _, tc := range []struct {
		name    string
		answers []string
		visits  int
		calls   int
		err     string
	}{
		{"total is ignored; moreAvailable pages", []string{
			`{"total":1,"moreAvailable":true,"sessions":[` + s("a", "2026-03-02T10:59:00.000Z") + `,` + s("b", "2026-03-02T10:30:00.000Z") + `]}`,
			`{"total":1,"moreAvailable":false,"sessions":[` + s("b", "2026-03-02T10:30:00.000Z") + `,` + s("c", "2026-03-02T11:00:00.000Z") + `,` + s("d", "2026-03-02T10:00:00Z") + `]}`,
		}, 3, 2, ""},
		{"5xx is repeated (a read)", []string{`502 <html>bad gateway</html>`, `{"moreAvailable":false,"sessions":[]}`}, 0, 2, ""},
		{"empty page that says more", []string{`{"moreAvailable":true,"sessions":[]}`}, 0, 1, "moreAvailable: true on a page without sessions"},
		{"no moreAvailable", []string{`{"total":0,"sessions":[]}`}, 0, 1, "moreAvailable: missing"},
		{"no sessions", []string{`{"moreAvailable":false}`}, 0, 1, "sessions: missing"},
		{"no session id", []string{`{"moreAvailable":false,"sessions":[{"start_time":"2026-03-02T10:00:00Z","userId":"` + userData + `"}]}`}, 0, 1, "sessions[0].sessionId: missing"},
		{"bad start", []string{`{"moreAvailable":false,"sessions":[` + s("a", userData) + `]}`}, 0, 1, "sessions[0].start_time: not an RFC 3339 time"},
		{"wrong type", []string{`{"moreAvailable":"no","sessions":[]}`}, 0, 1, "moreAvailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, calls := sessionsAnswers(t, tc.answers...)
			c := newTestClient(t, h, WithRetryBackoff(Backoff{Initial: time.Millisecond, Multiplier: 1, Max: time.Millisecond}))
			visits := 0
			res, err := c.Sessions(t.Context(), testBot, from, to, func(Session) { visits++ })
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
			var de *DecodeError
			if tc.err != "" && !errors.As(err, &de) {
				t.Errorf("err %T, want a *DecodeError", err)
			}
			if err != nil && strings.Contains(err.Error(), userData) {
				t.Errorf("the error carries user data: %v", err)
			}
			if visits != tc.visits || *calls != tc.calls {
				t.Errorf("%d visits in %d calls, want %d in %d (result %+v)", visits, *calls, tc.visits, tc.calls, res)
			}
		})
	}
}
