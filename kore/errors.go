package kore

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors, for errors.Is. The typed errors below match them through
// their Is methods.
var (
	// ErrUnauthorized matches every 401 answer (see AuthError).
	ErrUnauthorized = errors.New("kore: unauthorized")
	// ErrRateLimited matches a RateLimitError.
	ErrRateLimited = errors.New("kore: rate limited")
	// ErrJobFailed matches a job that the platform reported as failed.
	ErrJobFailed = errors.New("kore: report job failed")
	// ErrJobExpired matches a job that expired or vanished (404, 410, or
	// 400 "not found", or expireAt passed) before it finished.
	ErrJobExpired = errors.New("kore: report job expired")
	// ErrInvalidResponse matches a response body that could not be decoded
	// or broke the documented contract (see DecodeError).
	ErrInvalidResponse = errors.New("kore: invalid response")
	// ErrInconsistentPages matches a multi-page report whose pages did not
	// add up (the total changed between pages, a page was short before the
	// total was reached, or the rows exceeded the total) on every pass.
	ErrInconsistentPages = errors.New("inconsistent report pages")
	// ErrReportTooLarge matches a report whose total exceeds
	// ReportRequest.MaxRows.
	ErrReportTooLarge = errors.New("report too large")
	// ErrCountOverflow matches a count whose sum over rows is beyond the
	// int64 range.
	ErrCountOverflow = errors.New("count overflow")
)

// APIError is a non-2xx answer of the Kore.ai API. It never holds a
// credential: not the JWT, not the client secret.
type APIError struct {
	// Endpoint is the call that failed.
	Endpoint Endpoint
	// Method and Path of the request (the path holds the bot id and job id,
	// never a credential).
	Method, Path string
	// StatusCode is the HTTP status.
	StatusCode int
	// Code and Message are the first entry of Kore.ai's error body
	// ({"errors":[{"msg":…,"code":…}]}), when there was one.
	Code    int
	Message string
	// ClockOffset is the server's clock (the answer's Date header) minus
	// the client's when the answer arrived, to the second; 0 when the
	// answer had no usable Date.
	ClockOffset time.Duration
}

func (e *APIError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("kore: %s %s: HTTP %d: %s (code %d)", e.Method, e.Path, e.StatusCode, e.Message, e.Code)
	}
	return fmt.Sprintf("kore: %s %s: HTTP %d", e.Method, e.Path, e.StatusCode)
}

// AuthReason classifies a 401 answer.
type AuthReason string

// The kinds of 401 answers (API.md §6).
const (
	// AuthBadCredentials: wrong secret, unknown bot, bot not linked to the app
	// or a malformed token ("Invalid SDK credentials", "Invalid JWT token").
	AuthBadCredentials AuthReason = "bad_credentials"
	// AuthScope: the app lacks the Metrics scope.
	AuthScope AuthReason = "scope"
	// AuthReplay: the JTI rules refused the token (replay or exp too long).
	AuthReplay AuthReason = "replay"
)

// AuthError is a 401 answer, classified.
type AuthError struct {
	Reason AuthReason
	*APIError
}

// Error is the answer, its reason and a hint at what to fix (see Diagnose),
// so that a 401 in a log or on a status page says what to do.
func (e *AuthError) Error() string {
	return fmt.Sprintf("%s [%s]: %s", e.APIError.Error(), e.Reason, e.Hint())
}

// Hint is the likely causes of the answer and their fixes, on one line.
func (e *AuthError) Hint() string { return Hint(Diagnose(e, Signals{})) }

// Unwrap returns the underlying APIError.
func (e *AuthError) Unwrap() error { return e.APIError }

// Is reports whether target is ErrUnauthorized.
func (e *AuthError) Is(target error) bool { return target == ErrUnauthorized }

// RateLimitError is a 429 answer, or an answer whose message says a rate
// limit was reached.
type RateLimitError struct {
	// RetryAfter is the server's Retry-After, zero when it sent none.
	RetryAfter time.Duration
	*APIError
}

func (e *RateLimitError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%s (retry after %s)", e.APIError.Error(), e.RetryAfter)
	}
	return e.APIError.Error()
}

// Unwrap returns the underlying APIError.
func (e *RateLimitError) Unwrap() error { return e.APIError }

// Is reports whether target is ErrRateLimited.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// JobError says a report job failed or expired.
type JobError struct {
	JobID string
	// Status is the last status the platform reported for the job.
	Status string
	// Expired is true when the job expired or vanished, false when it
	// failed.
	Expired bool
	// Err is the cause, if any (for example the 404 APIError).
	Err error
}

func (e *JobError) Error() string {
	what := "failed"
	if e.Expired {
		what = "expired"
	}
	s := fmt.Sprintf("kore: report job %s %s", e.JobID, what)
	if e.Status != "" {
		s += " (status " + e.Status + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *JobError) Unwrap() error { return e.Err }

// Is reports whether target is ErrJobFailed or ErrJobExpired, as fits.
func (e *JobError) Is(target error) bool {
	return (target == ErrJobExpired && e.Expired) || (target == ErrJobFailed && !e.Expired)
}

// DecodeError is a response body that is not what the API documents. Field
// names the offending JSON field path (for example
// "tasksExecutionReport.data[2025-06-01][3].dropOffSessions").
type DecodeError struct {
	Endpoint Endpoint
	Field    string
	Err      error
}

func (e *DecodeError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("kore: decode %s response: %v", e.Endpoint, e.Err)
	}
	return fmt.Sprintf("kore: decode %s response: %s: %v", e.Endpoint, e.Field, e.Err)
}

// Unwrap returns the cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalidResponse.
func (e *DecodeError) Is(target error) bool { return target == ErrInvalidResponse }
