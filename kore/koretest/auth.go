package koretest

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Authentication failures (kore/API.md §2, §6).
const (
	msgBadCredentials = "Invalid SDK credentials"
	msgBadToken       = "Invalid JWT token"
	msgScope          = "Permission denied. Scope is incorrect!"
	msgReplay         = "error verifying the jwt: possibly a replay"
	codeAuth          = 4002

	// iatLeeway is how far in the future a token's iat may be.
	iatLeeway = 30 * time.Second
)

// authError is a refused token: HTTP 401 with code and msg.
type authError struct {
	code int
	msg  string
}

// verifyToken checks the request's auth header against bot bs at now. jtis
// holds the app's seen JTIs (it is read and written; the caller holds the
// lock).
//
// Assumptions (the Kore.ai docs are silent):
//   - the token is the whole header value; "Bearer …" is a malformed token;
//   - an expired token, a bad signature, an algorithm the app does not
//     allow (HS256 always, RS256 when the bot has a public key) and a
//     missing or wrong appId are all "Invalid SDK credentials"; no leeway;
//   - so is a token issued in the future (iat more than iatLeeway after
//     now): a token refused for its times is well-formed and verified like
//     one with a wrong signature, while "Invalid JWT token" is, in Kore.ai's
//     answers, a token that cannot be read at all. A client whose clock is
//     ahead gets this answer, one whose clock is behind by more than its
//     tokens' lifetime gets the expired one: the same text either way, as
//     the docs give no other (a client tells clock skew by the Date header,
//     which every answer carries);
//   - an app that is not published, or whose scope mapping was not saved
//     (Bot.Unpublished), answers "Invalid SDK credentials" to every token,
//     as kore/API.md §2 says;
//   - a call needs its API's scope: Metrics for the containment report,
//     Bot Sessions for getSessions (Bot.NoMetricsScope, NoSessionsScope);
//   - with EnforceJTI, exp is required and must be ≤ iat + 1h (now when iat
//     is absent); each jti may be used once per app while its token lives.
func verifyToken(bs *botState, jtis map[string]time.Time, r *http.Request, now time.Time, sc scope) *authError {
	raw := r.Header.Get("Auth") // header names are case-insensitive: auth, Auth
	if raw == "" {
		return &authError{codeAuth, msgBadCredentials}
	}
	b := &bs.bot
	methods := []string{jwt.SigningMethodHS256.Alg()}
	if b.RSAPublicKey != nil {
		methods = append(methods, jwt.SigningMethodRS256.Alg())
	}
	p := jwt.NewParser(jwt.WithValidMethods(methods), jwt.WithTimeFunc(func() time.Time { return now }))
	claims := jwt.MapClaims{}
	_, err := p.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		switch t.Method.Alg() {
		case jwt.SigningMethodHS256.Alg():
			return []byte(b.ClientSecret), nil
		case jwt.SigningMethodRS256.Alg():
			if b.RSAPublicKey != nil {
				return b.RSAPublicKey, nil
			}
		}
		return nil, fmt.Errorf("algorithm %s not allowed", t.Method.Alg())
	})
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return &authError{codeAuth, msgBadToken}
	case err != nil:
		return &authError{codeAuth, msgBadCredentials}
	}
	if appID, ok := claims["appId"].(string); !ok || appID != b.ClientID || b.ClientID == "" {
		return &authError{codeAuth, msgBadCredentials}
	}
	if iat, err := claims.GetIssuedAt(); err != nil || (iat != nil && iat.After(now.Add(iatLeeway))) {
		return &authError{codeAuth, msgBadCredentials}
	}
	if b.Unpublished {
		return &authError{codeAuth, msgBadCredentials}
	}
	if b.EnforceJTI {
		if e := checkJTI(jtis, claims, now); e != nil {
			return e
		}
	}
	if (sc == scopeMetrics && b.NoMetricsScope) || (sc == scopeSessions && b.NoSessionsScope) {
		return &authError{codeAuth, msgScope}
	}
	return nil
}

// checkJTI applies the app's Enforce JTI rules and records the jti.
func checkJTI(jtis map[string]time.Time, claims jwt.MapClaims, now time.Time) *authError {
	replay := &authError{http.StatusUnauthorized, msgReplay}
	jti, _ := claims["jti"].(string)
	exp, err := claims.GetExpirationTime()
	if jti == "" || err != nil || exp == nil {
		return replay
	}
	iat := now
	if t, err := claims.GetIssuedAt(); err == nil && t != nil {
		iat = t.Time
	}
	if exp.Sub(iat) > time.Hour {
		return replay
	}
	for k, until := range jtis {
		if !until.After(now) {
			delete(jtis, k)
		}
	}
	if _, seen := jtis[jti]; seen {
		return replay
	}
	jtis[jti] = exp.Time
	return nil
}
