package kore_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kore-exporter/kore_exporter/kore"
	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

func names(cs []kore.Cause) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}

func auth401(msg string, code int) error {
	var reason kore.AuthReason
	switch {
	case strings.Contains(msg, "replay"):
		reason = kore.AuthReplay
	case strings.Contains(msg, "Scope"):
		reason = kore.AuthScope
	default:
		reason = kore.AuthBadCredentials
	}
	return &kore.AuthError{Reason: reason, APIError: &kore.APIError{StatusCode: 401, Code: code, Message: msg}}
}

func TestDiagnose(t *testing.T) {
	creds := auth401("Invalid SDK credentials", 4002)
	tests := []struct {
		name string
		err  error
		s    kore.Signals
		want []string
	}{
		{"nil", nil, kore.Signals{}, nil},
		{"invalid credentials", creds, kore.Signals{},
			[]string{kore.CauseBadCredentials, kore.CauseBotNotLinked, kore.CauseAppNotPublished, kore.CauseWrongRegion}},
		{"misshapen bot id first blames the bot", creds, kore.Signals{BotID: "My Bot"},
			[]string{kore.CauseBotNotLinked, kore.CauseBadCredentials, kore.CauseAppNotPublished, kore.CauseWrongRegion}},
		{"credentials work elsewhere", creds, kore.Signals{CredentialsWork: true},
			[]string{kore.CauseCredentialsWork, kore.CauseBotNotLinked, kore.CauseAppNotPublished}},
		{"skew first", creds, kore.Signals{ClockOffset: -2 * time.Minute},
			[]string{kore.CauseClockSkew, kore.CauseBadCredentials, kore.CauseBotNotLinked, kore.CauseAppNotPublished, kore.CauseWrongRegion}},
		{"small skew ignored", creds, kore.Signals{ClockOffset: 59 * time.Second},
			[]string{kore.CauseBadCredentials, kore.CauseBotNotLinked, kore.CauseAppNotPublished, kore.CauseWrongRegion}},
		{"scope ignores skew", auth401("Permission denied. Scope is incorrect!", 4002), kore.Signals{ClockOffset: time.Hour},
			[]string{kore.CauseMissingScope}},
		{"malformed token", auth401("Invalid JWT token", 4002), kore.Signals{}, []string{kore.CauseBadToken}},
		{"replay", auth401("error verifying the jwt: possibly a replay", 401), kore.Signals{}, []string{kore.CauseReplay}},
		{"html 404", &kore.APIError{StatusCode: 404, Message: "<html>Not Found</html>"}, kore.Signals{}, []string{kore.CauseWrongHost}},
		{"405", &kore.APIError{StatusCode: 405, Code: 405, Message: "Method Not Allowed"}, kore.Signals{}, []string{kore.CauseWrongHost}},
		{"502", &kore.APIError{StatusCode: 502, Message: "<html>Bad Gateway</html>"}, kore.Signals{}, []string{kore.CauseServerError}},
		{"400", &kore.APIError{StatusCode: 400, Code: 400, Message: "bad filter"}, kore.Signals{}, []string{kore.CauseBadRequest}},
		{"429", &kore.RateLimitError{APIError: &kore.APIError{StatusCode: 429, Code: 429}}, kore.Signals{}, []string{kore.CauseRateLimited}},
		{"job failed", &kore.JobError{JobID: "ds-1"}, kore.Signals{}, []string{kore.CauseJobFailed}},
		{"decode", &kore.DecodeError{Err: errors.New("not JSON")}, kore.Signals{}, []string{kore.CauseInvalidResponse}},
		{"canceled", context.Canceled, kore.Signals{}, []string{kore.CauseCanceled}},
		{"deadline", context.DeadlineExceeded, kore.Signals{}, []string{kore.CauseTimeout}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := names(kore.Diagnose(tt.err, tt.s))
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("Diagnose = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAuthErrorCarriesHint: a 401's text, as logs and /status show it,
// holds the hint of Diagnose.
func TestAuthErrorCarriesHint(t *testing.T) {
	err := auth401("Invalid SDK credentials", 4002)
	hint := kore.Hint(kore.Diagnose(err, kore.Signals{}))
	if hint == "" || !strings.Contains(err.Error(), hint) || !strings.Contains(err.Error(), "[bad_credentials]") {
		t.Errorf("Error() = %q, want the reason and the hint %q", err.Error(), hint)
	}
	if !strings.HasPrefix(hint, "likely: the client id or client secret is wrong") {
		t.Errorf("hint = %q", hint)
	}
}

// TestClockOffsetFromDate: the client measures the server's clock by the
// Date header of a refused answer, against its own (injected) clock, and
// Diagnose names the skew.
func TestClockOffsetFromDate(t *testing.T) {
	t0 := time.Date(2025, 6, 2, 10, 5, 1, 0, time.UTC)
	clock := koretest.NewManualClock(t0)
	sim := koretest.NewInMemory(koretest.WithClock(clock), koretest.WithJobDuration(0))
	defer sim.Close()
	b := koretest.DemoBots(1, 3)[0]
	sim.AddBot(b)
	for _, tt := range []struct {
		local      time.Duration // local clock minus the server's
		wantOK     bool
		wantOffset time.Duration
	}{
		{0, true, 0},
		{20 * time.Second, true, 0}, // within the simulator's iat leeway
		{10 * time.Minute, false, -10 * time.Minute},
		{-6 * time.Minute, false, 6 * time.Minute}, // the 5-minute token has expired
	} {
		c, err := kore.NewClient(kore.WithHost(sim.URL), kore.WithHTTPClient(sim.Client()),
			kore.WithCredentials(kore.Credentials{ClientID: b.ClientID, ClientSecret: b.ClientSecret}),
			kore.WithClock(func() time.Time { return clock.Now().Add(tt.local) }), kore.WithoutBotLimits())
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.SubmitReport(t.Context(), b.ID, kore.ReportRequest{}, 0, 1)
		if tt.wantOK {
			if err != nil {
				t.Errorf("local %v: %v", tt.local, err)
			}
			continue
		}
		var ae *kore.AuthError
		if !errors.As(err, &ae) || ae.StatusCode != http.StatusUnauthorized || ae.ClockOffset != tt.wantOffset {
			t.Fatalf("local %v: err = %v, want a 401 with ClockOffset %v", tt.local, err, tt.wantOffset)
		}
		if got := kore.Diagnose(err, kore.Signals{}); len(got) == 0 || got[0].Name != kore.CauseClockSkew {
			t.Errorf("local %v: causes %v, want clock skew first", tt.local, names(got))
		}
	}
}

func TestCheckIDShapes(t *testing.T) {
	if w := kore.CheckIDShapes("st-1a2b3c4d-0000-5000-8000-00000000a001", "cs-0f1e2d3c-0000-5000-8000-00000000d004"); len(w) != 0 {
		t.Errorf("warnings for good ids: %v", w)
	}
	w := kore.CheckIDShapes("cs-0f1e2d3c-0000-5000-8000-00000000d004", "st-1a2b3c4d-0000-5000-8000-00000000a001")
	if len(w) != 2 || !strings.Contains(w[0], "bot_id") || !strings.Contains(w[1], "client_id") {
		t.Errorf("swapped ids: %v", w)
	}
}
