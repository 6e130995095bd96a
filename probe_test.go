package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/kore"
	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

// probeT0 is the simulator's clock in the probe tests: no test depends on
// the time of day.
var probeT0 = time.Date(2025, 6, 2, 10, 5, 1, 0, time.UTC)

// probeBot is one configured bot of a probe test.
type probeBot struct {
	name, botID, clientID, secret string
	convType                      string // filters.conversation_type, if any
	sessions                      bool   // sessions.enabled
}

func fromSim(name string, b koretest.Bot) probeBot {
	return probeBot{name: name, botID: b.ID, clientID: b.ClientID, secret: b.ClientSecret}
}

// probeYAML is a configuration of bots on host.
func probeYAML(host string, bots ...probeBot) string {
	var b strings.Builder
	fmt.Fprintf(&b, "defaults:\n  host: %s\n  allow_insecure_http: true\n  interval: 15m\n  windows: [1h]\nbots:\n", host)
	for _, p := range bots {
		fmt.Fprintf(&b, "  - name: %s\n    bot_id: %q\n    client_id: %q\n    client_secret: %q\n", p.name, p.botID, p.clientID, p.secret)
		if p.convType != "" {
			fmt.Fprintf(&b, "    filters:\n      conversation_type: %s\n", p.convType)
		}
		if p.sessions {
			fmt.Fprintf(&b, "    sessions: {enabled: true}\n")
		}
	}
	return b.String()
}

// probeText runs probeBots against host with the client hc and clock now,
// and returns its output and how many bots failed.
func probeText(t *testing.T, ctx context.Context, hc *http.Client, now func() time.Time, host string, bots ...probeBot) (string, int) {
	t.Helper()
	cfg, err := config.Parse([]byte(probeYAML(host, bots...)))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	failed, _, err := probeBots(ctx, cfg, probeOpts{hc: hc, now: now, timeout: 10 * time.Second}, &out)
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), failed
}

// newProbeSim is an in-memory simulator at probeT0 whose jobs are done when
// submitted, so that a probe costs exactly a submit and one status call
// and never waits.
func newProbeSim(t *testing.T) (*koretest.Server, *koretest.ManualClock) {
	clock := koretest.NewManualClock(probeT0)
	sim := koretest.NewInMemory(koretest.WithClock(clock), koretest.WithJobDuration(0))
	t.Cleanup(sim.Close)
	return sim, clock
}

// verdict returns the lines of out about bot name: its verdict line and the
// indented lines after it.
func verdict(t *testing.T, out, name string) string {
	t.Helper()
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if (strings.HasPrefix(l, "ok ") || strings.HasPrefix(l, "FAILED ")) && strings.Contains(l, " "+name+" (") {
			j := i + 1
			for j < len(lines) && strings.HasPrefix(lines[j], "   ") {
				j++
			}
			return strings.Join(lines[i:j], "\n")
		}
	}
	t.Fatalf("no verdict for %s in:\n%s", name, out)
	return ""
}

// firstCause returns the text of cause 1 of a verdict.
func firstCause(v string) string {
	_, after, ok := strings.Cut(v, "1. ")
	if !ok {
		return ""
	}
	if i := strings.Index(after, "\n        2. "); i >= 0 {
		return after[:i]
	}
	return after
}

func TestProbeOKCostsTwoRequests(t *testing.T) {
	sim, clock := newProbeSim(t)
	b := koretest.DemoBots(1, 41)[0]
	sim.AddBot(b)
	out, failed := probeText(t, t.Context(), sim.Client(), clock.Now, sim.URL, fromSim("good", b))
	if failed != 0 {
		t.Fatalf("failed = %d:\n%s", failed, out)
	}
	// Kore.ai's side of the count: a submit and one status call.
	if st := sim.Stats(b.ID); st.Requests != 2 || st.Submits != 1 || st.Polls != 1 {
		t.Errorf("simulator saw %+v, want 1 submit and 1 poll", st)
	}
	v := verdict(t, out, "good")
	if !strings.HasPrefix(v, "ok ") || !strings.Contains(v, "2 requests of the bot's 1800/hour") {
		t.Errorf("verdict = %q, want ok with 2 requests", v)
	}
	if !strings.Contains(out, "probe: 1 of 1 bot ok; 2 requests spent in total") {
		t.Errorf("no total in:\n%s", out)
	}
	if strings.Contains(out, "warning") {
		t.Errorf("warnings for well-shaped ids:\n%s", out)
	}
}

// TestProbeSessions: a bot with sessions.enabled is probed with one page
// of the Sessions History API too (3 requests), and an app without the Bot
// Sessions scope fails with that cause first, though its report works.
func TestProbeSessions(t *testing.T) {
	sim, clock := newProbeSim(t)
	bots := koretest.DemoBots(2, 47)
	good, noScope := bots[0], bots[1]
	noScope.NoSessionsScope = true
	sim.AddBot(good)
	sim.AddBot(noScope)
	withSessions := func(p probeBot) probeBot { p.sessions = true; return p }
	out, failed := probeText(t, t.Context(), sim.Client(), clock.Now, sim.URL, withSessions(fromSim("good", good)), withSessions(fromSim("noscope", noScope)))
	if failed != 1 {
		t.Fatalf("failed = %d, want 1:\n%s", failed, out)
	}
	if v := verdict(t, out, "good"); !strings.HasPrefix(v, "ok ") || !strings.Contains(v, "report and sessions answered; 3 requests") {
		t.Errorf("verdict = %q, want ok with the report and sessions in 3 requests", v)
	}
	if st := sim.Stats(good.ID); st.SessionPages != 1 {
		t.Errorf("simulator saw %+v, want one sessions page", st)
	}
	v := verdict(t, out, "noscope")
	for _, want := range []string{"sessions (sessions.enabled)", `"Permission denied. Scope is incorrect!"`} {
		if !strings.Contains(v, want) {
			t.Errorf("verdict lacks %q:\n%s", want, v)
		}
	}
	if c := firstCause(v); !strings.Contains(c, "lacks the Bot Sessions scope") || !strings.Contains(c, "or set sessions.enabled: false") {
		t.Errorf("cause 1 = %q, want the Bot Sessions scope and its fix", c)
	}
}

// TestProbeCauses drives every 401 the simulator gives (API.md §6) and
// checks that the probe names the right cause first, with its fix.
func TestProbeCauses(t *testing.T) {
	sim, clock := newProbeSim(t)
	bots := koretest.DemoBots(6, 43)
	good, noScope, unpublished, skewed := bots[0], bots[1], bots[2], bots[3]
	noScope.NoMetricsScope = true
	unpublished.Unpublished = true
	for _, b := range []koretest.Bot{good, noScope, unpublished, skewed} {
		sim.AddBot(b)
	}
	wrongSecret := fromSim("wrongsecret", bots[4])
	sim.AddBot(bots[4])
	wrongSecret.secret = "not-the-secret"
	tests := []struct {
		name      string
		bot       probeBot
		now       func() time.Time
		wantFirst []string // in cause 1
		wantAlso  []string // anywhere in the verdict
	}{
		{name: "wrong secret", bot: wrongSecret,
			wantFirst: []string{"client id or client secret is wrong", "fix: copy the Client ID (cs-…) and Client Secret again"},
			wantAlso:  []string{`"Invalid SDK credentials" (code 4002)`, "not linked to this JWT app", "not published", "https://de-platform.kore.ai (DE)"}},
		{name: "unknown bot", bot: probeBot{name: "unknown", botID: "st-00000000-0000-4000-8000-000000000001", clientID: bots[5].ClientID, secret: bots[5].ClientSecret},
			wantFirst: []string{"client id or client secret is wrong"},
			wantAlso:  []string{"the bot id is unknown on this host, or the bot is not linked to this JWT app", "another Kore.ai region"}},
		{name: "app not published", bot: fromSim("unpublished", unpublished),
			wantAlso: []string{`"Invalid SDK credentials"`, "scope mapping was not saved, or the bot was not published", "fix: in Dev Tools → API Scopes, save the mapping"}},
		{name: "missing scope", bot: fromSim("noscope", noScope),
			wantFirst: []string{"lacks the Metrics scope", "give the JWT app the App Builder scope Metrics"},
			wantAlso:  []string{`"Permission denied. Scope is incorrect!" (code 4002)`}},
		{name: "local clock ahead", bot: fromSim("ahead", skewed), now: func() time.Time { return clock.Now().Add(10 * time.Minute) },
			wantFirst: []string{"the local clock is 10m0s ahead of Kore.ai's", "fix: synchronise this machine's clock"},
			wantAlso:  []string{"client id or client secret is wrong"}},
		{name: "local clock behind", bot: fromSim("behind", skewed), now: func() time.Time { return clock.Now().Add(-7 * time.Minute) },
			wantFirst: []string{"the local clock is 7m0s behind Kore.ai's"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			if now == nil {
				now = clock.Now
			}
			out, failed := probeText(t, t.Context(), sim.Client(), now, sim.URL, tt.bot)
			if failed != 1 {
				t.Fatalf("failed = %d, want 1:\n%s", failed, out)
			}
			v := verdict(t, out, tt.bot.name)
			if !strings.HasPrefix(v, "FAILED ") {
				t.Fatalf("verdict = %q", v)
			}
			for _, want := range tt.wantFirst {
				if !strings.Contains(firstCause(v), want) {
					t.Errorf("cause 1 %q lacks %q; verdict:\n%s", firstCause(v), want, v)
				}
			}
			for _, want := range tt.wantAlso {
				if !strings.Contains(v, want) {
					t.Errorf("verdict lacks %q:\n%s", want, v)
				}
			}
		})
	}
	// The same clock, unskewed, passes: the skew was the cause.
	if out, failed := probeText(t, t.Context(), sim.Client(), clock.Now, sim.URL, fromSim("skewed", skewed)); failed != 0 {
		t.Errorf("the skewed bot with a good clock failed:\n%s", out)
	}
}

// TestProbeCredentialsWorkForAnotherBot: the same client id and secret work
// for one bot on the host, so another bot's "Invalid SDK credentials" is
// the bot's id or mapping, not the credentials.
func TestProbeCredentialsWorkForAnotherBot(t *testing.T) {
	sim, clock := newProbeSim(t)
	b := koretest.DemoBots(1, 47)[0]
	sim.AddBot(b)
	other := probeBot{name: "other", botID: "st-11111111-2222-4333-8444-555555555555", clientID: b.ClientID, secret: b.ClientSecret}
	out, failed := probeText(t, t.Context(), sim.Client(), clock.Now, sim.URL, fromSim("linked", b), other)
	if failed != 1 {
		t.Fatalf("failed = %d, want 1:\n%s", failed, out)
	}
	v := verdict(t, out, "other")
	if !strings.Contains(firstCause(v), "the same client id and secret work for another bot on this host") ||
		!strings.Contains(v, "2. the bot id is unknown on this host, or the bot is not linked to this JWT app") {
		t.Errorf("verdict:\n%s", v)
	}
	if strings.Contains(v, "client id or client secret is wrong") {
		t.Errorf("blames the credentials that work:\n%s", v)
	}
}

// TestProbeVariantsProbedOnce: variants of one bot_id with the same
// credentials cost one probe.
func TestProbeVariantsProbedOnce(t *testing.T) {
	sim, clock := newProbeSim(t)
	b := koretest.DemoBots(1, 53)[0]
	sim.AddBot(b)
	voice := fromSim("voice", b)
	voice.convType = "Interactive"
	out, failed := probeText(t, t.Context(), sim.Client(), clock.Now, sim.URL, fromSim("web", b), voice)
	if failed != 0 || sim.Stats(b.ID).Submits != 1 {
		t.Fatalf("failed = %d, submits = %d, want one probe:\n%s", failed, sim.Stats(b.ID).Submits, out)
	}
	if !strings.Contains(out, "ok      web, voice (") || !strings.Contains(out, "probe: 1 bot to probe (2 configured") {
		t.Errorf("output:\n%s", out)
	}
}

// staticAPI answers every request with status and body.
func staticAPI(t *testing.T, status int, contentType, body string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// dnsFails is a transport whose every lookup fails.
type dnsFails struct{}

func (dnsFails) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: r.URL.Hostname(), IsNotFound: true}}
}

// TestProbeWrongHost: answers and failures that are not Kore.ai's API, and
// the 401s the simulator cannot give.
func TestProbeWrongHost(t *testing.T) {
	b := probeBot{name: "bot", botID: "st-00000000-0000-4000-8000-00000000000a", clientID: "cs-00000000-0000-4000-8000-00000000000b", secret: "s3cr3t"}
	html404 := staticAPI(t, http.StatusNotFound, "text/html", "<html><body><h1>404 Not Found</h1></body></html>")
	badToken := staticAPI(t, http.StatusUnauthorized, "application/json", `{"errors":[{"msg":"Invalid JWT token","code":4002}]}`)
	replay := staticAPI(t, http.StatusUnauthorized, "application/json", `{"errors":[{"msg":"error verifying the jwt: possibly a replay","code":401}]}`)
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(tlsSrv.Close)
	sim, clock := newProbeSim(t)
	refused := koretest.DemoBots(1, 59)[0]
	sim.AddBot(refused)
	sim.SetFault(refused.ID, koretest.Fault{Refuse: true})

	tests := []struct {
		name, host string
		hc         *http.Client
		bot        probeBot
		want       []string
	}{
		{"HTML 404", html404.URL, http.DefaultClient, b, []string{"HTTP 404", "the host is not Kore.ai's API", "https://jp-platform.kore.ai (JP)"}},
		{"DNS", "https://platfrom.kore.ai", &http.Client{Transport: dnsFails{}}, b, []string{"the host name does not resolve (DNS)", "https://bots.kore.ai (older US)"}},
		{"TLS", tlsSrv.URL, &http.Client{}, b, []string{"TLS certificate was not accepted"}},
		{"refused", sim.URL, sim.Client(), fromSim("bot", refused), []string{"connection was refused"}},
		{"malformed token", badToken.URL, http.DefaultClient, b, []string{`"Invalid JWT token"`, "Kore.ai could not read the token", "HS256"}},
		{"replay", replay.URL, http.DefaultClient, b, []string{"possibly a replay", "Enforce JTI", "another party repeated it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, failed := probeText(t, t.Context(), tt.hc, clock.Now, tt.host, tt.bot)
			v := verdict(t, out, "bot")
			if failed != 1 {
				t.Fatalf("failed = %d:\n%s", failed, out)
			}
			for _, want := range tt.want {
				if !strings.Contains(firstCause(v)+v, want) {
					t.Errorf("verdict lacks %q:\n%s", want, v)
				}
			}
		})
	}
}

func TestProbeWarnsOfIDShapes(t *testing.T) {
	sim, clock := newProbeSim(t)
	b := koretest.Bot{ID: "mybot", ClientID: "myapp", ClientSecret: "s"}
	sim.AddBot(b) // on-premises ids may look like anything: it works, with warnings
	out, failed := probeText(t, t.Context(), sim.Client(), clock.Now, sim.URL, fromSim("onprem", b))
	if failed != 0 {
		t.Fatalf("failed:\n%s", out)
	}
	for _, want := range []string{`warning onprem: bot_id "mybot" does not look like st-<uuid>`, `warning onprem: client_id "myapp" does not look like cs-<uuid>`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestProbeCancel: cancelling (SIGINT) ends a probe that waits on Kore.ai.
func TestProbeCancel(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived) // the client retries no submit after a cancel
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan string)
	go func() {
		out, _ := probeText(t, ctx, http.DefaultClient, time.Now, srv.URL, probeBot{name: "bot", botID: "st-00000000-0000-4000-8000-00000000000a", clientID: "cs-00000000-0000-4000-8000-00000000000b", secret: "s"})
		done <- out
	}()
	<-arrived
	cancel()
	out := <-done
	if v := verdict(t, out, "bot"); !strings.Contains(v, "context canceled") || !strings.Contains(v, "the check was interrupted") {
		t.Errorf("verdict:\n%s", v)
	}
}

// TestProbeExitCodes runs the command: 0 when every bot passes, 4 when one
// fails, 1 for an invalid configuration; and the output never shows a
// secret or a token.
func TestProbeExitCodes(t *testing.T) {
	sim := koretest.NewServer(koretest.WithJobDuration(0))
	defer sim.Close()
	bots := koretest.DemoBots(2, 61)
	sim.AddBot(bots[0])
	sim.AddBot(bots[1])
	dir := t.TempDir()
	write := func(yaml string) string {
		path := filepath.Join(dir, "kore.yml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	run1 := func(path string, extra ...string) (int, string, string) {
		var out, errs syncBuffer
		code := run(t.Context(), append([]string{"--config.file=" + path, "--config.check.probe"}, extra...), &out, &errs)
		return code, out.String(), errs.String()
	}

	code, out, errs := run1(write(probeYAML(sim.URL, fromSim("a", bots[0]), fromSim("b", bots[1]))))
	if code != 0 || !strings.Contains(out, "configuration OK") || !strings.Contains(out, "probe: 2 of 2 bots ok; 4 requests spent in total") {
		t.Fatalf("exit %d, want 0:\n%s%s", code, out, errs)
	}

	wrong := fromSim("b", bots[1])
	wrong.secret = canaryClientSecret
	code, out, errs = run1(write(probeYAML(sim.URL, fromSim("a", bots[0]), wrong)))
	if code != exitProbeFailed || !strings.Contains(errs, "1 of 2 bots failed the credentials probe (exit 4)") {
		t.Fatalf("exit %d, want %d:\n%s%s", code, exitProbeFailed, out, errs)
	}
	if !strings.Contains(out, "FAILED  b (") || !strings.Contains(out, "client id or client secret is wrong") {
		t.Errorf("output:\n%s", out)
	}
	for _, text := range []string{out, errs} {
		if strings.Contains(text, canaryClientSecret) || jwtLike.MatchString(text) {
			t.Errorf("output shows the secret or a token:\n%s", text)
		}
	}

	if code, _, _ = run1(write("bots: [")); code != exitInvalid {
		t.Errorf("invalid configuration: exit %d, want %d", code, exitInvalid)
	}
	if code, _, _ = run1(write(probeYAML(sim.URL, fromSim("a", bots[0]))), "--config.check.skip-secrets"); code != 1 {
		t.Errorf("--config.check.skip-secrets with the probe: exit %d, want 1", code)
	}
	if code, _, _ = run1(write(probeYAML(sim.URL, fromSim("a", bots[0]))), "--config.check.probe=maybe"); code != 2 {
		t.Errorf("bad flag value: exit %d, want 2", code)
	}
}

// TestProbeHintAtRuntime: a report run's 401 carries the probe's hint on
// /status and in the logs, and no secret.
func TestProbeHintAtRuntime(t *testing.T) {
	skipShort(t, "end-to-end on a real clock")
	sim := koretest.NewServer(koretest.WithJobDuration(0))
	defer sim.Close()
	bots := koretest.DemoBots(2, 67)
	sim.AddBot(bots[0])
	sim.AddBot(bots[1])
	wrong := bots[1]
	wrong.ClientSecret = canarySecret
	path := writeConfig(t, t.TempDir(), sim.URL, []koretest.Bot{bots[0], wrong})
	e := startExporter(t, "--config.file="+path)
	e.waitReady(60 * time.Second)
	hint := kore.Hint(kore.Diagnose(&kore.AuthError{Reason: kore.AuthBadCredentials, APIError: &kore.APIError{StatusCode: 401, Code: 4002, Message: "Invalid SDK credentials"}}, kore.Signals{}))
	found := false
	for _, j := range e.status() {
		if j.Bot == "beta" {
			found = true
			if !strings.Contains(j.LastError, hint) {
				t.Errorf("/status error of beta %q lacks the hint %q", j.LastError, hint)
			}
		}
	}
	if !found {
		t.Fatal("no status row for beta")
	}
	if logs := e.logs.String(); !strings.Contains(logs, "likely: the client id or client secret is wrong") || strings.Contains(logs, canarySecret) {
		t.Errorf("logs lack the hint or show the secret:\n%s", logs)
	}
}
