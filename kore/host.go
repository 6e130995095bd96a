package kore

import (
	"fmt"
	"net/url"
)

// DefaultHost is Kore.ai's US cloud, the host of the current docs (API.md §1).
const DefaultHost = "https://platform.kore.ai"

// HostProblem says what is wrong with a host URL; see CheckHost.
type HostProblem int

// The problems CheckHost finds, in the order it looks for them.
const (
	HostEmpty       HostProblem = iota + 1 // no URL at all
	HostInvalid                            // not a URL
	HostUserInfo                           // holds a user name or password
	HostNotAbsolute                        // no scheme or no host
	HostScheme                             // a scheme other than https and http
	HostPath                               // has a path
	HostQuery                              // has a query or fragment
	HostPlainHTTP                          // http without allowInsecureHTTP
)

// HostError is CheckHost's error. Its message quotes the host, except when
// the host holds user info or does not parse (it might hold a password).
type HostError struct {
	// Host is the URL as given.
	Host string
	// Problem is what is wrong with it.
	Problem HostProblem
}

// hostMessages say what is wrong, by problem; from HostNotAbsolute on
// they quote the host.
var hostMessages = [...]string{
	HostEmpty:       "is empty; want an absolute URL like " + DefaultHost,
	HostInvalid:     "is not a valid URL; want an absolute URL like " + DefaultHost,
	HostUserInfo:    "must not contain a user name or password",
	HostNotAbsolute: "%q is not an absolute URL; want one like " + DefaultHost,
	HostScheme:      "%q: scheme must be https (or http where insecure HTTP is allowed)",
	HostPath:        "%q must not have a path; the client adds /api/public/…",
	HostQuery:       "%q must not have a query or fragment",
	HostPlainHTTP:   "%q uses plain http; use https, or allow insecure HTTP",
}

// Error says what is wrong, without naming the caller's setting.
func (e *HostError) Error() string {
	if e.Problem < HostNotAbsolute {
		return hostMessages[e.Problem]
	}
	return fmt.Sprintf(hostMessages[e.Problem], e.Host)
}

// CheckHost returns a *HostError unless host is a base URL the client
// accepts: https (or http with allowInsecureHTTP), a host and an optional
// port, and nothing else (a trailing "/" is allowed). Kore.ai's hosts,
// on-premises ones included, serve the API at the same paths (API.md §1),
// so a path is refused rather than taken as a prefix.
func CheckHost(host string, allowInsecureHTTP bool) error {
	u, err := url.Parse(host)
	var p HostProblem
	switch {
	case host == "":
		p = HostEmpty
	case err != nil:
		p = HostInvalid
	case u.User != nil:
		p = HostUserInfo
	case u.Scheme == "" || u.Host == "" || u.Opaque != "":
		p = HostNotAbsolute
	case u.Scheme != "https" && u.Scheme != "http":
		p = HostScheme
	case u.Path != "" && u.Path != "/":
		p = HostPath
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		p = HostQuery
	case u.Scheme == "http" && !allowInsecureHTTP:
		p = HostPlainHTTP
	default:
		return nil
	}
	return &HostError{Host: host, Problem: p}
}
