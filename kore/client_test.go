package kore

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestNewClientOptions(t *testing.T) {
	t.Parallel()
	creds := WithCredentials(Credentials{ClientID: testApp, ClientSecret: testSecret})
	tests := []struct {
		name string
		opts []Option
		want []string // substrings of the error; nil = success
	}{
		{"minimal", []Option{WithHost("https://platform.kore.ai"), creds}, nil},
		{"trailing slash", []Option{WithHost("https://kore.example.com/"), creds}, nil},
		{"path refused", []Option{WithHost("https://kore.example.com/onprem/"), creds}, []string{"WithHost", "must not have a path"}},
		{"http with insecure after host", []Option{WithHost("http://localhost:8080"), creds, WithInsecureHTTP()}, nil},
		{"all options", []Option{WithHost("https://bots.kore.ai"), creds, WithHTTPClient(http.DefaultClient),
			WithRequestTimeout(time.Second), WithRequestsPerMinute(60),
			WithObserver(NopObserver{}), WithPageSize(10), WithMaxAttempts(1),
			WithPollBackoff(Backoff{Initial: time.Second, Multiplier: 1, Max: time.Second}),
			WithRetryBackoff(Backoff{Initial: time.Second, Multiplier: 2, Max: time.Minute, Jitter: 1})}, nil},
		{"no host", []Option{creds}, []string{"WithHost: required"}},
		{"http refused", []Option{WithHost("http://platform.kore.ai"), creds}, []string{"WithHost", "uses plain http"}},
		{"ftp", []Option{WithHost("ftp://platform.kore.ai"), creds}, []string{"WithHost", "scheme"}},
		{"no host part", []Option{WithHost("https://"), creds}, []string{"WithHost", "not an absolute URL"}},
		{"user info", []Option{WithHost("https://u:p@platform.kore.ai"), creds}, []string{"WithHost", "user name or password"}},
		{"query", []Option{WithHost("https://platform.kore.ai?x=1"), creds}, []string{"WithHost", "query"}},
		{"no creds", []Option{WithHost("https://platform.kore.ai")}, []string{"WithCredentials: required"}},
		{"no client id", []Option{WithHost("https://platform.kore.ai"), WithCredentials(Credentials{ClientSecret: "s"})}, []string{"WithCredentials", "ClientID"}},
		{"no key", []Option{WithHost("https://platform.kore.ai"), WithCredentials(Credentials{ClientID: "cs-1"})}, []string{"WithCredentials", "ClientSecret or PrivateKey"}},
		{"every bad option at once", []Option{WithHost("https://platform.kore.ai"), creds,
			WithHTTPClient(nil), WithRequestTimeout(0), WithRequestsPerMinute(61), WithRequestsPerMinute(0),
			WithObserver(nil), WithPageSize(0), WithMaxAttempts(0),
			WithPollBackoff(Backoff{}), WithRetryBackoff(Backoff{Initial: time.Second, Multiplier: 2, Max: time.Second, Jitter: 2})},
			[]string{"WithHTTPClient", "WithRequestTimeout", "WithRequestsPerMinute: must be within [1, 60], got 61",
				"got 0", "WithObserver", "WithPageSize", "WithMaxAttempts", "WithPollBackoff: initial wait must be positive",
				"WithRetryBackoff: jitter must be within"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := NewClient(tt.opts...)
			if tt.want == nil {
				if err != nil || c == nil {
					t.Fatalf("NewClient: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("NewClient: no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestCredentialsStringHidesSecret(t *testing.T) {
	t.Parallel()
	c := Credentials{ClientID: testApp, ClientSecret: testSecret}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c)} {
		if strings.Contains(s, testSecret) || !strings.Contains(s, testApp) {
			t.Errorf("formatted credentials %q", s)
		}
	}
}

// TestTokenClaims checks every request's JWT as Kore.ai would: signature,
// appId, sub, iat, exp = iat + 5 min, a unique jti.
func TestTokenClaims(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		creds   Credentials
		key     any
		method  string
		wantSub string
	}{
		{"HS256 secret as-is", Credentials{ClientID: testApp, ClientSecret: testSecret}, []byte(testSecret), "HS256", "kore_exporter"},
		{"HS256 custom subject", Credentials{ClientID: testApp, ClientSecret: testSecret, Subject: "ops"}, []byte(testSecret), "HS256", "ops"},
		{"RS256 private key wins", Credentials{ClientID: testApp, ClientSecret: testSecret, PrivateKey: rsaKey}, &rsaKey.PublicKey, "RS256", "kore_exporter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				s := &script{answers: []answer{{code: 503, body: "busy"}, {code: 200, body: `{"status":"IN_PROGRESS"}`}}}
				c := newTestClient(t, s, WithCredentials(tt.creds))
				if _, err := c.ReportStatus(t.Context(), testBot, "ds-1"); err != nil {
					t.Fatal(err)
				}
				if len(s.tokens) != 2 {
					t.Fatalf("%d requests, want 2", len(s.tokens))
				}
				seen := map[string]bool{}
				for i, tok := range s.tokens {
					if strings.HasPrefix(tok, "Bearer") {
						t.Errorf("token has a Bearer prefix")
					}
					claims, err := parseToken(tok, tt.key, tt.method)
					if err != nil {
						t.Fatalf("token %d: %v", i, err)
					}
					if claims["appId"] != testApp || claims["sub"] != tt.wantSub {
						t.Errorf("claims %v", claims)
					}
					iat, _ := claims.GetIssuedAt()
					exp, _ := claims.GetExpirationTime()
					if !iat.Equal(s.at[i].Truncate(time.Second)) || exp.Sub(iat.Time) != 5*time.Minute {
						t.Errorf("iat %v exp %v at %v", iat, exp, s.at[i])
					}
					jti, _ := claims["jti"].(string)
					if len(jti) < 16 || seen[jti] {
						t.Errorf("jti %q empty or reused", jti)
					}
					seen[jti] = true
				}
			})
		})
	}
}

func TestTokenWrongSecretRejected(t *testing.T) {
	t.Parallel()
	s, err := newSigner(Credentials{ClientID: testApp, ClientSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.sign(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseToken(tok, []byte("other"), "HS256"); err == nil {
		t.Error("token verified with the wrong secret")
	}
	// The secret is used as-is, never base64-decoded.
	if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte(testSecret), nil }); err != nil {
		t.Errorf("token does not verify with the raw secret bytes: %v", err)
	}
}

func TestClassifyAuth(t *testing.T) {
	t.Parallel()
	tests := map[string]AuthReason{
		"Invalid SDK credentials":                AuthBadCredentials,
		"Invalid JWT token":                      AuthBadCredentials,
		"":                                       AuthBadCredentials,
		"Permission denied. Scope is incorrect!": AuthScope,
		"error verifying the jwt: possibly a replay": AuthReplay,
		"JTI already used":                           AuthReplay,
		"exp should be less than 1 hour":             AuthReplay,
	}
	for msg, want := range tests {
		if got := classifyAuth(msg); got != want {
			t.Errorf("classifyAuth(%q) = %s, want %s", msg, got, want)
		}
	}
}

// TestBotLimiterCaps drives the limiter with a request as soon as it allows
// one, for two hours of fake time, and checks Kore.ai's rolling windows.
func TestBotLimiterCaps(t *testing.T) {
	t.Parallel()
	for _, rpm := range []int{10, 29, 30, 45, 60} {
		t.Run(fmt.Sprint(rpm), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c := newTestClient(t, http.NotFoundHandler(), WithRequestsPerMinute(rpm))
				start := time.Now()
				var at []time.Duration
				for time.Since(start) < 2*time.Hour {
					if err := c.wait(t.Context(), testBot); err != nil {
						t.Fatal(err)
					}
					at = append(at, time.Since(start))
				}
				maxIn := func(w time.Duration) int {
					best, j := 0, 0
					for i := range at {
						for at[i]-at[j] >= w {
							j++
						}
						best = max(best, i-j+1)
					}
					return best
				}
				if m := maxIn(time.Minute); m > MaxRequestsPerMinute {
					t.Errorf("%d requests within a minute", m)
				}
				if h := maxIn(time.Hour); h > MaxRequestsPerHour {
					t.Errorf("%d requests within an hour", h)
				}
				// The sustained rate is the budget, or 29.5/min (the
				// hourly cap less the burst) when that is lower.
				sustained := float64(len(at)) / 120
				if want := min(float64(rpm), 30); sustained < want*0.9 || sustained > want+0.5 {
					t.Errorf("sustained %.2f/min, want about %.1f", sustained, want)
				}
			})
		})
	}
}

// TestSharedBudgets: two clients given one Budgets (two variants of one bot)
// take that bot's requests from one budget: together they never exceed
// Kore.ai's caps and share the configured rate, while another bot keeps its
// own.
func TestSharedBudgets(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		budgets, err := NewBudgets(30)
		if err != nil {
			t.Fatal(err)
		}
		web := newTestClient(t, http.NotFoundHandler(), WithBudgets(budgets))
		whatsapp := newTestClient(t, http.NotFoundHandler(), WithBudgets(budgets))
		start := time.Now()
		var mu sync.Mutex
		var at []time.Duration
		var other int
		var wg sync.WaitGroup
		for _, c := range []*Client{web, whatsapp} {
			wg.Go(func() {
				for time.Since(start) < time.Hour {
					if err := c.wait(t.Context(), testBot); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					at = append(at, time.Since(start))
					mu.Unlock()
				}
			})
		}
		wg.Go(func() { // another bot through the same Budgets
			for time.Since(start) < time.Hour {
				if err := web.wait(t.Context(), "st-other"); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				other++
				mu.Unlock()
			}
		})
		wg.Wait()
		slices.Sort(at)
		maxIn := func(w time.Duration) int {
			best := 0
			for i, j := 0, 0; i < len(at); i++ {
				for at[i]-at[j] >= w {
					j++
				}
				best = max(best, i-j+1)
			}
			return best
		}
		// One bot's budget: at most 60 in any minute and 1,800 in any hour,
		// about 30/min sustained, whether one client asks or two.
		if m, h := maxIn(time.Minute), maxIn(time.Hour); m > MaxRequestsPerMinute || h > MaxRequestsPerHour || len(at) < 29*60 {
			t.Errorf("two variants together: %d requests, at most %d in a minute and %d in an hour", len(at), m, h)
		}
		if other < 29*60 || other > MaxRequestsPerHour {
			t.Errorf("the other bot got %d requests in the hour, want its own budget", other)
		}
	})
}

func TestLimiterWaitRespectsDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newTestClient(t, http.NotFoundHandler(), WithRequestsPerMinute(60))
		// Budget 60/min means a burst of 1 and, by the hourly cap,
		// about one request per 2 s: the second request must wait.
		if err := c.wait(t.Context(), testBot); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := c.wait(ctx, testBot)
		if err == nil || !strings.Contains(err.Error(), "past the deadline") || time.Since(start) != 0 {
			t.Fatalf("wait = %v after %s, want an immediate deadline error", err, time.Since(start))
		}
		// The cancelled reservation gave its token back: a patient caller
		// gets through in about 2 s.
		if err := c.wait(t.Context(), testBot); err != nil || time.Since(start) > 2100*time.Millisecond {
			t.Fatalf("wait = %v after %s", err, time.Since(start))
		}
	})
}
