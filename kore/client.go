package kore

import (
	"context"
	"crypto/rsa"
	"errors"
	"net/http"
	"time"

	"golang.org/x/time/rate"
)

// Credentials of a Kore.ai JWT app (App Settings → Dev Tools). Either
// ClientSecret (HS256, the default) or PrivateKey (RS256) signs the tokens.
type Credentials struct {
	// ClientID is the app's Client ID (cs-…), sent as the appId claim.
	ClientID string
	// ClientSecret signs HS256 tokens; its bytes are used as-is.
	ClientSecret string
	// PrivateKey, when set, signs RS256 tokens instead.
	PrivateKey *rsa.PrivateKey
	// Subject is the sub claim; "kore_exporter" when empty.
	Subject string
}

// Client talks to one Kore.ai host with one set of credentials. It is safe
// for concurrent use; every bot it is used for gets its own request limiter.
type Client struct {
	// filled in by the implementation
}

// Option configures a Client.
type Option func(*Client) error

// NewClient returns a Client. WithHost and WithCredentials are required.
func NewClient(opts ...Option) (*Client, error) { return nil, errors.New("kore: not implemented") }

// WithHost sets the base URL, e.g. https://platform.kore.ai. Plain http is
// refused unless WithInsecureHTTP is given too.
func WithHost(host string) Option { return nil }

// WithInsecureHTTP allows an http:// host (simulator, tests, on-prem labs).
func WithInsecureHTTP() Option { return nil }

// WithCredentials sets the JWT app's credentials.
func WithCredentials(c Credentials) Option { return nil }

// WithHTTPClient sets the HTTP client (default: a client with sane
// transport timeouts).
func WithHTTPClient(hc *http.Client) Option { return nil }

// WithRequestTimeout bounds every single HTTP exchange (default 30s).
func WithRequestTimeout(d time.Duration) Option { return nil }

// WithRequestsPerMinute sets each bot's request budget (default 30, the
// sustained rate of Kore.ai's 1,800/hour cap; at most 60).
func WithRequestsPerMinute(n int) Option { return nil }

// WithHostLimiter adds a limiter shared by every request to the host.
func WithHostLimiter(l *rate.Limiter) Option { return nil }

// WithObserver sets the observer (default NopObserver).
func WithObserver(o Observer) Option { return nil }

// RunContainmentReport submits a report job for the bot, polls it until it is
// done and fetches every page. ctx bounds the whole run.
func (c *Client) RunContainmentReport(ctx context.Context, botID string, req ReportRequest) (*Report, error) {
	return nil, errors.New("kore: not implemented")
}
