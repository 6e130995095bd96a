package config

import (
	"cmp"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is a parsed, validated configuration with every default applied.
// Parse and Load build it; its values are final.
type Config struct {
	Bots   []Bot
	Limits Limits
}

// Limits bound the exporter's own work and its use of the Kore.ai API.
type Limits struct {
	// MaxConcurrentJobs caps report jobs in flight across all bots. When
	// the file does not set it, it follows the bots (AutoConcurrentJobs).
	MaxConcurrentJobs int
	// AutoConcurrentJobs says MaxConcurrentJobs was not set but sized from
	// the plan: the slots the jobs need on average, at least
	// MinAutoConcurrentJobs, at most one per job.
	AutoConcurrentJobs bool
	// RequestsPerMinutePerBot is each bot's request budget, at most
	// kore.MaxRequestsPerMinute (default kore.DefaultRequestsPerMinute).
	RequestsPerMinutePerBot int
	// Unlimited lifts the per-bot budget, for a simulated API only (the
	// backfill of --demo). No file can set it.
	Unlimited bool
}

// Bot is one configured bot with its defaults resolved.
type Bot struct {
	// Name is the bot label value (defaults to BotID).
	Name string
	// BotID is the Kore.ai bot (stream) id, st-….
	BotID string
	// ClientID is the JWT app's client id, cs-….
	ClientID string
	// ClientSecret is the HS256 secret, from client_secret,
	// client_secret_file or ${ENV} expansion. Empty when PrivateKey is set.
	ClientSecret Secret
	// PrivateKey is a PEM RSA private key for RS256 (private_key_file).
	PrivateKey Secret
	// ClientSecretFile is the resolved path the client secret was read
	// from, or empty. It is kept for logs and the status page.
	ClientSecretFile string
	// PrivateKeyFile is the resolved path the private key was read from,
	// or empty.
	PrivateKeyFile string
	// Host is the API base URL (default kore.DefaultHost), as
	// kore.CheckHost accepts it.
	Host string
	// AllowInsecureHTTP permits an http:// host.
	AllowInsecureHTTP bool
	// Interval between report job submissions for each window.
	Interval time.Duration
	// Windows are the rolling windows, each one job and one window label.
	Windows []Window
	// Delay shifts each window's end back.
	Delay time.Duration
	// Timeout is a job's whole deadline (submit + polls + pages).
	Timeout time.Duration
	// StaleAfter is how long a window's last good rows are served after
	// failed runs (default 3 × Interval).
	StaleAfter time.Duration
	// PageSize is the limit of each page (default kore.DefaultPageSize).
	PageSize int
	// MaxTaskRows caps the rows (task name × task type × status) exported
	// for one window of the bot; beyond it the smallest tasks are folded
	// into one row with a reserved task name, so the bot's totals stay
	// exact. MinTaskRows..MaxRows, default DefaultMaxTaskRows.
	MaxTaskRows int
	// MaxReportRows is the most raw rows one report run may fetch, over
	// all its pages; a report whose total says more fails at once.
	// PageSize..MaxRows, default kore.DefaultMaxReportRows.
	MaxReportRows int
	// Filters narrow the report. Several bots may share a BotID (variants
	// of one Kore.ai bot) if their filters differ.
	Filters Filters
	// Labels are static labels exported on kore_bot_info only (for alert
	// routing: team, env), the defaults' merged with the bot's own.
	Labels map[string]string
	// Sessions is the opt-in Sessions History report: session-level
	// containment counts of the whole bot (filters do not apply).
	Sessions Sessions
}

// Window is a rolling window as written in the config ("1h", "24h", "7d").
// Sessions configures a bot's Sessions History report (kore/API.md §8):
// sessions counted per hour by containment type, channel and session
// type, for each of the bot's windows.
type Sessions struct {
	// Enabled turns it on; the JWT app needs the Bot Sessions scope.
	Enabled bool
	// PeakPerHour is the bot's sessions in its busiest hour, for the
	// request estimate of --config.check (a page holds 100 sessions).
	PeakPerHour int
}

type Window struct {
	// Name is the text as written; it is the window label value.
	Name     string
	Duration time.Duration
}

// Filters are the report's optional filters, passed to the API verbatim.
type Filters struct {
	ConversationType   string
	ConversationStatus string
	IncludeTaskNames   []string
	Tags               []Tag
}

// Tag is one tags filter element.
type Tag struct {
	Name   string
	Values []string
	Type   string
}

// Redactor returns the Redactor of c's bots' secrets (client secrets and
// private keys), for texts that may quote one, such as an error a server
// echoed. Each secret is also replaced as Go and JSON quote it (escaping a
// key's newlines, say), and a private key line by line (each line of its
// PEM body of 16 bytes or more), so that a key quoted, re-wrapped or cut
// shows no line of it either.
func (c *Config) Redactor() *Redactor {
	var secrets, keys []string
	for _, b := range c.Bots {
		secrets = append(secrets, b.ClientSecret.Reveal(), b.PrivateKey.Reveal())
		keys = append(keys, b.PrivateKey.Reveal())
	}
	return newRedactor(secrets, keys, 0)
}

// newRedactor returns the Redactor of secrets and of the lines of the PEM
// keys. A secret shorter than minLen is replaced only where it is quoted
// whole ("s"), so that a short one does not garble every text.
func newRedactor(secrets, keys []string, minLen int) *Redactor {
	var pairs, lines []string
	// Longest first: a secret that holds another (a client secret and the
	// variable it was expanded from) is replaced whole.
	secrets = slices.Clone(secrets)
	slices.SortStableFunc(secrets, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	for _, v := range secrets {
		if v == "" {
			continue
		}
		q := strconv.Quote(v)
		if len(v) < minLen {
			pairs = append(pairs, q, `"<secret>"`)
			continue
		}
		pairs = append(pairs, v, "<secret>")
		if q[1:len(q)-1] != v {
			pairs = append(pairs, q[1:len(q)-1], "<secret>")
		}
	}
	for _, k := range keys {
		for _, l := range strings.Split(k, "\n") {
			if l = strings.TrimSpace(l); len(l) >= 16 && !strings.HasPrefix(l, "-----") {
				lines = append(lines, l, "<secret>")
			}
		}
	}
	// Whole secrets first: at one position, the first pair that matches
	// wins.
	return &Redactor{secrets: strings.NewReplacer(append(pairs, lines...)...)}
}

// Redactor removes secrets from texts: those of a configuration by
// "<secret>" and anything shaped like a JWT by "<token>". The zero value
// removes tokens only.
type Redactor struct {
	secrets *strings.Replacer
}

// tokenPattern matches a JWT or the start of one: base64url of a JSON object
// (a token's header and payload start with eyJ, which is `{"`) and the parts
// that follow it.
var tokenPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}(\.[A-Za-z0-9_-]*){0,2}`)

// Replace returns msg without the secrets and tokens. Tokens are scrubbed
// whatever the configuration: the client removes the token it sent from
// each answer, but a run's error may hold another, in a panic's value or an
// answer that echoes an earlier request's token.
func (r *Redactor) Replace(msg string) string {
	if r != nil && r.secrets != nil {
		msg = r.secrets.Replace(msg)
	}
	return ScrubTokens(msg)
}

// TokenPlaceholder stands where a token was cut out.
const TokenPlaceholder = "<token>"

// ScrubTokens returns s with anything shaped like a JWT replaced by
// TokenPlaceholder.
func ScrubTokens(s string) string {
	if !strings.Contains(s, "eyJ") { // every token starts so; the common case
		return s
	}
	return tokenPattern.ReplaceAllString(s, TokenPlaceholder)
}

// Secret is a credential. It formats as "<secret>" so it cannot leak
// through logs, errors or %v; Reveal returns the value.
type Secret string

// String returns a redacted placeholder.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<secret>"
}

// GoString returns a redacted placeholder.
func (s Secret) GoString() string { return s.String() }

// MarshalText returns a redacted placeholder.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the secret's value, for signing only.
func (s Secret) Reveal() string { return string(s) }

// Defaults and bounds of the configuration. The defaults and bounds that
// the Kore.ai API sets (host, page size, report rows, rate limits, the
// 90-day range) are the kore package's.
const (
	// DefaultInterval is how often each window's report job is submitted.
	DefaultInterval = 5 * time.Minute
	// DefaultTimeout is a job's whole deadline.
	DefaultTimeout = 10 * time.Minute
	// DefaultMaxTaskRows is the default max_task_rows: the rows exported
	// per bot and window before the smallest tasks are folded into one.
	DefaultMaxTaskRows = 1000
	// DefaultStaleAfterIntervals is the default stale_after in intervals.
	DefaultStaleAfterIntervals = 3
	// MinAutoConcurrentJobs is the least limits.max_concurrent_jobs sized
	// from the plan when the file does not set it.
	MinAutoConcurrentJobs = 4

	// MinInterval is the shortest allowed interval.
	MinInterval = time.Minute
	// MaxPageSize is the largest allowed page_size.
	MaxPageSize = 10000
	// MinTaskRows is the smallest allowed max_task_rows: room for the up to
	// three folded rows (one per status: success, failtask, any other)
	// beside the tasks kept.
	MinTaskRows = 10
	// MaxRows is the largest allowed max_task_rows and max_report_rows.
	MaxRows = 1000000
	// MaxStaticLabels is the most static labels one bot may export on
	// kore_bot_info, counted after merging the defaults' (a label dropped
	// with "" does not count).
	MaxStaticLabels = 32
	// DefaultSessionsPeakPerHour is sessions.peak_per_hour unless set.
	DefaultSessionsPeakPerHour = 1000
	// MaxSessionsPeakPerHour bounds sessions.peak_per_hour: a million
	// sessions an hour is 10,000 pages, beyond any bot's budget.
	MaxSessionsPeakPerHour = 1000000
	// MaxLabelValueLength is the longest static label value, in bytes.
	MaxLabelValueLength = 1024
)

// defaultWindow is the window used when none is configured.
var defaultWindow = Window{Name: "24h", Duration: 24 * time.Hour}

// FieldError is one configuration problem. Path names the field as it is
// written in the file (defaults.interval, bots[2].windows[0],
// limits.max_concurrent_jobs). Messages never contain secret values.
type FieldError struct {
	// Path is the field's path in the file; empty for file-level problems.
	Path string
	// Msg says what is wrong.
	Msg string
}

// Error returns "path: message".
func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}
