package kore

import "time"

// Observer is told what the client does. collector/ implements it for the
// exporter's self-metrics. Methods must be safe for concurrent use and must
// not block.
type Observer interface {
	// RequestDone reports one HTTP exchange: the endpoint, the HTTP status
	// (0 when no response arrived) and how long it took.
	RequestDone(botID string, endpoint Endpoint, code int, d time.Duration)
	// Retry reports that a request will be repeated, and why: "network",
	// "rate_limited", "server_error" (5xx) or "unauthorized" (the one
	// re-sign after a 401 replay answer).
	Retry(botID string, endpoint Endpoint, reason string)
}

// NopObserver observes nothing.
type NopObserver struct{}

// RequestDone does nothing.
func (NopObserver) RequestDone(string, Endpoint, int, time.Duration) {}

// Retry does nothing.
func (NopObserver) Retry(string, Endpoint, string) {}
