package kore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrResponseTooLarge matches (through a DecodeError) a response body larger
// than the client reads for its endpoint.
var ErrResponseTooLarge = errors.New("response body too large")

// call is one API request, before signing.
type call struct {
	botID    string
	endpoint Endpoint
	method   string
	path     string // escaped, without query; goes into errors
	query    string
	body     []byte
	maxBody  int64
	// readOnly marks a POST that only reads (getSessions): it is repeated
	// after a 5xx or a network error like a GET.
	readOnly bool
}

// RequestError is a request that got no complete answer: the connection
// failed, the request timed out or the body could not be read. It never
// holds a credential.
type RequestError struct {
	Endpoint     Endpoint
	Method, Path string
	// Dial is true when the connection was never made (the server cannot
	// have seen the request).
	Dial bool
	// StatusCode is the HTTP status when the failure came while reading
	// the body, else 0.
	StatusCode int
	Err        error
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("kore: %s %s: %v", e.Method, e.Path, e.Err)
}

// Unwrap returns the cause.
func (e *RequestError) Unwrap() error { return e.Err }

// errRequestTimeout is the cause of a RequestError whose exchange ran past
// the client's request timeout (while the caller's ctx was still live).
type errRequestTimeout time.Duration

func (e errRequestTimeout) Error() string {
	return fmt.Sprintf("no complete answer within the request timeout of %s", time.Duration(e))
}

func (errRequestTimeout) Timeout() bool { return true }

// requestCountKey is the context key of a run's request counter.
type requestCountKey struct{}

// countRequests returns a context under which every request sent, retries
// included, adds one to the returned counter (Report.Requests). It counts
// in exchange, not in the HTTP transport, so any transport is counted.
func countRequests(ctx context.Context) (context.Context, *atomic.Int64) {
	n := new(atomic.Int64)
	return context.WithValue(ctx, requestCountKey{}, n), n
}

// do sends the call, retrying where it is safe, and returns the body of the
// 2xx answer. When ctx is done, its error wins.
func (c *Client) do(ctx context.Context, cl *call) ([]byte, error) {
	retries := c.retryBackoff.start()
	resigned := false
	var last error
	for attempt := 1; ; attempt++ {
		if err := c.wait(ctx, cl.botID); err != nil {
			return nil, c.ctxWins(ctx, cl, err, last)
		}
		body, retryAfter, err := c.exchange(ctx, cl)
		if err == nil {
			return body, nil
		}
		if ctx.Err() != nil {
			return nil, c.ctxWins(ctx, cl, ctx.Err(), err)
		}
		last = err
		reason, wait, ok := c.retryable(cl, err, retryAfter, resigned, retries)
		if !ok {
			return nil, err
		}
		if reason == reasonUnauthorized {
			resigned = true // once only; it does not use up an attempt
			attempt--
		} else if attempt >= c.maxAttempts {
			return nil, err
		}
		if dl, ok := ctx.Deadline(); ok && wait > time.Until(dl) {
			// Waiting would outlive the caller: give up now with the
			// answer we have.
			return nil, err
		}
		if reason == reasonRateLimited {
			c.limiter(cl.botID).pause(time.Now().Add(wait))
		}
		c.observer.Retry(cl.botID, cl.endpoint, reason)
		if err := sleep(ctx, wait); err != nil {
			return nil, c.ctxWins(ctx, cl, err, last)
		}
	}
}

// ctxWins returns err, which came from waiting on ctx, wrapped with the
// operation and the last answer seen.
func (c *Client) ctxWins(ctx context.Context, cl *call, err, last error) error {
	if ctx.Err() != nil {
		err = ctx.Err() // Canceled or DeadlineExceeded, for errors.Is
	}
	if last != nil {
		return fmt.Errorf("kore: %s %s: %w (last error: %v)", cl.method, cl.path, err, last)
	}
	return fmt.Errorf("kore: %s %s: %w", cl.method, cl.path, err)
}

// Retry reasons, as Observer.Retry reports them.
const (
	reasonNetwork      = "network"
	reasonRateLimited  = "rate_limited"
	reasonServerError  = "server_error"
	reasonUnauthorized = "unauthorized"
)

// retryable decides whether err may be retried, why, and after how long.
//
//   - GET (status) is safe to repeat: network errors, 429, 500, 502, 503
//     and 504 are retried.
//   - POST (submit) creates a job; it is repeated only when the job cannot
//     have been created: a rate-limit answer, or a connection that was never
//     made. A 5xx or a timeout may hide a job that exists.
//   - A 401 replay answer is re-signed and sent again once, at once.
//   - Every other answer (4xx, decode errors) is final.
func (c *Client) retryable(cl *call, err error, retryAfter time.Duration, resigned bool, s *schedule) (reason string, wait time.Duration, ok bool) {
	idempotent := cl.method == http.MethodGet || cl.readOnly
	var (
		rl *RateLimitError
		ae *AuthError
		ap *APIError
		re *RequestError
	)
	switch {
	case errors.As(err, &rl):
		if rl.RetryAfter > 0 {
			return reasonRateLimited, min(rl.RetryAfter, maxRetryAfter), true
		}
		return reasonRateLimited, rateLimitWait + rand.N(rateLimitJitter), true
	case errors.As(err, &ae):
		return reasonUnauthorized, 0, ae.Reason == AuthReplay && !resigned
	case errors.As(err, &ap):
		switch ap.StatusCode {
		case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			if !idempotent {
				return "", 0, false
			}
			wait := s.next()
			if retryAfter > 0 {
				wait = max(wait, min(retryAfter, maxRetryAfter))
			}
			return reasonServerError, wait, true
		}
		return "", 0, false
	case errors.As(err, &re):
		if idempotent || re.Dial {
			return reasonNetwork, s.next(), true
		}
		return "", 0, false
	}
	return "", 0, false
}

// exchange sends one signed request and reads its answer. It returns the
// body of a 2xx answer, or the typed error of any other, and the server's
// Retry-After.
func (c *Client) exchange(ctx context.Context, cl *call) (body []byte, retryAfter time.Duration, err error) {
	rctx, cancel := context.WithTimeout(ctx, c.requestTimeout)
	defer cancel()

	token, err := c.signer.sign(c.now())
	if err != nil {
		return nil, 0, err
	}
	u := c.base.String() + cl.path // cl.path is escaped already
	if cl.query != "" {
		u += "?" + cl.query
	}
	var rd io.Reader
	if cl.body != nil {
		rd = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(rctx, cl.method, u, rd)
	if err != nil {
		return nil, 0, fmt.Errorf("kore: %s %s: %w", cl.method, cl.path, err)
	}
	req.Header.Set("auth", token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "kore_exporter")
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	if n, ok := ctx.Value(requestCountKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.observer.RequestDone(cl.botID, cl.endpoint, 0, time.Since(start))
		return nil, 0, c.requestError(ctx, rctx, cl, 0, err)
	}
	defer resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	limit := cl.maxBody
	if !ok {
		limit = maxErrorBody
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	c.observer.RequestDone(cl.botID, cl.endpoint, resp.StatusCode, time.Since(start))
	if err != nil {
		return nil, 0, c.requestError(ctx, rctx, cl, resp.StatusCode, err)
	}
	// Before anything reads it: a server may echo the token anywhere.
	body = scrubToken(body, token)
	retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	if !ok {
		if int64(len(body)) > limit {
			body = body[:limit] // the start is enough for a message
		}
		err := c.apiError(cl, resp.StatusCode, body, retryAfter)
		var ae *APIError
		if errors.As(err, &ae) {
			ae.ClockOffset = clockOffset(resp.Header.Get("Date"), c.now())
		}
		return nil, retryAfter, err
	}
	if int64(len(body)) > limit {
		return nil, 0, &DecodeError{Endpoint: cl.endpoint, Err: fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, limit)}
	}
	return body, retryAfter, nil
}

// requestError wraps a transport failure. *url.Error is unwrapped: its text
// repeats the URL, which the error names already.
func (c *Client) requestError(ctx, rctx context.Context, cl *call, code int, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if ctx.Err() == nil && rctx.Err() != nil {
		err = errRequestTimeout(c.requestTimeout)
	}
	return &RequestError{
		Endpoint:   cl.endpoint,
		Method:     cl.method,
		Path:       cl.path,
		Dial:       code == 0 && isDialError(err),
		StatusCode: code,
		Err:        err,
	}
}

// isDialError reports whether err says the connection was never made.
func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns) || errors.Is(err, syscall.ECONNREFUSED)
}

// errorBody is Kore.ai's error body (API.md §6).
type errorBody struct {
	Errors []struct {
		Msg  string `json:"msg"`
		Code number `json:"code"`
	} `json:"errors"`
}

// apiError maps a non-2xx answer to its typed error. body has been scrubbed
// of the token already; the message is bounded and made printable.
func (c *Client) apiError(cl *call, status int, body []byte, retryAfter time.Duration) error {
	e := &APIError{Endpoint: cl.endpoint, Method: cl.method, Path: cl.path, StatusCode: status}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && len(eb.Errors) > 0 {
		e.Message = eb.Errors[0].Msg
		if code, err := eb.Errors[0].Code.integer(); err == nil && code >= math.MinInt32 && code <= math.MaxInt32 {
			e.Code = int(code)
		}
	} else {
		// Not Kore.ai's JSON (a proxy's HTML 502, say): keep the start
		// of the text.
		e.Message = string(body)
	}
	e.Message = printable(e.Message, maxErrorMessage)
	msg := strings.ToLower(e.Message)
	switch {
	case status == http.StatusUnauthorized:
		return &AuthError{Reason: classifyAuth(e.Message), APIError: e}
	case status == http.StatusTooManyRequests || strings.Contains(msg, "rate limit"):
		return &RateLimitError{RetryAfter: retryAfter, APIError: e}
	}
	return e
}

// clockOffset is the server's time, by its Date header, minus now, to the
// second (the header's resolution); 0 without a usable header.
func clockOffset(date string, now time.Time) time.Duration {
	t, err := http.ParseTime(date)
	if err != nil {
		return 0
	}
	return t.Sub(now.Truncate(time.Second))
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP
// date. It returns 0 when the header is absent or unusable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(24*time.Hour/time.Second) {
			return 24 * time.Hour // far past any cap; avoids overflow
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
