package collector

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-kit/log"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

// A token signed with HS256 (header {"alg":"HS256","typ":"JWT"}).
const testJWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhcHBJZCI6ImNzLTEiLCJzdWIiOiJrb3JlX2V4cG9ydGVyIn0.ZiYcxqKTYyFj_ZU9PLQYEdV_kS4Lkdjd3-AOHoMV4MQ"

func TestScrubTokens(t *testing.T) {
	for in, want := range map[string]string{
		"token " + testJWT + " end":          "token <token> end",
		"Auth:[" + testJWT + "]":             "Auth:[<token>]",
		"cut " + testJWT[:60]:                "cut <token>",
		"payload " + testJWT[37:] + ".":      "payload <token>",
		"kore: report job ds-1 failed (eyJ)": "kore: report job ds-1 failed (eyJ)",
		"Auth: [redacted]":                   "Auth: [redacted]",
	} {
		if got := (&config.Redactor{}).Replace(in); got != want {
			t.Errorf("Redactor.Replace(%q) = %q, want %q", in, got, want)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSchedulerPanicShowsNoSecret: a run that panics with a value quoting
// the bot's client secret and a token records the panic as its error, in
// the status and the log, with neither.
func TestSchedulerPanicShowsNoSecret(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := testBot("a", "1h")
		secret := b.ClientSecret.Reveal()
		r := &fakeRunner{run: func(context.Context, int, kore.ReportRequest) (*kore.Report, error) {
			panic(fmt.Sprintf("signing with %q gave %s", secret, testJWT))
		}}
		var logs lockedBuffer
		m := NewMetrics()
		s := NewScheduler(SchedulerOpts{
			Logger: log.NewLogfmtLogger(&logs), Store: NewStore(), Metrics: m, MaxStartSpread: time.Second,
			NewClient: func(config.Bot, *kore.Budgets, kore.Observer) (report.Runner, error) { return r, nil },
		})
		if err := s.Apply(t.Context(), &config.Config{Bots: []config.Bot{b}, Limits: config.Limits{MaxConcurrentJobs: 1}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		s.Stop()
		st := s.Status()
		if len(st) != 1 || st[0].LastResult != report.ResultError || !strings.Contains(st[0].LastError, "report run panicked: signing with") {
			t.Fatalf("status = %+v, want the panic as the last error", st)
		}
		for what, text := range map[string]string{"status": st[0].LastError, "log": logs.String()} {
			if strings.Contains(text, secret) || strings.Contains(text, "eyJ") {
				t.Errorf("the %s shows the secret or the token: %s", what, text)
			}
			if !strings.Contains(text, "<secret>") || !strings.Contains(text, "<token>") {
				t.Errorf("the %s does not say what was redacted: %s", what, text)
			}
		}
	})
}
