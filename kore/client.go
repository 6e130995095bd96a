package kore

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
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
	// Subject is the sub claim; DefaultSubject when empty.
	Subject string
}

// String returns the client id and the kind of key, never the secret or the
// key, so that printing Credentials by mistake leaks nothing.
func (c Credentials) String() string {
	key := "none"
	switch {
	case c.PrivateKey != nil:
		key = "rsa-private-key"
	case c.ClientSecret != "":
		key = "client-secret"
	}
	return fmt.Sprintf("kore.Credentials{ClientID: %q, Key: %s}", c.ClientID, key)
}

// GoString is String, for %#v.
func (c Credentials) GoString() string { return c.String() }

// Client talks to one Kore.ai host with one set of credentials. It is safe
// for concurrent use; every bot it is used for gets its own request limiter,
// shared by all the calls made for that bot (and by other clients given the
// same Budgets).
type Client struct {
	base           *url.URL // scheme and host
	hc             *http.Client
	signer         *signer
	requestTimeout time.Duration
	budgets        *Budgets // nil until NewClient ends: then its own, or shared
	observer       Observer
	pageSize       int
	maxAttempts    int
	pollBackoff    Backoff
	retryBackoff   Backoff
	now            func() time.Time // signs tokens, reads Date headers

	// set by options, checked once all options ran
	host     string
	insecure bool
	creds    *Credentials
}

// Option configures a Client. An Option returns an error naming itself when
// its value is invalid; checks that need several options (an http host needs
// WithInsecureHTTP) run in NewClient.
type Option func(*Client) error

// NewClient returns a Client. WithHost and WithCredentials are required. It
// reports every invalid option at once (errors.Join), each naming its option.
func NewClient(opts ...Option) (*Client, error) {
	c := &Client{
		requestTimeout: DefaultRequestTimeout,
		observer:       NopObserver{},
		pageSize:       DefaultPageSize,
		maxAttempts:    DefaultMaxAttempts,
		pollBackoff:    defaultPollBackoff,
		retryBackoff:   defaultRetryBackoff,
		now:            time.Now,
	}
	var errs []error
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.setBase(); err != nil {
		errs = append(errs, err)
	}
	if c.creds == nil {
		errs = append(errs, errors.New("kore: WithCredentials: required"))
	} else if s, err := newSigner(*c.creds); err != nil {
		errs = append(errs, fmt.Errorf("kore: WithCredentials: %w", err))
	} else {
		c.signer = s
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c.creds = nil // the signer holds what it needs
	if c.budgets == nil {
		c.budgets, _ = NewBudgets(DefaultRequestsPerMinute) // within range
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient()
	}
	return c, nil
}

func (c *Client) setBase() error {
	if c.host == "" {
		return errors.New("kore: WithHost: required")
	}
	if err := CheckHost(c.host, c.insecure); err != nil {
		return fmt.Errorf("kore: WithHost: %w", err)
	}
	u, _ := url.Parse(c.host) // CheckHost parsed it
	u.Path, u.RawPath = "", ""
	c.base = u
	return nil
}

// WithHost sets the base URL, e.g. DefaultHost; see CheckHost for what is
// accepted. Plain http is refused unless WithInsecureHTTP is given too.
func WithHost(host string) Option {
	return func(c *Client) error { c.host = strings.TrimSpace(host); return nil }
}

// WithInsecureHTTP allows an http:// host (simulator, tests, on-prem labs).
func WithInsecureHTTP() Option {
	return func(c *Client) error { c.insecure = true; return nil }
}

// WithCredentials sets the JWT app's credentials. ClientID and one of
// ClientSecret or PrivateKey are required.
func WithCredentials(cr Credentials) Option {
	return func(c *Client) error { c.creds = &cr; return nil }
}

// WithHTTPClient sets the HTTP client (default: a client with sane
// transport timeouts). The Client uses a shallow copy that never follows
// redirects, so the auth header never goes to another place; the copy's
// Timeout is left as given, WithRequestTimeout bounds each exchange anyway.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return fmt.Errorf("kore: WithHTTPClient: nil client")
		}
		cp := *hc
		cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		c.hc = &cp
		return nil
	}
}

// WithRequestTimeout bounds every single HTTP exchange, body included
// (default DefaultRequestTimeout).
func WithRequestTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d <= 0 {
			return fmt.Errorf("kore: WithRequestTimeout: must be positive, got %s", d)
		}
		c.requestTimeout = d
		return nil
	}
}

// WithBudgets makes the client take each bot's requests from b, shared with
// every other client given the same b (variants of one bot). The budget per
// minute is b's. Without it, each client has its own budgets of
// DefaultRequestsPerMinute.
func WithBudgets(b *Budgets) Option {
	return func(c *Client) error {
		if b == nil {
			return fmt.Errorf("kore: WithBudgets: nil budgets")
		}
		c.budgets = b
		return nil
	}
}

// WithObserver sets the observer (default NopObserver).
func WithObserver(o Observer) Option {
	return func(c *Client) error {
		if o == nil {
			return fmt.Errorf("kore: WithObserver: nil observer")
		}
		c.observer = o
		return nil
	}
}

// WithMaxAttempts bounds the attempts of one request, retries included
// (default DefaultMaxAttempts; 1 disables retries).
func WithMaxAttempts(n int) Option {
	return func(c *Client) error {
		if n < 1 {
			return fmt.Errorf("kore: WithMaxAttempts: must be at least 1, got %d", n)
		}
		c.maxAttempts = n
		return nil
	}
}

// WithClock sets the clock the client signs its tokens with (iat, exp) and
// compares the server's Date header against (APIError.ClockOffset); default
// time.Now. Waits and timeouts always use the real clock. For tests of
// clock skew.
func WithClock(now func() time.Time) Option {
	return func(c *Client) error {
		if now == nil {
			return fmt.Errorf("kore: WithClock: nil clock")
		}
		c.now = now
		return nil
	}
}

// CloseIdleConnections closes the idle connections of the Client's HTTP
// transport; call it when the Client is no longer used.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// defaultHTTPClient is NewHTTPClient for one Client: a few idle
// connections per host.
func defaultHTTPClient() *http.Client { return NewHTTPClient(16) }

// NewHTTPClient returns an HTTP client fit for Kore.ai: transport timeouts
// for the parts a context deadline covers badly, at most idlePerHost idle
// connections kept per host, and no redirects followed (the auth header is
// custom, so net/http would forward it to any host a redirect names). Many
// Clients may share one (WithHTTPClient), and so one pool of connections
// per host: a fleet of bots on one Kore.ai host then needs a few
// connections, not one pool per bot.
func NewHTTPClient(idlePerHost int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ExpectContinueTimeout = time.Second
	t.MaxIdleConns = max(t.MaxIdleConns, idlePerHost)
	t.MaxIdleConnsPerHost = idlePerHost
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// limiter returns the bot's limiter.
func (c *Client) limiter(botID string) *botLimiter { return c.budgets.bot(botID) }
