package kore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// This file turns a failed call into its likely causes and their fixes, in
// one place: the exporter's credentials probe (--config.check.probe) prints
// them, and an AuthError's text carries the same hint, so a 401 in the logs
// and on /status says what to do as well.

// Cause is one likely cause of a failed call and how to fix it.
type Cause struct {
	// Name is a stable short name, one of the Cause… constants.
	Name string
	// What says what is probably wrong; Fix says what to do about it.
	What, Fix string
}

// Names of causes (Cause.Name).
const (
	CauseClockSkew       = "clock_skew"
	CauseBadCredentials  = "bad_client_credentials"
	CauseBotNotLinked    = "bot_not_linked"
	CauseAppNotPublished = "app_not_published"
	CauseWrongRegion     = "wrong_region"
	CauseWrongHost       = "wrong_host"
	CauseMissingScope    = "missing_scope"
	CauseBadToken        = "malformed_token"
	CauseReplay          = "jti_replay"
	CauseRateLimited     = "rate_limited"
	CauseServerError     = "server_error"
	CauseJobFailed       = "job_failed"
	CauseBadRequest      = "bad_request"
	CauseUnknown         = "unknown"
	CauseTimeout         = "timeout"
	CauseCanceled        = "canceled"
	CauseInvalidResponse = "invalid_response"
	CauseCredentialsWork = "credentials_work_elsewhere"
)

// MaxClockSkew is how far the local clock may be from Kore.ai's (by the
// Date header of its answers) before Diagnose names the skew: tokens carry
// iat and an exp 5 minutes later, signed with the local clock.
const MaxClockSkew = time.Minute

// RegionHosts are Kore.ai's cloud hosts (API.md §1); a bot lives in one.
const RegionHosts = "https://platform.kore.ai (US), https://de-platform.kore.ai (DE), " +
	"https://jp-platform.kore.ai (JP), https://bots.kore.ai (older US)"

// Texts of the causes. The JWT app is set up in App Builder → the bot →
// App Settings → Dev Tools (API.md §2).
var (
	causeBadCredentials = Cause{CauseBadCredentials,
		"the client id or client secret is wrong (not those of a JWT app of this bot, or copied with a character missing or extra)",
		"copy the Client ID (cs-…) and Client Secret again from App Builder → the bot → App Settings → Dev Tools → the JWT app; the secret is used as written, not base64-decoded"}
	causeBotNotLinked = Cause{CauseBotNotLinked,
		"the bot id is unknown on this host, or the bot is not linked to this JWT app",
		"copy the Bot ID (st-…) from the bot's App Settings → General Settings, and map the JWT app to this bot in Dev Tools → API Scopes"}
	causeAppNotPublished = Cause{CauseAppNotPublished,
		"the JWT app's scope mapping was not saved, or the bot was not published after it",
		"in Dev Tools → API Scopes, save the mapping of the JWT app to the bot with scope Metrics, then publish the bot"}
	causeWrongRegion = Cause{CauseWrongRegion,
		"the bot lives in another Kore.ai region than the configured host",
		"set host to the region your bot is in, as in the address bar of App Builder: " + RegionHosts}
	causeMissingScope = Cause{CauseMissingScope,
		"the JWT app lacks the Metrics scope for this bot",
		"in App Builder → the bot → App Settings → Dev Tools → API Scopes, give the JWT app the App Builder scope Metrics, save the mapping and publish the bot"}
	causeMissingSessionsScope = Cause{CauseMissingScope,
		"the JWT app lacks the Bot Sessions scope for this bot, which the Sessions History API (sessions.enabled) needs besides Metrics",
		"in App Builder → the bot → App Settings → Dev Tools → API Scopes, give the JWT app the App Builder scope Bot Sessions too, save the mapping and publish the bot; or set sessions.enabled: false"}
	causeBadToken = Cause{CauseBadToken,
		"Kore.ai could not read the token: the JWT app expects another signing algorithm, or something between the exporter and Kore.ai rewrote the auth header",
		"set the JWT app's algorithm to HS256 with client_secret (or RS256 with the private_key_file of the app's public key), and let no proxy rewrite the auth header"}
	causeReplay = Cause{CauseReplay,
		"the app's Enforce JTI rule refused the token as a replay or for an exp more than 1 hour ahead; the exporter signs every request afresh, so another party repeated it or the clocks differ",
		"check the local clock (NTP), and that no proxy repeats requests; or turn Enforce JTI off in the JWT app"}
	causeWrongHost = Cause{CauseWrongHost,
		"the host is not Kore.ai's API",
		"set host to the region your bot is in (" + RegionHosts + "), or your on-premises host, with nothing after the host name"}
	causeRateLimited = Cause{CauseRateLimited,
		"the bot's request budget is used up (Kore.ai allows 60 per minute and 1,800 per hour per bot, shared by every client of the bot)",
		"wait a few minutes; if other tools call this bot's analytics APIs, lower requests_per_minute_per_bot"}
	causeServerError = Cause{CauseServerError,
		"Kore.ai (or a proxy in front of it) answered with a server error",
		"try again later; if it persists, check Kore.ai's status page or contact Kore.ai support"}
	causeJobFailed = Cause{CauseJobFailed,
		"the credentials were accepted, but the report job failed or expired at Kore.ai",
		"try again later; if it persists, contact Kore.ai support"}
	causeBadRequest = Cause{CauseBadRequest,
		"Kore.ai refused the report request",
		"check the bot's filters (conversation_type, conversation_status, task names, tags) in the configuration"}
	causeTimeout = Cause{CauseTimeout,
		"no answer in time: the host is unreachable (firewall, proxy) or Kore.ai is slow",
		"check that this machine can reach the host over HTTPS (proxy settings, firewall), and that host is the region your bot is in: " + RegionHosts}
	causeCanceled        = Cause{CauseCanceled, "the check was interrupted", "run it again"}
	causeInvalidResponse = Cause{CauseInvalidResponse,
		"the answer is not what Kore.ai's API sends: the host may be another service, or a proxy answered",
		"set host to the region your bot is in (" + RegionHosts + "), or your on-premises host"}
	causeUnknown = Cause{CauseUnknown, "an unexpected error", "see the error above"}
)

// Signals are facts beside the error that narrow its causes down.
type Signals struct {
	// ClockOffset is Kore.ai's clock minus the local clock; 0 takes it from
	// the error (APIError.ClockOffset).
	ClockOffset time.Duration
	// BotID and ClientID, as configured, are checked for their usual
	// shapes (st-<uuid>, cs-<uuid>).
	BotID, ClientID string
	// CredentialsWork says the same client id and secret (or key) were
	// accepted on the same host for another bot.
	CredentialsWork bool
}

// Diagnose returns the likely causes of err, the most likely first, each
// with its fix; nil for a nil err. Where Kore.ai gives one answer for
// several causes (401 "Invalid SDK credentials"), it returns them all,
// ordered by the signals.
func Diagnose(err error, s Signals) []Cause {
	if err == nil {
		return nil
	}
	var (
		ae *AuthError
		je *JobError
		ap *APIError
		de *DecodeError
		re *RequestError
	)
	if s.ClockOffset == 0 && errors.As(err, &ap) {
		s.ClockOffset = ap.ClockOffset
	}
	var causes []Cause
	switch {
	case errors.Is(err, ErrRateLimited):
		return []Cause{causeRateLimited}
	case errors.As(err, &je):
		return []Cause{causeJobFailed}
	case errors.As(err, &ae):
		if ae.Reason != AuthScope && (s.ClockOffset >= MaxClockSkew || s.ClockOffset <= -MaxClockSkew) {
			// A token the server read (a scope answer) was not refused
			// for its times; any other 401 may have been.
			causes = append(causes, clockSkew(s.ClockOffset))
		}
		return append(causes, authCauses(ae, s)...)
	case errors.As(err, &ap):
		switch {
		case ap.StatusCode == http.StatusNotFound, ap.StatusCode == http.StatusMethodNotAllowed, ap.Code == 0 && ap.StatusCode < 500:
			// No 404 or 405 is documented for the public APIs, and Kore.ai's
			// errors are JSON with a code: someone else answered.
			return append(causes, causeWrongHost)
		case ap.StatusCode >= 500:
			return append(causes, causeServerError)
		case ap.StatusCode == http.StatusBadRequest, ap.StatusCode == http.StatusPreconditionFailed:
			return append(causes, causeBadRequest)
		}
		return append(causes, causeUnknown)
	case errors.As(err, &de):
		return append(causes, causeInvalidResponse)
	case errors.Is(err, context.Canceled):
		return append(causes, causeCanceled)
	case errors.As(err, &re):
		if c, ok := networkCause(re.Err); ok {
			return append(causes, c)
		}
		return append(causes, causeTimeout)
	case errors.Is(err, context.DeadlineExceeded):
		return append(causes, causeTimeout)
	}
	return append(causes, causeUnknown)
}

// authCauses orders the causes of a 401 answer (API.md §6).
func authCauses(ae *AuthError, s Signals) []Cause {
	switch ae.Reason {
	case AuthScope:
		if ae.APIError != nil && ae.Endpoint == EndpointSessions {
			return []Cause{causeMissingSessionsScope}
		}
		return []Cause{causeMissingScope}
	case AuthReplay:
		return []Cause{causeReplay}
	}
	if strings.Contains(strings.ToLower(ae.Message), "jwt") {
		// "Invalid JWT token": a malformed token.
		return []Cause{causeBadToken}
	}
	// "Invalid SDK credentials" stands for all of these.
	if s.CredentialsWork {
		// The app exists on this host and takes the secret: the bot is the
		// problem.
		return []Cause{
			{CauseCredentialsWork, "the same client id and secret work for another bot on this host", "so the client id and secret are right; look at this bot's id and mapping"},
			causeBotNotLinked, causeAppNotPublished,
		}
	}
	causes := []Cause{causeBadCredentials, causeBotNotLinked, causeAppNotPublished, causeWrongRegion}
	if s.BotID != "" && !LooksLikeBotID(s.BotID) {
		causes = []Cause{causeBotNotLinked, causeBadCredentials, causeAppNotPublished, causeWrongRegion}
	}
	return causes
}

// clockSkew is the cause for a measured offset.
func clockSkew(offset time.Duration) Cause {
	way := "behind"
	if offset < 0 {
		way, offset = "ahead of", -offset
	}
	return Cause{CauseClockSkew,
		fmt.Sprintf("the local clock is %s %s Kore.ai's (by the Date of its answer); tokens carry iat and a 5-minute exp from the local clock", offset.Round(time.Second), way),
		"synchronise this machine's clock (NTP: timedatectl set-ntp true, or chronyd/ntpd)"}
}

// networkCause names a connection that failed before any answer.
func networkCause(err error) (Cause, bool) {
	var (
		dns  *net.DNSError
		cv   *tls.CertificateVerificationError
		rh   tls.RecordHeaderError
		ua   x509.UnknownAuthorityError
		hn   x509.HostnameError
		ci   x509.CertificateInvalidError
		text = "TLS"
	)
	switch {
	case errors.As(err, &dns):
		return Cause{CauseWrongHost, "the host name does not resolve (DNS): a typo in host, or no network/DNS here",
			"set host to the region your bot is in: " + RegionHosts + ", or your on-premises host"}, true
	case errors.Is(err, syscall.ECONNREFUSED):
		return Cause{CauseWrongHost, "the connection was refused: nothing serves HTTPS at that host and port",
			"check the host and port; Kore.ai's hosts are " + RegionHosts}, true
	case errors.As(err, &rh):
		text = "the host does not speak TLS (plain HTTP on an https:// URL?)"
	case errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &ci):
		text = "the host's TLS certificate was not accepted (wrong host, or a proxy that intercepts TLS)"
	default:
		return Cause{}, false
	}
	return Cause{CauseWrongHost, text,
		"set host to Kore.ai's host for your region (" + RegionHosts + "); behind an intercepting proxy, add its CA to the system's trust store"}, true
}

// Hint is the one-line text of causes, for logs and the status page: the
// first cause with its fix, then the other candidates.
func Hint(causes []Cause) string {
	if len(causes) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "likely: %s; fix: %s", causes[0].What, causes[0].Fix)
	if len(causes) > 1 {
		b.WriteString("; else")
		for i, c := range causes[1:] {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, " %s (fix: %s)", c.What, c.Fix)
		}
	}
	return b.String()
}

// idShape is Kore.ai's id: a prefix, a dash and a UUID.
var idShape = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// LooksLikeBotID reports whether id is shaped st-<uuid>, as Kore.ai's cloud
// bot ids are (on-premises ones may differ).
func LooksLikeBotID(id string) bool {
	return strings.HasPrefix(id, "st-") && idShape.MatchString(id[3:])
}

// LooksLikeClientID reports whether id is shaped cs-<uuid>, as Kore.ai's
// cloud JWT app client ids are.
func LooksLikeClientID(id string) bool {
	return strings.HasPrefix(id, "cs-") && idShape.MatchString(id[3:])
}

// CheckIDShapes returns a warning for each of botID and clientID that is
// not shaped as Kore.ai's cloud ids are. Ids of on-premises installations
// may be valid all the same, so these are warnings, not errors.
func CheckIDShapes(botID, clientID string) []string {
	var w []string
	if !LooksLikeBotID(botID) {
		w = append(w, fmt.Sprintf("bot_id %q does not look like st-<uuid> (App Settings → General Settings → Bot ID); "+
			"a client id (cs-…) or a bot name in its place fails with 401", clip(botID)))
	}
	if !LooksLikeClientID(clientID) {
		w = append(w, fmt.Sprintf("client_id %q does not look like cs-<uuid> (Dev Tools → the JWT app → Client ID)", clip(clientID)))
	}
	return w
}

// clip bounds an id quoted in a warning.
func clip(s string) string { return printable(s, maxNameInError) }
