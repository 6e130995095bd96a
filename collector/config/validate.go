package config

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kore-exporter/kore_exporter/collector/contract"
	"github.com/kore-exporter/kore_exporter/kore"
	"github.com/prometheus/common/model"
)

// Allowed filter values (kore/API.md §3, §7), case-sensitive.
var (
	conversationTypes    = []string{kore.ConversationTypeInteractive, kore.ConversationTypeNonInteractive}
	conversationStatuses = []string{kore.ConversationStatusActive, kore.ConversationStatusClosed}
	tagTypes             = []string{"user", "session", "message"}
)

// Validate checks the invariants of a Config, such as one built in code
// (the demo mode) or one returned by Parse. It returns every problem at
// once (errors.Join of *FieldError), with paths as the YAML file would
// name them (bots[0].interval, limits.max_concurrent_jobs).
func (c *Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		if path != "" {
			errs = append(errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
		}
	}
	if len(c.Bots) == 0 {
		add("bots", "at least one bot is required")
	}
	for i := range c.Bots {
		b := &c.Bots[i]
		prefix := fmt.Sprintf("bots[%d].", i)
		at := func(field string, _ ...string) string { return prefix + field }
		checkSettings(b, at, add)
		checkIdentity(b, at, add)
	}
	checkUnique(c.Bots, func(i int, field string) string { return fmt.Sprintf("bots[%d].%s", i, field) }, add)
	var secrets []string
	for _, b := range c.Bots {
		secrets = append(secrets, b.ClientSecret.Reveal(), strings.TrimSpace(b.PrivateKey.Reveal()))
	}
	checkNotSecret(c.Bots, secrets, func(i int, field string) string { return fmt.Sprintf("bots[%d].%s", i, field) }, add)
	checkLimits(c.Limits, add)
	return errors.Join(errs...)
}

// pathFunc maps a bot field (and the fields a rule relates it to) to the
// path a problem is reported at; "" means do not report.
type pathFunc func(field string, related ...string) string

// addFunc records one problem.
type addFunc func(path, format string, args ...any)

// checkSettings checks a bot's inheritable fields. Every rule on them is
// here, for both Parse and Validate.
func checkSettings(b *Bot, at pathFunc, add addFunc) {
	checkHost(b, at, add)
	if b.Interval < MinInterval {
		add(at("interval"), "%s is shorter than the minimum of 1m", model.Duration(b.Interval))
	}
	if len(b.Windows) == 0 {
		add(at("windows"), "at least one window is required")
	}
	for i, w := range b.Windows {
		wf := fmt.Sprintf("windows[%d]", i)
		switch {
		case w.Name == "":
			add(at(wf), "window has no name")
		case w.Duration <= 0:
			add(at(wf), "window %s must be longer than zero", w.Name)
		case w.Duration > kore.MaxRange:
			add(at(wf), "window %s exceeds the API's 90-day maximum", w.Name)
		}
		for j := range i {
			if b.Windows[j].Duration == w.Duration || b.Windows[j].Name == w.Name {
				add(at(wf), "window %s duplicates windows[%d] (%s)", w.Name, j, b.Windows[j].Name)
				break
			}
		}
	}
	if b.Delay < 0 {
		add(at("delay"), "must not be negative")
	}
	if b.Timeout <= 0 {
		add(at("timeout"), "must be longer than zero")
	}
	pageSizeOK := b.PageSize >= 1 && b.PageSize <= MaxPageSize
	if !pageSizeOK {
		add(at("page_size"), "%d is outside 1..%d", b.PageSize, MaxPageSize)
	}
	if b.MaxTaskRows < MinTaskRows || b.MaxTaskRows > MaxRows {
		add(at("max_task_rows"), "%d is outside %d..%d", b.MaxTaskRows, MinTaskRows, MaxRows)
	}
	switch {
	case b.MaxReportRows < 1 || b.MaxReportRows > MaxRows:
		add(at("max_report_rows"), "%d is outside 1..%d", b.MaxReportRows, MaxRows)
	case pageSizeOK && b.MaxReportRows < b.PageSize:
		add(at("max_report_rows", "page_size"), "%d is less than page_size %d: a run must be able to fetch at least one full page",
			b.MaxReportRows, b.PageSize)
	}
	if b.StaleAfter < b.Interval && b.Interval >= MinInterval {
		add(at("stale_after", "interval"), "%s is shorter than the interval %s", model.Duration(b.StaleAfter), model.Duration(b.Interval))
	}
	checkFilters(&b.Filters, at, add)
	checkLabels(b.Labels, at, add)
	checkSessions(b, at, add)
}

// checkSessions checks the Sessions History settings: its counts are kept
// per hour, so with it every window must be whole hours. peak_per_hour is
// checked where it is used or set (a configuration built in code without
// sessions may leave it zero).
func checkSessions(b *Bot, at pathFunc, add addFunc) {
	if p := b.Sessions.PeakPerHour; (b.Sessions.Enabled || p != 0) && (p < 1 || p > MaxSessionsPeakPerHour) {
		add(at("sessions.peak_per_hour"), "%d is outside 1..%d", p, MaxSessionsPeakPerHour)
	}
	if !b.Sessions.Enabled {
		return
	}
	for i, w := range b.Windows {
		if w.Duration > 0 && w.Duration%time.Hour != 0 {
			add(at(fmt.Sprintf("windows[%d]", i), "sessions.enabled"), "window %s is not a whole number of hours: sessions are counted per hour (use e.g. 1h, 24h, 7d, or turn sessions off)", w.Name)
		}
	}
}

// checkLabels checks the static labels: names as Prometheus allows them
// (and not reserved), values valid UTF-8.
func checkLabels(labels map[string]string, at pathFunc, add addFunc) {
	path := at("labels")
	if path == "" {
		return
	}
	if len(labels) > MaxStaticLabels {
		add(path, "%d static labels, more than the limit of %d (counted after merging the defaults')", len(labels), MaxStaticLabels)
	}
	for _, name := range slices.Sorted(maps.Keys(labels)) {
		p := path + "." + name
		switch v := labels[name]; {
		case !model.LegacyValidation.IsValidLabelName(name):
			add(p, "%q is not a valid label name (letters, digits and _, not starting with a digit)", name)
		case strings.HasPrefix(name, "__"):
			add(p, "label names starting with __ are reserved for Prometheus")
		case slices.Contains(contract.ReservedLabels(), name):
			add(p, "%q clashes with a label of the exporter or of Prometheus (%s)", name, strings.Join(contract.ReservedLabels(), ", "))
		case meaningfulLabels[name] != "":
			add(p, "%q has a meaning in Prometheus (%s); choose another name", name, meaningfulLabels[name])
		case len(v) > MaxLabelValueLength:
			add(p, "value is %d bytes, more than the limit of %d", len(v), MaxLabelValueLength)
		case !utf8.ValidString(v):
			add(p, "value is not valid UTF-8")
		}
	}
}

// meaningfulLabels are label names that Prometheus reads on any series,
// which a static label must not take though the exporter does not use
// them: histogram_quantile reads le as a bucket's bound, and quantile
// marks a summary's quantiles. They are refused here, not listed in
// contract.ReservedLabels, which holds the names the exporter's series
// and Prometheus's targets carry (and which the deploy tests check
// against the series).
var meaningfulLabels = map[string]string{
	"le":       "the upper bound of a histogram bucket, read by histogram_quantile",
	"quantile": "the quantile of a summary",
}

// checkNotSecret refuses a bot's name (the bot label on every series) and
// static label values (on kore_bot_info) that equal a configured secret:
// /metrics would publish it. The message never holds the value.
func checkNotSecret(bots []Bot, secrets []string, at func(i int, field string) string, add addFunc) {
	var long []string
	short := map[string]bool{}
	for _, s := range secrets {
		switch {
		case len(s) >= minMaskedSecret:
			long = append(long, s)
		case s != "":
			short[s] = true
		}
	}
	if len(long) == 0 && len(short) == 0 {
		return
	}
	// A secret long enough to be masked in messages is refused inside a
	// value too; a shorter one only as the whole value.
	isSecret := func(v string) bool {
		return short[v] || slices.ContainsFunc(long, func(s string) bool { return strings.Contains(v, s) })
	}
	const msg = "holds a configured secret (a client secret, a secret file's content or a ${NAME} value); it would be published as a label value on /metrics: choose another value"
	for i, b := range bots {
		if isSecret(b.Name) {
			add(at(i, "name"), "%s", msg)
		}
		for _, name := range slices.Sorted(maps.Keys(b.Labels)) {
			if isSecret(b.Labels[name]) {
				if p := at(i, "labels"); p != "" {
					add(p+"."+name, "%s", msg)
				}
			}
		}
	}
}

// checkHost applies kore.CheckHost; a plain http host names
// allow_insecure_http too, the setting that allows it.
func checkHost(b *Bot, at pathFunc, add addFunc) {
	err := kore.CheckHost(b.Host, b.AllowInsecureHTTP)
	switch {
	case errors.Is(err, kore.ErrPlainHTTP):
		add(at("host", "allow_insecure_http"), "%v", err)
	case err != nil:
		add(at("host"), "%v", err)
	}
}

// checkFilters checks the filters. An empty enum value means "no filter"
// (a bot writes "" to drop a filter it would inherit).
func checkFilters(f *Filters, at pathFunc, add addFunc) {
	if f.ConversationType != "" && !oneOf(f.ConversationType, conversationTypes) {
		add(at("filters.conversation_type"), "%q is not one of %s (case-sensitive)", f.ConversationType, strings.Join(conversationTypes, ", "))
	}
	if f.ConversationStatus != "" && !oneOf(f.ConversationStatus, conversationStatuses) {
		add(at("filters.conversation_status"), "%q is not one of %s (case-sensitive)", f.ConversationStatus, strings.Join(conversationStatuses, ", "))
	}
	for i, n := range f.IncludeTaskNames {
		if strings.TrimSpace(n) == "" {
			add(at(fmt.Sprintf("filters.include_task_names[%d]", i)), "task name is empty")
		}
	}
	for i, t := range f.Tags {
		tp := fmt.Sprintf("filters.tags[%d]", i)
		if strings.TrimSpace(t.Name) == "" {
			add(at(tp+".name"), "tag name is empty")
		}
		if len(t.Values) == 0 {
			add(at(tp+".values"), "at least one value is required")
		}
		for j, v := range t.Values {
			if v == "" {
				add(at(fmt.Sprintf("%s.values[%d]", tp, j)), "value is empty")
			}
		}
		if t.Type != "" && !oneOf(t.Type, tagTypes) {
			add(at(tp+".type"), "%q is not one of %s (case-sensitive)", t.Type, strings.Join(tagTypes, ", "))
		}
	}
}

// checkIdentity checks a bot's own fields: name, ids and credentials.
func checkIdentity(b *Bot, at pathFunc, add addFunc) {
	if b.BotID == "" {
		add(at("bot_id"), "is required")
	} else if strings.ContainsAny(b.BotID, "/?#") || strings.IndexFunc(b.BotID, unicode.IsSpace) >= 0 {
		add(at("bot_id"), "%q must not contain '/', '?', '#' or whitespace", b.BotID)
	}
	if b.ClientID == "" {
		add(at("client_id"), "is required")
	} else if strings.IndexFunc(b.ClientID, unicode.IsSpace) >= 0 {
		add(at("client_id"), "must not contain whitespace")
	}
	if b.Name != "" && strings.TrimSpace(b.Name) != b.Name {
		add(at("name"), "%q must not start or end with whitespace", b.Name)
	}
	switch {
	case b.ClientSecret == "" && b.PrivateKey == "":
		add(at("client_secret"), "no credentials: set one of client_secret, client_secret_file or private_key_file")
	case b.ClientSecret != "" && b.PrivateKey != "":
		add(at("client_secret"), "set exactly one of client_secret, client_secret_file or private_key_file")
	case b.PrivateKey != "":
		if _, err := kore.ParsePrivateKey([]byte(b.PrivateKey)); err != nil {
			add(at("private_key_file"), "%v", err)
		}
	}
}

// checkUnique reports duplicate bot names and bot ids.
func checkUnique(bots []Bot, at func(i int, field string) string, add addFunc) {
	names := map[string]int{}
	ids := map[string][]int{}
	for i, b := range bots {
		if b.Name != "" {
			if j, dup := names[b.Name]; dup {
				add(at(i, "name"), "duplicate bot name %q (bots[%d] has it too); names are the bot label and must be unique", b.Name, j)
			} else {
				names[b.Name] = i
			}
		}
		if b.BotID == "" {
			continue
		}
		// Variants of one bot share its bot_id with different filters;
		// the same filters twice would fetch the same numbers twice.
		for _, j := range ids[b.BotID] {
			if sameFilters(b.Filters, bots[j].Filters) {
				add(at(i, "bot_id"), "duplicate bot_id %q with the same filters as bots[%d]: it would fetch the same numbers twice; variants of one bot need different filters", b.BotID, j)
				break
			}
		}
		ids[b.BotID] = append(ids[b.BotID], i)
	}
	// Sessions are counted for the whole bot, whatever a variant's
	// filters: one variant of a bot_id counts them.
	counted := map[string]int{}
	for i, b := range bots {
		if !b.Sessions.Enabled || b.BotID == "" {
			continue
		}
		if j, dup := counted[b.BotID]; dup {
			add(at(i, "sessions.enabled"), "bots[%d] (%s) already counts the sessions of bot_id %q: sessions are the whole bot's, whatever the filters; enable them on one variant only", j, bots[j].Name, b.BotID)
			continue
		}
		counted[b.BotID] = i
	}
}

// sameFilters reports whether two bots' filters ask for the same numbers:
// equal, whatever the order of task names, tags and tag values.
func sameFilters(a, b Filters) bool {
	norm := func(f Filters) Filters {
		f.IncludeTaskNames = slices.Sorted(slices.Values(f.IncludeTaskNames))
		tags := make([]Tag, len(f.Tags))
		for i, t := range f.Tags {
			tags[i] = Tag{Name: t.Name, Type: t.Type, Values: slices.Sorted(slices.Values(t.Values))}
		}
		slices.SortFunc(tags, func(x, y Tag) int { return strings.Compare(x.Name+"\x00"+x.Type, y.Name+"\x00"+y.Type) })
		f.Tags = tags
		return f
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func checkLimits(l Limits, add addFunc) {
	if l.MaxConcurrentJobs < 1 {
		add("limits.max_concurrent_jobs", "%d must be at least 1", l.MaxConcurrentJobs)
	}
	if l.RequestsPerMinutePerBot < 1 || l.RequestsPerMinutePerBot > kore.MaxRequestsPerMinute {
		add("limits.requests_per_minute_per_bot", "%d is outside 1..%d (Kore.ai allows %d/min and %d/h per bot)",
			l.RequestsPerMinutePerBot, kore.MaxRequestsPerMinute, kore.MaxRequestsPerMinute, kore.MaxRequestsPerHour)
	}
}

func oneOf(v string, allowed []string) bool { return slices.Contains(allowed, v) }
