package koretest

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	rsaBot := Bot{ID: "st-rsa", ClientID: "cs-rsa", ClientSecret: "rsa-app-secret", RSAPublicKey: &key.PublicKey, Tasks: 20}
	h.s.AddBot(rsaBot)
	h.s.AddBot(Bot{ID: "st-noscope", ClientID: testClientID, ClientSecret: testSecret, NoMetricsScope: true, Tasks: 20})
	h.s.AddBot(Bot{ID: "st-unpublished", ClientID: testClientID, ClientSecret: testSecret, Unpublished: true, Tasks: 20})

	with := func(mod func(c jwt.MapClaims)) string {
		c := h.claims()
		mod(c)
		return sign(t, c, testSecret)
	}
	signWith := func(m jwt.SigningMethod, k any, appID string) string {
		c := h.claims()
		c["appId"] = appID
		s, err := jwt.NewWithClaims(m, c).SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	tests := []struct {
		name     string
		bot      string
		header   string // header name; "" means "auth"
		token    string
		wantCode int // HTTP status
		wantAPI  int // errors[0].code
		wantMsg  string
	}{
		{name: "valid HS256", token: h.token(), wantCode: 200},
		{name: "valid, Auth header", header: "Auth", token: h.token(), wantCode: 200},
		{name: "valid, AUTH header", header: "AUTH", token: h.token(), wantCode: 200},
		{name: "only appId claim", token: sign(t, jwt.MapClaims{"appId": testClientID}, testSecret), wantCode: 200},
		{name: "no token", token: "", wantCode: 401, wantAPI: 4002, wantMsg: msgBadCredentials},
		{name: "wrong secret", token: sign(t, h.claims(), "not-the-secret"), wantCode: 401, wantAPI: 4002, wantMsg: msgBadCredentials},
		{name: "secret base64-decoded", token: sign(t, h.claims(), "secret-that-looks-like-base64"), wantCode: 401, wantAPI: 4002, wantMsg: msgBadCredentials},
		{name: "claim appid", token: with(func(c jwt.MapClaims) { delete(c, "appId"); c["appid"] = testClientID }), wantCode: 401, wantAPI: 4002, wantMsg: msgBadCredentials},
		{name: "claim clientId", token: with(func(c jwt.MapClaims) { delete(c, "appId"); c["clientId"] = testClientID }), wantCode: 401, wantAPI: 4002, wantMsg: msgBadCredentials},
		{name: "wrong appId", token: with(func(c jwt.MapClaims) { c["appId"] = "cs-other" }), wantCode: 401, wantAPI: 4002, wantMsg: msgBadCredentials},
		{name: "appId not a string", token: with(func(c jwt.MapClaims) { c["appId"] = 42 }), wantCode: 401, wantAPI: 4002, wantMsg: msgBadCredentials},
		{name: "expired", token: with(func(c jwt.MapClaims) { c["exp"] = t0.Add(-time.Second).Unix() }), wantCode: 401, wantAPI: 4002, wantMsg: msgBadCredentials},
		{name: "exp now is expired", token: with(func(c jwt.MapClaims) { c["exp"] = t0.Unix() - 1 }), wantCode: 401, wantAPI: 4002, wantMsg: msgBadCredentials},
		{name: "not yet valid", token: with(func(c jwt.MapClaims) { c["nbf"] = t0.Add(time.Hour).Unix() }), wantCode: 401, wantAPI: 4002, wantMsg: msgBadCredentials},
		{name: "malformed", token: "not-a-jwt", wantCode: 401, wantAPI: 4002, wantMsg: msgBadToken},
		{name: "malformed base64", token: "a.b.c", wantCode: 401, wantAPI: 4002, wantMsg: msgBadToken},
		{name: "Bearer prefix", token: "Bearer " + h.token(), wantCode: 401, wantAPI: 4002, wantMsg: msgBadToken},
		{name: "HS512 refused", token: signWith(jwt.SigningMethodHS512, []byte(testSecret), testClientID), wantCode: 401, wantAPI: 4002, wantMsg: msgBadCredentials},
		{name: "alg none refused", token: signWith(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, testClientID), wantCode: 401, wantAPI: 4002, wantMsg: msgBadCredentials},
		{name: "RS256 without public key", token: signWith(jwt.SigningMethodRS256, key, testClientID), wantCode: 401, wantAPI: 4002, wantMsg: msgBadCredentials},
		{name: "RS256 with public key", bot: "st-rsa", token: signWith(jwt.SigningMethodRS256, key, "cs-rsa"), wantCode: 200},
		{name: "HS256 on RS256 bot", bot: "st-rsa", token: signWith(jwt.SigningMethodHS256, []byte("rsa-app-secret"), "cs-rsa"), wantCode: 200},
		{name: "RS256 other key", bot: "st-rsa", token: signWith(jwt.SigningMethodRS256, other, "cs-rsa"), wantCode: 401, wantAPI: 4002, wantMsg: msgBadCredentials},
		{name: "RS256 key confusion (HS256 with public key bytes)", bot: "st-rsa", token: signWith(jwt.SigningMethodHS256, []byte("-----BEGIN PUBLIC KEY-----"), "cs-rsa"), wantCode: 401, wantAPI: 4002, wantMsg: msgBadCredentials},
		{name: "unknown bot", bot: "st-unknown", token: h.token(), wantCode: 401, wantAPI: 4002, wantMsg: msgBadCredentials},
		{name: "bot not linked to app", bot: "st-rsa", token: h.token(), wantCode: 401, wantAPI: 4002, wantMsg: msgBadCredentials},
		{name: "no Metrics scope", bot: "st-noscope", token: h.token(), wantCode: 401, wantAPI: 4002, wantMsg: msgScope},
		{name: "app not published", bot: "st-unpublished", token: h.token(), wantCode: 401, wantAPI: 4002, wantMsg: msgBadCredentials},
		{name: "iat in the future", token: with(func(c jwt.MapClaims) { c["iat"] = t0.Add(iatLeeway + time.Second).Unix() }), wantCode: 401, wantAPI: 4002, wantMsg: msgBadCredentials},
		{name: "iat within the leeway", token: with(func(c jwt.MapClaims) { c["iat"] = t0.Add(iatLeeway).Unix() }), wantCode: 200},
		{name: "iat not a number", token: with(func(c jwt.MapClaims) { c["iat"] = "soon" }), wantCode: 401, wantAPI: 4002, wantMsg: msgBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bot := tt.bot
			if bot == "" {
				bot = testBotID
			}
			req, _ := http.NewRequest(http.MethodPost, h.s.URL+pathSubmit(bot), nil)
			if tt.token != "" {
				name := tt.header
				if name == "" {
					name = "auth"
				}
				req.Header[name] = []string{tt.token}
			}
			resp, err := h.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("HTTP %d, want %d", resp.StatusCode, tt.wantCode)
			}
			if d, err := http.ParseTime(resp.Header.Get("Date")); err != nil || !d.Equal(t0.Truncate(time.Second)) {
				t.Errorf("Date %q, want the server clock's %s", resp.Header.Get("Date"), t0.Format(http.TimeFormat))
			}
			if tt.wantCode == 200 {
				return
			}
			var r apiResp
			if err := jsonDecode(resp, &r); err != nil {
				t.Fatal(err)
			}
			if len(r.Errors) != 1 || r.Errors[0].Code != tt.wantAPI || r.Errors[0].Msg != tt.wantMsg {
				t.Fatalf("errors = %+v, want code %d msg %q", r.Errors, tt.wantAPI, tt.wantMsg)
			}
		})
	}
	if got := h.s.Stats(testBotID).Unauthorized; got == 0 {
		t.Errorf("Stats.Unauthorized = 0")
	}
}

func TestEnforceJTI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.bot.EnforceJTI = true
	h.s.AddBot(h.bot)
	// A second bot linked to another app: JTIs are per app.
	h.s.AddBot(Bot{ID: "st-two", ClientID: "cs-two", ClientSecret: "two", EnforceJTI: true, Tasks: 20})

	post := func(bot, tok string) (int, apiResp) {
		code, _, b := h.do(http.MethodPost, pathSubmit(bot), "", tok)
		return code, decode(t, b)
	}
	c := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		cl := h.claims()
		mod(cl)
		return cl
	}
	replay := func(t *testing.T, code int, r apiResp) {
		t.Helper()
		if code != 401 || len(r.Errors) != 1 || r.Errors[0].Code != 401 || r.Errors[0].Msg != msgReplay {
			t.Fatalf("HTTP %d %+v, want 401 code 401 %q", code, r.Errors, msgReplay)
		}
	}

	t.Run("missing jti", func(t *testing.T) {
		code, r := post(testBotID, sign(t, c(func(m jwt.MapClaims) { delete(m, "jti") }), testSecret))
		replay(t, code, r)
	})
	t.Run("missing exp", func(t *testing.T) {
		code, r := post(testBotID, sign(t, c(func(m jwt.MapClaims) { delete(m, "exp") }), testSecret))
		replay(t, code, r)
	})
	t.Run("exp more than 1h after iat", func(t *testing.T) {
		code, r := post(testBotID, sign(t, c(func(m jwt.MapClaims) { m["exp"] = t0.Add(61 * time.Minute).Unix() }), testSecret))
		replay(t, code, r)
	})
	t.Run("exp exactly 1h", func(t *testing.T) {
		code, _ := post(testBotID, sign(t, c(func(m jwt.MapClaims) { m["exp"] = t0.Unix() + 3600; m["iat"] = t0.Unix() }), testSecret))
		if code != 200 {
			t.Fatalf("HTTP %d", code)
		}
	})
	t.Run("reused jti", func(t *testing.T) {
		cl := c(func(m jwt.MapClaims) { m["jti"] = "once" })
		tok := sign(t, cl, testSecret)
		if code, r := post(testBotID, tok); code != 200 {
			t.Fatalf("first use: HTTP %d %+v", code, r.Errors)
		}
		code, r := post(testBotID, tok)
		replay(t, code, r)
		// Same jti, new token: still a replay while the first lives.
		code, r = post(testBotID, sign(t, c(func(m jwt.MapClaims) { m["jti"] = "once" }), testSecret))
		replay(t, code, r)
		// Another app may use the same jti.
		other := c(func(m jwt.MapClaims) { m["jti"] = "once"; m["appId"] = "cs-two" })
		if code, r := post("st-two", sign(t, other, "two")); code != 200 {
			t.Fatalf("other app: HTTP %d %+v", code, r.Errors)
		}
	})
	t.Run("fresh jti each time", func(t *testing.T) {
		for range 3 {
			if code, r := post(testBotID, h.token()); code != 200 {
				t.Fatalf("HTTP %d %+v", code, r.Errors)
			}
		}
	})
	t.Run("no JTI rules without the option", func(t *testing.T) {
		h2 := newHarness(t)
		tok := sign(t, jwt.MapClaims{"appId": testClientID, "jti": "x"}, testSecret)
		for range 2 {
			if code, _, b := h2.do(http.MethodPost, pathSubmit(testBotID), "", tok); code != 200 {
				t.Fatalf("HTTP %d %s", code, b)
			}
		}
	})
}

func TestJTIForgottenAfterExp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.bot.EnforceJTI = true
	h.s.AddBot(h.bot)
	cl := h.claims()
	cl["jti"] = "short"
	if code, _, b := h.do(http.MethodPost, pathSubmit(testBotID), "", sign(t, cl, testSecret)); code != 200 {
		t.Fatalf("HTTP %d %s", code, b)
	}
	h.clock.Advance(6 * time.Minute)
	h.s.mu.Lock()
	n := len(h.s.jtis[testClientID])
	h.s.mu.Unlock()
	// The next verified token prunes the expired one.
	if code, _, b := h.do(http.MethodPost, pathSubmit(testBotID), "", h.token()); code != 200 {
		t.Fatalf("HTTP %d %s", code, b)
	}
	h.s.mu.Lock()
	_, kept := h.s.jtis[testClientID]["short"]
	h.s.mu.Unlock()
	if n != 1 || kept {
		t.Fatalf("seen jtis before = %d, short kept after exp = %v", n, kept)
	}
}
