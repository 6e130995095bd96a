package kore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenClaims are the claims of every JWT the client sends (API.md §2
// and §7): appId spelled exactly so, sub, iat, exp = iat + tokenLifetime and
// a random jti, so apps with "Enforce JTI" accept every request.
type tokenClaims struct {
	AppID string `json:"appId"`
	jwt.RegisteredClaims
}

// signer makes a fresh token per request. It holds the only copy of the key.
type signer struct {
	appID   string
	subject string
	method  jwt.SigningMethod
	key     any
}

func newSigner(c Credentials) (*signer, error) {
	s := &signer{appID: strings.TrimSpace(c.ClientID), subject: c.Subject}
	if s.appID == "" {
		return nil, errors.New("ClientID is required")
	}
	if s.subject == "" {
		s.subject = DefaultSubject
	}
	switch {
	case c.PrivateKey != nil:
		if err := c.PrivateKey.Validate(); err != nil {
			// The rsa error names no key material.
			return nil, fmt.Errorf("PrivateKey: %w", err)
		}
		s.method, s.key = jwt.SigningMethodRS256, c.PrivateKey
	case c.ClientSecret != "":
		// Kore.ai signs with the secret string's bytes as-is: it looks
		// like base64 but is not decoded (API.md §2).
		s.method, s.key = jwt.SigningMethodHS256, []byte(c.ClientSecret)
	default:
		return nil, errors.New("one of ClientSecret or PrivateKey is required")
	}
	return s, nil
}

// sign returns a token issued at now.
func (s *signer) sign(now time.Time) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("kore: sign token: jti: %w", err)
	}
	iat := jwt.NewNumericDate(now)
	claims := tokenClaims{
		AppID: s.appID,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   s.subject,
			IssuedAt:  iat,
			ExpiresAt: jwt.NewNumericDate(iat.Add(tokenLifetime)),
			ID:        hex.EncodeToString(jti[:]),
		},
	}
	tok, err := jwt.NewWithClaims(s.method, claims).SignedString(s.key)
	if err != nil {
		// jwt's errors name the method, never the key.
		return "", fmt.Errorf("kore: sign token: %w", err)
	}
	return tok, nil
}

// classifyAuth sorts a 401 answer by its message (API.md §6). Replay
// and expiry texts come from the JTI rules and a freshly signed token cures
// them; scope texts need the app's scope mapping fixed; everything else
// ("Invalid SDK credentials", "Invalid JWT token", unknown bot) is bad
// credentials.
func classifyAuth(msg string) AuthReason {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "replay"), strings.Contains(m, "jti"),
		strings.Contains(m, "expir"), strings.Contains(m, "exp "), strings.Contains(m, "exp:"),
		strings.Contains(m, "1 hour"), strings.Contains(m, "1 h"):
		return AuthReplay
	case strings.Contains(m, "scope"), strings.Contains(m, "permission"):
		return AuthScope
	default:
		return AuthBadCredentials
	}
}
