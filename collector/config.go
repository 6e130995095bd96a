package collector

import (
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
	// MaxConcurrentJobs caps report jobs in flight across all bots.
	MaxConcurrentJobs int
	// RequestsPerMinutePerBot is each bot's request budget (Kore.ai allows
	// 60/min and 1,800/h per bot; 30/min is the sustained hourly cap).
	RequestsPerMinutePerBot int
}

// Bot is one configured bot with its defaults resolved.
type Bot struct {
	// Name is the bot label value (defaults to BotID).
	Name     string
	BotID    string
	ClientID string
	// ClientSecret is the HS256 secret, from client_secret,
	// client_secret_file or ${ENV} expansion. Empty when PrivateKey is set.
	ClientSecret Secret
	// PrivateKey is a PEM RSA private key for RS256 (private_key_file).
	PrivateKey Secret
	// Host is the API base URL, e.g. https://platform.kore.ai.
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
	// PageSize is the limit of each page.
	PageSize int
	// Filters narrow the report.
	Filters Filters
}

// Window is a rolling window as written in the config ("1h", "24h", "7d").
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
