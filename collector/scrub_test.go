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
	"github.com/kore-exporter/kore_exporter/kore/koretest"
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

// TestTokenInTaskNameNeverPublished: a report whose task names are, or
// contain, the submit request's token (koretest's TokenInTaskName), read
// through the real client (which scrubs only the token of the request it
// reads the page with), reaches /metrics with the token replaced, the rows
// kept, and one warning for the run that does not show it.
func TestTokenInTaskNameNeverPublished(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := koretest.NewInMemory(koretest.WithJobDuration(0))
		defer sim.Close()
		kb := koretest.DemoBots(1, 7)[0]
		sim.AddBot(kb)
		sim.SetFault(kb.ID, koretest.Fault{TokenInTaskName: true})
		b := testBot("a", "1h")
		b.BotID, b.ClientID, b.ClientSecret, b.Host = kb.ID, kb.ClientID, config.Secret(kb.ClientSecret), sim.URL
		var logs lockedBuffer
		reg, m, err := NewRegistry()
		if err != nil {
			t.Fatal(err)
		}
		store := NewStore()
		s := NewScheduler(SchedulerOpts{
			Logger: log.NewLogfmtLogger(&logs), Store: store, Metrics: m, MaxStartSpread: time.Second,
			NewClient: func(b config.Bot, budgets *kore.Budgets, obs kore.Observer) (report.Runner, error) {
				return kore.NewClient(kore.WithHost(b.Host), kore.WithHTTPClient(sim.Client()), kore.WithObserver(obs), kore.WithBudgets(budgets),
					kore.WithCredentials(kore.Credentials{ClientID: b.ClientID, ClientSecret: b.ClientSecret.Reveal()}))
			},
		})
		if err := s.Apply(t.Context(), &config.Config{Bots: []config.Bot{b}, Limits: config.Limits{MaxConcurrentJobs: 1}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		_, body := scrape(t, NewHandler(store, reg, HandlerOpts{Metrics: m}), "GET", "", "")
		s.Stop()
		st := s.Status()
		if len(st) != 1 || st[0].LastResult != report.ResultSuccess {
			t.Fatalf("status = %+v, want one successful run", st)
		}
		for what, text := range map[string]string{"metrics": string(body), "log": logs.String(), "status": fmt.Sprint(st)} {
			if strings.Contains(text, "eyJ") {
				t.Errorf("the %s holds a token:\n%s", what, text)
			}
		}
		for _, name := range []string{report.TokenPlaceholder, "Book flight " + report.TokenPlaceholder} {
			if !strings.Contains(string(body), `kore_task_sessions{bot="a",status="success",task_name="`+name+`",task_type="dialog",window="1h"} 1`) {
				t.Errorf("metrics lack task %q:\n%s", name, body)
			}
		}
		if n := strings.Count(logs.String(), "held a token"); n != 1 {
			t.Errorf("%d log lines about tokens, want 1 (one run):\n%s", n, logs.String())
		}
	})
}
