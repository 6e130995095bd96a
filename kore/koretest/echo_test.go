package koretest

import (
	"html"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestFaultEchoRequest: with EchoRequest, the injected 5xx answers show the
// request, its auth token included, in the JSON message and in the HTML
// page; without it they do not.
func TestFaultEchoRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.s.SetFault(testBotID, Fault{ServerErrors: 2, EchoRequest: true})
	for _, want := range []int{500, 502} {
		tok := h.token()
		code, hdr, b := h.do(http.MethodPost, pathSubmit(testBotID), "", tok)
		if code != want {
			t.Fatalf("HTTP %d, want %d: %s", code, want, b)
		}
		text := string(b)
		if strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
			text = html.UnescapeString(text)
		} else {
			r := decode(t, b)
			if len(r.Errors) != 1 || r.Errors[0].Code != want {
				t.Fatalf("HTTP %d: error body %s", code, b)
			}
			text = r.Errors[0].Msg
		}
		for _, s := range []string{"POST " + pathSubmit(testBotID), "Auth: " + tok} {
			if !strings.Contains(text, s) {
				t.Errorf("HTTP %d: the answer does not echo %q:\n%s", code, s, text)
			}
		}
	}
	h.s.SetFault(testBotID, Fault{ServerErrors: 2})
	for range 2 {
		tok := h.token()
		if code, _, b := h.do(http.MethodPost, pathSubmit(testBotID), "", tok); code < 500 || strings.Contains(string(b), tok) {
			t.Errorf("without EchoRequest: HTTP %d echoes the token: %s", code, b)
		}
	}
}

// TestFaultTokenAsJobID: with TokenAsJobID the submit answers the request's
// token as the job id (also in the WrongTypes shape); the job exists all the
// same.
func TestFaultTokenAsJobID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := filtersBody(t0.Add(-time.Hour), t0, nil)
	for _, wrongTypes := range []bool{false, true} {
		h.s.SetFault(testBotID, Fault{TokenAsJobID: true, WrongTypes: wrongTypes})
		tok := h.token()
		code, _, b := h.do(http.MethodPost, pathSubmit(testBotID), body, tok)
		if code != http.StatusOK {
			t.Fatalf("HTTP %d: %s", code, b)
		}
		if !strings.Contains(string(b), `"_id":"`+tok+`"`) {
			t.Errorf("WrongTypes %v: the answer's _id is not the token: %s", wrongTypes, b)
		}
	}
	if st := h.s.Stats(testBotID); st.Submits != 2 {
		t.Errorf("Submits = %d, want 2", st.Submits)
	}
	h.s.SetFault(testBotID, Fault{})
	if r := h.submit(body, ""); !strings.HasPrefix(r.ID, "ds-") {
		t.Errorf("healed: _id %q, want ds-…", r.ID)
	}
}
