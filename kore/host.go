package kore

import (
	"errors"
	"fmt"
	"net/url"
)

// DefaultHost is Kore.ai's US cloud, the host of the current docs (API.md §1).
const DefaultHost = "https://platform.kore.ai"

// ErrPlainHTTP matches CheckHost's error for an http URL where insecure
// HTTP is not allowed.
var ErrPlainHTTP = errors.New("uses plain http; use https, or allow insecure HTTP")

// CheckHost returns an error unless host is a base URL the client accepts:
// https (or http with allowInsecureHTTP), a host and an optional port, and
// nothing else (a trailing "/" is allowed). Kore.ai's hosts, on-premises
// ones included, serve the API at the same paths (API.md §1), so a path is
// refused rather than taken as a prefix. The error quotes the host, except
// when it holds user info or does not parse (it might hold a password).
func CheckHost(host string, allowInsecureHTTP bool) error {
	u, err := url.Parse(host)
	switch {
	case host == "":
		return errors.New("is empty; want an absolute URL like " + DefaultHost)
	case err != nil:
		return errors.New("is not a valid URL; want an absolute URL like " + DefaultHost)
	case u.User != nil:
		return errors.New("must not contain a user name or password")
	case u.Scheme == "" || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("%q is not an absolute URL; want one like %s", host, DefaultHost)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%q: scheme must be https (or http where insecure HTTP is allowed)", host)
	case u.Path != "" && u.Path != "/":
		return fmt.Errorf("%q must not have a path; the client adds /api/public/…", host)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fmt.Errorf("%q must not have a query or fragment", host)
	case u.Scheme == "http" && !allowInsecureHTTP:
		return fmt.Errorf("%q %w", host, ErrPlainHTTP)
	}
	return nil
}
