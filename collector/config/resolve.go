package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kore-exporter/kore_exporter/kore"
	"github.com/prometheus/common/model"
)

// built-in default).
type setting[T any] struct {
	v    T
	path string
}

// settings are the inheritable fields, resolved.
type settings struct {
	host       setting[string]
	insecure   setting[bool]
	interval   setting[time.Duration]
	windows    setting[[]Window]
	delay      setting[time.Duration]
	timeout    setting[time.Duration]
	pageSize   setting[int]
	taskRows   setting[int]
	reportRows setting[int]
	staleAfter *setting[time.Duration] // nil: 3 × interval
	filterType setting[string]
	filterStat setting[string]
	taskNames  setting[[]string]
	tags       setting[[]Tag]
	labels     setting[map[string]string]
	sessions   setting[bool]
	peak       setting[int]
}

func builtinSettings() settings {
	return settings{
		host:       setting[string]{v: kore.DefaultHost},
		interval:   setting[time.Duration]{v: DefaultInterval},
		windows:    setting[[]Window]{v: []Window{defaultWindow}},
		timeout:    setting[time.Duration]{v: DefaultTimeout},
		pageSize:   setting[int]{v: kore.DefaultPageSize},
		taskRows:   setting[int]{v: DefaultMaxTaskRows},
		reportRows: setting[int]{v: kore.DefaultMaxReportRows},
		peak:       setting[int]{v: DefaultSessionsPeakPerHour},
	}
}

// resolver turns a rawFile into a Config, collecting every problem.
type resolver struct {
	opts ParseOptions
	errs []error
	seen map[string]bool
	// invalid holds paths whose text did not parse; checks of values
	// resolved from them are skipped so that one mistake is one error.
	invalid map[string]bool
	// secretValues are the secret values met: each client secret as typed and
	// as expanded, each ${NAME} value, each secret file's content; keys
	// are the private key files' contents. No problem may show them.
	secretValues, keys []string
	// secretPieces are the literal parts of typed client secrets around
	// their ${NAME} references, masked but not refused as label values.
	secretPieces []string
}

func (r *resolver) addSecret(v string) {
	if v != "" {
		r.secretValues = append(r.secretValues, v)
	}
}

// redactor returns the Redactor of the secrets met. Values shorter than
// minMaskedSecret are replaced only where quoted whole.
func (r *resolver) redactor() *Redactor {
	return newRedactor(append(slices.Clone(r.secretValues), r.secretPieces...), r.keys, minMaskedSecret)
}

// minMaskedSecret is the shortest secret masked wherever it appears in a
// configuration error; a shorter one (no real Kore.ai secret is that
// short) is masked only where quoted whole, so that "s" does not garble
// every message.
const minMaskedSecret = 6

func (r *resolver) add(path, format string, args ...any) {
	if path == "" {
		return
	}
	e := &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)}
	if s := e.Error(); !r.seen[s] {
		r.seen[s] = true
		r.errs = append(r.errs, e)
	}
}

func (r *resolver) markInvalid(path string) {
	if r.invalid == nil {
		r.invalid = map[string]bool{}
	}
	r.invalid[path] = true
}

func (r *resolver) resolve(raw *rawFile) *Config {
	base := builtinSettings()
	if raw.Defaults != nil {
		r.override(&base, raw.Defaults, "defaults")
		// Check the defaults on their own, so a bad default is an error
		// even when every bot overrides it.
		pseudo := Bot{}
		applySettings(&pseudo, base)
		checkSettings(&pseudo, r.pather("defaults", base, true), r.add)
	}
	cfg := &Config{}
	var pathers []pathFunc
	var named []bool
	if len(raw.Bots) == 0 {
		r.add("bots", "at least one bot is required")
	}
	for i := range raw.Bots {
		rb := &raw.Bots[i]
		prefix := fmt.Sprintf("bots[%d]", i)
		s := base
		r.override(&s, &rb.rawSettings, prefix)
		b := Bot{Name: rb.Name, BotID: rb.BotID, ClientID: rb.ClientID}
		if b.Name == "" {
			b.Name = b.BotID
		}
		applySettings(&b, s)
		r.secrets(&b, rb, prefix)
		at := r.pather(prefix, s, false)
		checkSettings(&b, at, r.add)
		checkIdentity(&b, at, r.add)
		cfg.Bots = append(cfg.Bots, b)
		pathers = append(pathers, at)
		named = append(named, rb.Name != "")
	}
	// Once every bot's secrets are known: no label value is one.
	checkNotSecret(cfg.Bots, r.secretValues, func(i int, field string) string {
		if field == "name" && !named[i] {
			field = "bot_id" // the name defaults to it
		}
		return pathers[i](field)
	}, r.add)
	checkUnique(cfg.Bots, func(i int, field string) string { return fmt.Sprintf("bots[%d].%s", i, field) }, r.add)
	cfg.Limits = Limits{RequestsPerMinutePerBot: kore.DefaultRequestsPerMinute}
	if raw.Limits != nil && raw.Limits.RequestsPerMinutePerBot != nil {
		cfg.Limits.RequestsPerMinutePerBot = *raw.Limits.RequestsPerMinutePerBot
	}
	if raw.Limits != nil && raw.Limits.MaxConcurrentJobs != nil {
		cfg.Limits.MaxConcurrentJobs = *raw.Limits.MaxConcurrentJobs
	} else {
		cfg.Limits.MaxConcurrentJobs, cfg.Limits.AutoConcurrentJobs = cfg.autoConcurrentJobs(), true
	}
	checkLimits(cfg.Limits, r.add)
	return cfg
}

// pather returns the function that maps a field of a bot's resolved
// settings to the path a problem is reported at. A problem involving only
// inherited values is reported once, at the defaults; a problem in which
// the bot took part is reported at the bot. Fields resolved from text that
// did not parse map to "" (no report, the parse error was reported). With
// single set (checking the defaults alone), rules relating several fields
// are skipped: a bot may still complete them.
func (r *resolver) pather(prefix string, s settings, single bool) pathFunc {
	src := map[string]string{
		"host":                        s.host.path,
		"allow_insecure_http":         s.insecure.path,
		"interval":                    s.interval.path,
		"windows":                     s.windows.path,
		"delay":                       s.delay.path,
		"timeout":                     s.timeout.path,
		"page_size":                   s.pageSize.path,
		"max_task_rows":               s.taskRows.path,
		"max_report_rows":             s.reportRows.path,
		"filters.conversation_type":   s.filterType.path,
		"filters.conversation_status": s.filterStat.path,
		"filters.include_task_names":  s.taskNames.path,
		"filters.tags":                s.tags.path,
		"labels":                      s.labels.path,
		"sessions.enabled":            s.sessions.path,
		"sessions.peak_per_hour":      s.peak.path,
	}
	if s.staleAfter != nil {
		src["stale_after"] = s.staleAfter.path
	}
	own := prefix + "."
	return func(field string, related ...string) string {
		if single && len(related) > 0 {
			return ""
		}
		key, rest := splitField(field)
		p, known := src[key]
		if !known {
			// Identity fields, and stale_after derived from the interval:
			// always the bot's own.
			if r.invalid[own+key] {
				return ""
			}
			return own + field
		}
		if r.invalid[p] || r.invalid[p+rest] {
			return ""
		}
		inherited := !strings.HasPrefix(p, own)
		for _, f := range related {
			rk, _ := splitField(f)
			rp := src[rk]
			if r.invalid[rp] {
				return ""
			}
			if strings.HasPrefix(rp, own) {
				inherited = false
			}
		}
		if inherited && p != "" {
			return p + rest
		}
		return own + field
	}
}

// splitField splits "windows[2]" into "windows" and "[2]", and
// "filters.tags[0].type" into "filters.tags" and "[0].type".
func splitField(field string) (key, rest string) {
	start := 0
	if strings.HasPrefix(field, "filters.") {
		start = len("filters.")
	}
	if i := strings.IndexAny(field[start:], ".["); i >= 0 {
		return field[:start+i], field[start+i:]
	}
	return field, ""
}

// override parses the fields set in rs (written at prefix) over s.
func (r *resolver) override(s *settings, rs *rawSettings, prefix string) {
	p := func(f string) string { return prefix + "." + f }
	r.wrongKinds(s, prefix)
	if rs.Host != nil {
		s.host = setting[string]{v: *rs.Host, path: p("host")}
	}
	if rs.AllowInsecureHTTP != nil {
		s.insecure = setting[bool]{v: *rs.AllowInsecureHTTP, path: p("allow_insecure_http")}
	}
	dur := func(text *string, dst *setting[time.Duration], field string) {
		if text == nil {
			return
		}
		*dst = setting[time.Duration]{v: r.duration(*text, p(field)), path: p(field)}
	}
	dur(rs.Interval, &s.interval, "interval")
	dur(rs.Delay, &s.delay, "delay")
	dur(rs.Timeout, &s.timeout, "timeout")
	if rs.StaleAfter != nil {
		s.staleAfter = &setting[time.Duration]{}
		dur(rs.StaleAfter, s.staleAfter, "stale_after")
	}
	if rs.PageSize != nil {
		s.pageSize = setting[int]{v: *rs.PageSize, path: p("page_size")}
	}
	if rs.MaxTaskRows != nil {
		s.taskRows = setting[int]{v: *rs.MaxTaskRows, path: p("max_task_rows")}
	}
	if rs.MaxReportRows != nil {
		s.reportRows = setting[int]{v: *rs.MaxReportRows, path: p("max_report_rows")}
	}
	if rs.Windows != nil {
		s.windows = setting[[]Window]{v: r.windows(*rs.Windows, p("windows")), path: p("windows")}
	}
	if rs.Labels != nil {
		// A bot's labels add to the defaults' (and override them by name).
		merged := maps.Clone(s.labels.v)
		if merged == nil {
			merged = make(map[string]string, len(*rs.Labels))
		}
		maps.Copy(merged, *rs.Labels)
		s.labels = setting[map[string]string]{v: merged, path: p("labels")}
	}
	if ss := rs.Sessions; ss != nil {
		if ss.Enabled != nil {
			s.sessions = setting[bool]{v: *ss.Enabled, path: p("sessions.enabled")}
		}
		if ss.PeakPerHour != nil {
			s.peak = setting[int]{v: *ss.PeakPerHour, path: p("sessions.peak_per_hour")}
		}
	}
	if f := rs.Filters; f != nil {
		if f.ConversationType != nil {
			s.filterType = setting[string]{v: *f.ConversationType, path: p("filters.conversation_type")}
		}
		if f.ConversationStatus != nil {
			s.filterStat = setting[string]{v: *f.ConversationStatus, path: p("filters.conversation_status")}
		}
		if f.IncludeTaskNames != nil {
			s.taskNames = setting[[]string]{v: *f.IncludeTaskNames, path: p("filters.include_task_names")}
		}
		if f.Tags != nil {
			tags := make([]Tag, 0, len(*f.Tags))
			for _, t := range *f.Tags {
				tags = append(tags, Tag(t))
			}
			s.tags = setting[[]Tag]{v: tags, path: p("filters.tags")}
		}
	}
}

// wrongKinds points each setting written at prefix with a value of the
// wrong kind (decoded as absent) at its own invalid path, so that no rule
// reports on the value it would otherwise inherit.
func (r *resolver) wrongKinds(s *settings, prefix string) {
	bad := func(f string) bool {
		group, _, nested := strings.Cut(f, ".")
		return r.invalid[prefix+"."+f] || (nested && r.invalid[prefix+"."+group])
	}
	at := func(path *string, f string) {
		if bad(f) {
			*path = prefix + "." + f
			r.markInvalid(*path)
		}
	}
	at(&s.host.path, "host")
	at(&s.insecure.path, "allow_insecure_http")
	at(&s.interval.path, "interval")
	at(&s.windows.path, "windows")
	at(&s.delay.path, "delay")
	at(&s.timeout.path, "timeout")
	at(&s.pageSize.path, "page_size")
	at(&s.taskRows.path, "max_task_rows")
	at(&s.reportRows.path, "max_report_rows")
	at(&s.filterType.path, "filters.conversation_type")
	at(&s.filterStat.path, "filters.conversation_status")
	at(&s.taskNames.path, "filters.include_task_names")
	at(&s.tags.path, "filters.tags")
	at(&s.labels.path, "labels")
	at(&s.sessions.path, "sessions.enabled")
	at(&s.peak.path, "sessions.peak_per_hour")
	if bad("stale_after") {
		s.staleAfter = &setting[time.Duration]{path: prefix + ".stale_after"}
	}
}

// duration parses a duration written at path, as Prometheus writes them
// (model.ParseDuration: units ms, s, m, h, d, w, y, biggest first).
func (r *resolver) duration(text, path string) time.Duration {
	d, err := model.ParseDuration(strings.TrimSpace(text))
	if err != nil {
		r.add(path, "%q is not a valid duration (a number and a unit: s, m, h, d or w, e.g. 30s, 5m, 7d)", text)
		r.markInvalid(path)
		return 0
	}
	return time.Duration(d)
}

var windowSyntax = regexp.MustCompile(`^([0-9]+[smhdw])+$`)

// windows parses a window list written at path. Range and duplicate
// checks are in checkSettings.
func (r *resolver) windows(texts []string, path string) []Window {
	ws := make([]Window, 0, len(texts))
	for i, text := range texts {
		wp := fmt.Sprintf("%s[%d]", path, i)
		d, err := model.ParseDuration(text)
		if err != nil || !windowSyntax.MatchString(text) {
			r.add(wp, "%q is not a valid window (a number and a unit: s, m, h, d or w, e.g. 1h, 24h, 7d)", text)
			r.markInvalid(wp)
			// A placeholder keeps the indexes of the rest aligned.
			ws = append(ws, Window{Name: text})
			continue
		}
		ws = append(ws, Window{Name: text, Duration: time.Duration(d)})
	}
	return ws
}

// applySettings copies resolved settings into b.
func applySettings(b *Bot, s settings) {
	b.Host = strings.TrimSuffix(s.host.v, "/")
	b.AllowInsecureHTTP = s.insecure.v
	b.Interval = s.interval.v
	b.Windows = append([]Window(nil), s.windows.v...)
	b.Delay = s.delay.v
	b.Timeout = s.timeout.v
	b.PageSize = s.pageSize.v
	b.MaxTaskRows = s.taskRows.v
	b.MaxReportRows = s.reportRows.v
	// A label set to "" is not exported (Prometheus takes an empty value
	// for an absent label): a bot drops an inherited label so.
	b.Labels = maps.Clone(s.labels.v)
	maps.DeleteFunc(b.Labels, func(_, v string) bool { return v == "" })
	if s.staleAfter != nil {
		b.StaleAfter = s.staleAfter.v
	} else {
		b.StaleAfter = saturatingMul(DefaultStaleAfterIntervals, b.Interval)
	}
	b.Sessions = Sessions{Enabled: s.sessions.v, PeakPerHour: s.peak.v}
	b.Filters = Filters{
		ConversationType:   s.filterType.v,
		ConversationStatus: s.filterStat.v,
		IncludeTaskNames:   append([]string(nil), s.taskNames.v...),
		Tags:               cloneTags(s.tags.v),
	}
}

func cloneTags(tags []Tag) []Tag {
	if tags == nil {
		return nil
	}
	out := make([]Tag, len(tags))
	for i, t := range tags {
		out[i] = Tag{Name: t.Name, Values: append([]string(nil), t.Values...), Type: t.Type}
	}
	return out
}

func saturatingMul(n int64, d time.Duration) time.Duration {
	if maxDuration := time.Duration(math.MaxInt64); d > 0 && d > maxDuration/time.Duration(n) {
		return maxDuration
	}
	return time.Duration(n) * d
}

// secrets resolves the bot's one secret source into b, reporting at the
// source's path. Messages never contain the secret or the file content.
func (r *resolver) secrets(b *Bot, rb *rawBot, prefix string) {
	// A source of the wrong kind (reported already) decodes as absent, but
	// it was written: it counts, and is not read.
	wrongKind := map[string]bool{}
	for _, f := range []string{"client_secret", "client_secret_file", "private_key_file"} {
		wrongKind[f] = r.invalid[prefix+"."+f]
	}
	wrong := func(f string) bool { return wrongKind[f] }
	var sources []string
	if rb.ClientSecret != nil || wrong("client_secret") {
		sources = append(sources, "client_secret")
	}
	if rb.ClientSecretFile != nil || wrong("client_secret_file") {
		sources = append(sources, "client_secret_file")
	}
	if rb.PrivateKeyFile != nil || wrong("private_key_file") {
		sources = append(sources, "private_key_file")
	}
	// Whatever the outcome, the typed secret check in checkIdentity must
	// not report again.
	r.markInvalid(prefix + ".client_secret")
	switch len(sources) {
	case 0:
		r.add(prefix, "no credentials: set one of client_secret, client_secret_file or private_key_file")
		return
	case 1:
		if wrong(sources[0]) {
			return
		}
	default:
		r.add(prefix, "set exactly one of client_secret, client_secret_file or private_key_file, not %s", strings.Join(sources, " and "))
		return
	}
	if cs := rb.ClientSecret; cs != nil && !bareEnvRef.MatchString(*cs) {
		// As typed (its literal parts around ${NAME}), whatever becomes
		// of it. A bare $NAME is refused, naming it, and is no secret.
		if !envRef.MatchString(*cs) {
			r.addSecret(*cs)
		}
		for _, p := range envRef.Split(*cs, -1) {
			if p != "" && p != *cs {
				r.secretPieces = append(r.secretPieces, p)
			}
		}
	}
	switch {
	case rb.ClientSecret != nil:
		path := prefix + ".client_secret"
		if m := bareEnvRef.FindStringSubmatch(*rb.ClientSecret); m != nil {
			r.add(path, "is $%s, taken as it is: write ${%s} to use the environment variable (a secret that really reads like this goes in client_secret_file)", m[1], m[1])
			return
		}
		if r.opts.SkipSecrets {
			// The form only: every ${NAME} counts as set (to a value that
			// is not empty); the environment is not read.
			_, msg := expandEnv(*rb.ClientSecret, func(string) (string, bool) { return "unchecked", true })
			switch {
			case msg != "":
				r.add(path, "%s", msg)
			case *rb.ClientSecret == "":
				r.add(path, "is empty")
			}
			return
		}
		v, msg := expandEnv(*rb.ClientSecret, func(name string) (string, bool) {
			v, ok := r.opts.LookupEnv(name)
			r.addSecret(v)
			return v, ok
		})
		switch {
		case msg != "":
			r.add(path, "%s", msg)
		case v == "" && *rb.ClientSecret == "":
			r.add(path, "is empty")
		case v == "":
			r.add(path, "expands to an empty value")
		default:
			r.addSecret(v)
			b.ClientSecret = Secret(v)
		}
	case rb.ClientSecretFile != nil && r.opts.SkipSecrets:
		b.ClientSecretFile, _ = r.secretFileName(*rb.ClientSecretFile, prefix+".client_secret_file")
	case rb.PrivateKeyFile != nil && r.opts.SkipSecrets:
		b.PrivateKeyFile, _ = r.secretFileName(*rb.PrivateKeyFile, prefix+".private_key_file")
	case rb.ClientSecretFile != nil:
		path := prefix + ".client_secret_file"
		file, data, ok := r.readSecretFile(*rb.ClientSecretFile, path)
		if !ok {
			return
		}
		b.ClientSecretFile = file
		b.ClientSecret = Secret(strings.TrimSpace(string(data)))
		r.addSecret(b.ClientSecret.Reveal())
	case rb.PrivateKeyFile != nil:
		path := prefix + ".private_key_file"
		file, data, ok := r.readSecretFile(*rb.PrivateKeyFile, path)
		if !ok {
			return
		}
		r.keys = append(r.keys, string(data))
		r.addSecret(strings.TrimSpace(string(data)))
		if _, err := kore.ParsePrivateKey(data); err != nil {
			r.add(path, "%s: %v", file, err)
			return
		}
		b.PrivateKeyFile = file
		b.PrivateKey = Secret(data)
	}
}

// readSecretFile reads a secret or key file named at path, relative names
// resolving against the base directory.
func (r *resolver) readSecretFile(name, path string) (string, []byte, bool) {
	file, ok := r.secretFileName(name, path)
	if !ok {
		return "", nil, false
	}
	data, err := r.opts.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.add(path, "file %s does not exist", file)
		return "", nil, false
	case errors.Is(err, ErrNotRegularFile):
		r.add(path, "file %s is not a regular file (%s); want a file holding the %s", file, notRegularKind(err), secretKind(path))
		return "", nil, false
	case errors.Is(err, ErrFileTooLarge) || (err == nil && len(data) > MaxSecretFileSize):
		r.add(path, "file %s is larger than the limit of %d bytes (64 KiB); want a file holding only the %s", file, MaxSecretFileSize, secretKind(path))
		return "", nil, false
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already named
		}
		r.add(path, "cannot read file %s: %v", file, err)
		return "", nil, false
	case len(bytes.TrimSpace(data)) == 0:
		r.add(path, "file %s is empty", file)
		return "", nil, false
	}
	return file, data, true
}

// secretFileName resolves the name of a secret or key file written at
// path against the base directory, reporting an empty name.
func (r *resolver) secretFileName(name, path string) (string, bool) {
	if strings.TrimSpace(name) == "" {
		r.add(path, "is empty; set a file name")
		return "", false
	}
	file := name
	if !filepath.IsAbs(file) && r.opts.BaseDir != "" {
		file = filepath.Join(r.opts.BaseDir, file)
	}
	return file, true
}

// notRegularKind returns what readRegularFile said the file is.
func notRegularKind(err error) string {
	var nr *notRegularError
	if errors.As(err, &nr) {
		return nr.kind
	}
	return "not a plain file"
}

// secretKind names what the file at a field path should hold.
func secretKind(path string) string {
	if strings.HasSuffix(path, "private_key_file") {
		return "private key"
	}
	return "client secret"
}

// envRef matches a ${…} reference, to split a typed secret into its
// literal parts.
var envRef = regexp.MustCompile(`\$\{[^}]*\}`)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// bareEnvRef matches a whole value of the form $NAME: a forgotten ${NAME}
// (only ${NAME} expands). Kore.ai client secrets do not look like this.
var bareEnvRef = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)$`)

// expandEnv replaces each ${NAME} in s with the variable's value; "$${"
// is a literal "${". On failure it returns a message naming the variable
// (never the value, nor the text around it).
func expandEnv(s string, lookup func(string) (string, bool)) (string, string) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), ""
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", "unterminated ${ (write ${NAME} to use an environment variable, $${ for a literal ${)"
		}
		name := s[i+2 : i+2+end]
		if !envName.MatchString(name) {
			return "", "invalid ${…} reference: a variable name is letters, digits and _, not starting with a digit"
		}
		v, ok := lookup(name)
		if !ok {
			return "", fmt.Sprintf("environment variable %s is not set", name)
		}
		b.WriteString(v)
		s = s[i+2+end+1:]
	}
}
