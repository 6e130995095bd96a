package kore

import (
	"bytes"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Every string that came from the server and may reach an error, a log line
// or the exporter's status page is untrusted: the client scrubs its own
// token out of every answer before reading it, validates what has a known
// format (the job id), and bounds and makes printable the rest (status,
// error messages, bucket keys and task names in errors).

const (
	// maxJobID is the longest job id accepted. Kore.ai's look like
	// ds-<uuid> (39 bytes).
	maxJobID = 128
	// maxStatusText bounds a job status string (IN_PROGRESS, SUCCESS …).
	maxStatusText = 64
	// maxNameInError bounds a task name or bucket key quoted in an error.
	maxNameInError = 80
	// redacted replaces the token wherever an answer echoes it.
	redacted = "[redacted]"
)

// jobIDPattern is the shape of a job id: it goes into the status URL's path
// and into errors, so nothing but a plain identifier is accepted.
var jobIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)

// validJobID reports whether id can be a job id.
func validJobID(id string) bool {
	return len(id) <= maxJobID && jobIDPattern.MatchString(id)
}

// scrubToken replaces the token, and its signature on its own, wherever body
// holds it. body is changed in place only when it holds one of them.
func scrubToken(body []byte, token string) []byte {
	secrets := []string{token}
	if i := strings.LastIndexByte(token, '.'); i > 0 && i < len(token)-1 {
		secrets = append(secrets, token[i+1:])
	}
	for _, s := range secrets {
		if s != "" && bytes.Contains(body, []byte(s)) {
			body = bytes.ReplaceAll(body, []byte(s), []byte(redacted))
		}
	}
	return body
}

// printable returns s with runs of white space collapsed to one space (HTML
// bodies are mostly white space), cut to at most n bytes on a rune boundary
// (with "…" when cut), and every rune that is not printable replaced by '?'.
// Only the first 4n bytes of s are read.
func printable(s string, n int) string {
	cut := false
	if len(s) > 4*n {
		s, cut = clipBytes(s, 4*n), true
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s, cut = clipBytes(s, n), true
	}
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
	if cut {
		s += "…"
	}
	return s
}

// clipBytes returns the longest prefix of s of at most n bytes that ends on
// a rune boundary.
func clipBytes(s string, n int) string {
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
