package collector

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"
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
	// MaxTaskRows caps the rows (task name × task type × status) exported
	// for one window of the bot; beyond it the smallest tasks are folded
	// into one row with a reserved task name, so the bot's totals stay
	// exact. MinTaskRows..MaxRows, default DefaultMaxTaskRows.
	MaxTaskRows int
	// MaxReportRows is the most raw rows one report run may fetch, over
	// all its pages; a report whose total says more fails at once.
	// PageSize..MaxRows, default DefaultMaxReportRows.
	MaxReportRows int
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

// Defaults and bounds of the configuration. The API bounds come from
// kore-api.md (§3 range maximum, §6 rate limits).
const (
	// DefaultHost is the Kore.ai API host used when none is configured.
	DefaultHost = "https://platform.kore.ai"
	// DefaultInterval is how often each window's report job is submitted.
	DefaultInterval = 5 * time.Minute
	// DefaultTimeout is a job's whole deadline.
	DefaultTimeout = 10 * time.Minute
	// DefaultPageSize is the default limit of each page.
	DefaultPageSize = 100
	// DefaultMaxTaskRows is the default max_task_rows: the rows exported
	// per bot and window before the smallest tasks are folded into one.
	DefaultMaxTaskRows = 1000
	// DefaultMaxReportRows is the default max_report_rows: the raw rows
	// one report run may fetch.
	DefaultMaxReportRows = 10000
	// DefaultStaleAfterIntervals is the default stale_after in intervals.
	DefaultStaleAfterIntervals = 3
	// DefaultMaxConcurrentJobs is the default limits.max_concurrent_jobs.
	DefaultMaxConcurrentJobs = 4
	// DefaultRequestsPerMinutePerBot is the default
	// limits.requests_per_minute_per_bot: Kore.ai's hourly cap (1,800/h)
	// spread evenly.
	DefaultRequestsPerMinutePerBot = 30

	// MinInterval is the shortest allowed interval.
	MinInterval = time.Minute
	// MaxWindow is the longest window the API accepts (90 days).
	MaxWindow = 90 * 24 * time.Hour
	// MaxPageSize is the largest allowed page_size.
	MaxPageSize = 10000
	// MinTaskRows is the smallest allowed max_task_rows: room for the up to
	// three folded rows (one per status: success, failtask, any other)
	// beside the tasks kept.
	MinTaskRows = 10
	// MaxRows is the largest allowed max_task_rows and max_report_rows.
	MaxRows = 1000000
	// KoreRequestsPerMinute is Kore.ai's per-minute limit per bot.
	KoreRequestsPerMinute = 60
	// KoreRequestsPerHour is Kore.ai's hourly limit per bot.
	KoreRequestsPerHour = 1800
)

// defaultWindow is the window used when none is configured.
var defaultWindow = Window{Name: "24h", Duration: 24 * time.Hour}

// Allowed filter values (kore-api.md §3, §7), case-sensitive.
var (
	conversationTypes    = []string{"Interactive", "Non-Interactive"}
	conversationStatuses = []string{"Active", "Closed"}
	tagTypes             = []string{"user", "session", "message"}
)

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

// ParseOptions are the environment of ParseWith. The zero value uses the
// process's working directory, environment and file system.
type ParseOptions struct {
	// BaseDir is the directory relative client_secret_file and
	// private_key_file paths resolve against; empty means the working
	// directory.
	BaseDir string
	// LookupEnv resolves ${NAME} in client_secret; nil means os.LookupEnv.
	LookupEnv func(name string) (string, bool)
	// ReadFile reads secret and key files; nil means ReadSecretFile.
	// Whatever it returns is refused above MaxSecretFileSize bytes.
	ReadFile func(path string) ([]byte, error)
}

// Bounds of the files the configuration reads. A FIFO, a device or a
// directory is never read, so /dev/zero cannot exhaust memory and a FIFO
// cannot block a reload.
const (
	// MaxConfigFileSize is the largest configuration file Load reads.
	MaxConfigFileSize = 4 << 20
	// MaxSecretFileSize is the largest client_secret_file or
	// private_key_file read.
	MaxSecretFileSize = 64 << 10
)

// ErrNotRegularFile is returned for a file that is a directory, a FIFO,
// a device or a socket.
var ErrNotRegularFile = errors.New("not a regular file")

// ErrFileTooLarge is returned for a file above its size limit.
var ErrFileTooLarge = errors.New("file too large")

// ReadSecretFile reads a secret or key file: a regular file of at most
// MaxSecretFileSize bytes.
func ReadSecretFile(path string) ([]byte, error) {
	return readRegularFile(path, MaxSecretFileSize)
}

// readRegularFile reads the regular file at path through a limit of max
// bytes. It checks the file's type before opening it and again on the
// open file, and opens it non-blocking, so a FIFO never blocks it; it
// never reads more than max+1 bytes.
func readRegularFile(path string, max int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := checkRegular(path, fi, max); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The name may have been replaced between Stat and OpenFile.
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := checkRegular(path, fi, max); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: more than %d bytes", ErrFileTooLarge, max)}
	}
	return data, nil
}

func checkRegular(path string, fi fs.FileInfo, max int64) error {
	if !fi.Mode().IsRegular() {
		return &fs.PathError{Op: "open", Path: path, Err: &notRegularError{kind: fileKind(fi.Mode())}}
	}
	if fi.Size() > max {
		return &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: %d bytes, more than %d", ErrFileTooLarge, fi.Size(), max)}
	}
	return nil
}

// notRegularError says what a file that is not regular is; it matches
// ErrNotRegularFile.
type notRegularError struct{ kind string }

func (e *notRegularError) Error() string        { return "not a regular file: " + e.kind }
func (e *notRegularError) Is(target error) bool { return target == ErrNotRegularFile }

// fileKind names what a non-regular file is.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a plain file"
}

// Load reads the config file at path and parses it with Parse. Relative
// client_secret_file and private_key_file paths resolve against the
// directory of path.
//
// The file must be a regular file of at most MaxConfigFileSize bytes.
func Load(path string) (*Config, error) {
	data, err := readRegularFile(path, MaxConfigFileSize)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	cfg, err := ParseWith(data, ParseOptions{BaseDir: filepath.Dir(path)})
	if err != nil {
		return nil, &LoadError{Path: path, Err: err}
	}
	return cfg, nil
}

// LoadError is Load's error for a file that is not a valid configuration.
// Err joins every problem (see Problems).
type LoadError struct {
	// Path is the configuration file.
	Path string
	// Err is ParseWith's error.
	Err error
}

// Error returns "load config <path>:" and the problems, one per line.
func (e *LoadError) Error() string { return "load config " + e.Path + ":\n" + e.Err.Error() }

// Unwrap returns the problems.
func (e *LoadError) Unwrap() error { return e.Err }

// Problems splits an error of Load, ParseWith or Validate into its
// problems (the *FieldError values it joins), so that each can be shown
// on its own line or logged as its own record. Any other error is one
// problem.
func Problems(err error) []error {
	if err == nil {
		return nil
	}
	var le *LoadError
	if errors.As(err, &le) && le.Err != nil {
		err = le.Err
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, Problems(e)...)
	}
	return out
}

// Parse parses and validates a YAML config with the process's environment
// and file system, relative file paths resolving against the working
// directory. See ParseWith.
func Parse(data []byte) (*Config, error) {
	return ParseWith(data, ParseOptions{})
}

// ParseWith decodes data strictly (unknown keys are errors), applies the
// defaults and validates the result. On failure the error joins every
// problem found (errors.Join of *FieldError), each naming its path.
func ParseWith(data []byte, opts ParseOptions) (*Config, error) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	if opts.ReadFile == nil {
		opts.ReadFile = ReadSecretFile
	}
	raw, shape, err := decode(data)
	if err != nil {
		return nil, err
	}
	// Fields of the wrong kind decode as absent; the resolver treats them
	// as invalid, so that each is one problem, reported with the others.
	r := resolver{opts: opts, seen: map[string]bool{}, invalid: map[string]bool{}}
	for _, p := range shape.wrongKind {
		r.invalid[p] = true
	}
	cfg := r.resolve(raw)
	if errs := append(shape.errs, shape.unrelated(r.errs)...); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Backstop: the resolved config must hold every invariant.
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// The file as written. Pointers tell "absent" (inherit, default) from
// "set to the zero value" (validated). Durations and windows are kept as
// text and parsed during resolution, so their errors name their paths.
type rawFile struct {
	Defaults *rawSettings `yaml:"defaults"`
	Bots     []rawBot     `yaml:"bots"`
	Limits   *rawLimits   `yaml:"limits"`
}

type rawSettings struct {
	Host              *string     `yaml:"host"`
	AllowInsecureHTTP *bool       `yaml:"allow_insecure_http"`
	Interval          *string     `yaml:"interval"`
	Windows           *[]string   `yaml:"windows"`
	Delay             *string     `yaml:"delay"`
	Timeout           *string     `yaml:"timeout"`
	PageSize          *int        `yaml:"page_size"`
	MaxTaskRows       *int        `yaml:"max_task_rows"`
	MaxReportRows     *int        `yaml:"max_report_rows"`
	StaleAfter        *string     `yaml:"stale_after"`
	Filters           *rawFilters `yaml:"filters"`
}

type rawBot struct {
	Name             string  `yaml:"name"`
	BotID            string  `yaml:"bot_id"`
	ClientID         string  `yaml:"client_id"`
	ClientSecret     *string `yaml:"client_secret"`
	ClientSecretFile *string `yaml:"client_secret_file"`
	PrivateKeyFile   *string `yaml:"private_key_file"`
	rawSettings      `yaml:",inline"`
}

type rawFilters struct {
	ConversationType   *string   `yaml:"conversation_type"`
	ConversationStatus *string   `yaml:"conversation_status"`
	IncludeTaskNames   *[]string `yaml:"include_task_names"`
	Tags               *[]rawTag `yaml:"tags"`
}

type rawTag struct {
	Name   string   `yaml:"name"`
	Values []string `yaml:"values"`
	Type   string   `yaml:"type"`
}

type rawLimits struct {
	MaxConcurrentJobs       *int `yaml:"max_concurrent_jobs"`
	RequestsPerMinutePerBot *int `yaml:"requests_per_minute_per_bot"`
}

// shapeProblems are the problems shapeChecker found in a document that
// still decodes: unknown keys and values of the wrong kind.
type shapeProblems struct {
	errs []error
	// wrongKind are the paths of values of the wrong kind; they decode
	// as absent.
	wrongKind []string
}

// unrelated returns the errors of errs that are not at or under a path of
// the wrong kind: those are consequences (a list that is not a list has no
// valid elements, a bot that is not a mapping has no bot_id).
func (sp shapeProblems) unrelated(errs []error) []error {
	var out []error
	for _, err := range errs {
		var fe *FieldError
		keep := true
		if errors.As(err, &fe) {
			for _, p := range sp.wrongKind {
				if p == "" || fe.Path == p || strings.HasPrefix(fe.Path, p+".") || strings.HasPrefix(fe.Path, p+"[") {
					keep = false
					break
				}
			}
		}
		if keep {
			out = append(out, err)
		}
	}
	return out
}

// decode checks the document's shape (one document, a mapping, known keys,
// the right kinds), then decodes it strictly into rawFile. A document that
// is not YAML or not one document is an error. Unknown keys and values of
// the wrong kind are returned as shapeProblems with the rest of the file
// decoded (those keys left out, those values absent), so that the problems
// of the rest are found as well.
func decode(data []byte) (*rawFile, shapeProblems, error) {
	var none shapeProblems
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, none, &FieldError{Msg: "config is empty: at least one bot is required under bots"}
		}
		return nil, none, &FieldError{Msg: "invalid YAML: " + yamlMessage(err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, none, &FieldError{Msg: fmt.Sprintf("multiple YAML documents (the second starts at line %d); a config file holds one", extra.Line)}
	} else if !errors.Is(err, io.EOF) {
		return nil, none, &FieldError{Msg: "invalid YAML: " + yamlMessage(err)}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, none, &FieldError{Msg: "config is empty: at least one bot is required under bots"}
		}
		root = root.Content[0]
	}
	if isNull(root) {
		return nil, none, &FieldError{Msg: "config is empty: at least one bot is required under bots"}
	}
	var shape shapeProblems
	sc := shapeChecker{errs: &shape.errs, wrongKind: &shape.wrongKind, seen: map[aliasKey]bool{}}
	sc.check(root, reflect.TypeFor[rawFile](), "", 0)
	if len(shape.errs) > 0 {
		// shapeChecker has removed the unknown keys and turned the values
		// of the wrong kind into zero values of the right kind (so list
		// elements keep their indexes): the rest decodes, strictly, as
		// written.
		patched, err := yaml.Marshal(&doc)
		if err != nil {
			return nil, none, errors.Join(shape.errs...)
		}
		data = patched
	}
	var raw rawFile
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(&raw); err != nil {
		if len(shape.errs) > 0 {
			return nil, none, errors.Join(shape.errs...)
		}
		// shapeChecker should have caught this; never echo values.
		return nil, none, &FieldError{Msg: "invalid config: " + yamlMessage(err)}
	}
	return &raw, shape, nil
}

// zero turns n into the zero value of kind t (an empty mapping or list,
// "", 0, false), keeping its anchor. Not null: yaml.v3 drops the list
// elements that decode from null, which would shift the indexes of the
// others.
func zero(n *yaml.Node, t reflect.Type) {
	n.Content, n.Style = nil, 0
	switch t.Kind() {
	case reflect.Struct:
		n.Kind, n.Tag, n.Value = yaml.MappingNode, "!!map", ""
	case reflect.Slice:
		n.Kind, n.Tag, n.Value = yaml.SequenceNode, "!!seq", ""
	case reflect.Int:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!int", "0"
	case reflect.Bool:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!bool", "false"
	default:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!str", ""
	}
}

var yamlTypeName = regexp.MustCompile(`(into|in type) [A-Za-z0-9_.*\[\]]+`)

// yamlMessage strips the "yaml: " prefix and Go type names from a yaml.v3
// error. yaml.v3 quotes scalar values in type errors, so only syntax
// errors (which quote none) reach users verbatim; type errors are
// reported by shapeChecker.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		// Keep only the line numbers, never the values.
		var lines []string
		for _, e := range te.Errors {
			if i := strings.Index(e, ":"); i > 0 {
				lines = append(lines, e[:i])
			}
		}
		return "unexpected value at " + strings.Join(lines, ", ")
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	return yamlTypeName.ReplaceAllString(msg, "$1 the config")
}

// maxShapeDepth bounds shapeChecker's recursion.
const maxShapeDepth = 32

// shapeChecker walks a YAML node against the raw Go type it decodes into
// and reports unknown keys and kind mismatches with their paths and lines.
// It never quotes scalar values, which might be secrets. An alias is
// checked once per target type (its problems are reported at its first
// use), so alias bombs cost linear time.
type shapeChecker struct {
	errs      *[]error
	wrongKind *[]string
	seen      map[aliasKey]bool
}

type aliasKey struct {
	n *yaml.Node
	t reflect.Type
}

func (sc *shapeChecker) add(path, format string, args ...any) {
	*sc.errs = append(*sc.errs, &FieldError{Path: orRoot(path), Msg: fmt.Sprintf(format, args...)})
}

func (sc *shapeChecker) check(n *yaml.Node, t reflect.Type, path string, depth int) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if depth > maxShapeDepth {
		sc.add(path, "nested too deeply")
		*sc.wrongKind = append(*sc.wrongKind, path)
		zero(n, t)
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		k := aliasKey{n.Alias, t}
		if sc.seen[k] {
			return
		}
		sc.seen[k] = true
		n = n.Alias
	}
	if isNull(n) {
		return // absent: defaults apply, required fields are checked later
	}
	bad := func(want string) {
		sc.add(path, "expected %s, got %s (line %d)", want, describe(n), n.Line)
		*sc.wrongKind = append(*sc.wrongKind, path)
		zero(n, t)
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			bad("a mapping")
			return
		}
		fields := yamlFields(t)
		kept := n.Content[:0:0]
		defer func() { n.Content = kept }()
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
				// A mapping or a list of mappings, merged into this one.
				if v.Kind == yaml.SequenceNode {
					for _, e := range v.Content {
						sc.check(e, t, path, depth+1)
					}
				} else {
					sc.check(v, t, path, depth+1)
				}
				kept = append(kept, k, v)
				continue
			}
			if k.Kind != yaml.ScalarNode {
				sc.add(path, "expected a field name, got %s (line %d)", describe(k), k.Line)
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				sc.add(path, "unknown field %q (line %d)%s", k.Value, k.Line, knownFieldsHint(fields))
				continue
			}
			sc.check(v, ft, join(path, k.Value), depth+1)
			kept = append(kept, k, v)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			bad("a list")
			return
		}
		for i, e := range n.Content {
			sc.check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag == "!!binary" {
			bad("a string")
		}
	case reflect.Int:
		var v int
		if n.Kind != yaml.ScalarNode || n.Decode(&v) != nil {
			bad("an integer")
		}
	case reflect.Bool:
		var v bool
		if n.Kind != yaml.ScalarNode || n.Decode(&v) != nil {
			bad("true or false")
		}
	}
}

// yamlFields maps a struct's YAML keys to their types, through inline
// embedded structs.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for f := range t.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if opts == "inline" {
			for k, v := range yamlFields(f.Type) {
				m[k] = v
			}
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		m[name] = f.Type
	}
	return m
}

func knownFieldsHint(fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	return "; known fields: " + strings.Join(names, ", ")
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// describe names a node's kind without its value.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!binary":
			return "binary data"
		default:
			return "a string"
		}
	}
	return "an unexpected value"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

// setting is one resolved value and the path it was written at ("" for a
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
}

func builtinSettings() settings {
	return settings{
		host:       setting[string]{v: DefaultHost},
		interval:   setting[time.Duration]{v: DefaultInterval},
		windows:    setting[[]Window]{v: []Window{defaultWindow}},
		timeout:    setting[time.Duration]{v: DefaultTimeout},
		pageSize:   setting[int]{v: DefaultPageSize},
		taskRows:   setting[int]{v: DefaultMaxTaskRows},
		reportRows: setting[int]{v: DefaultMaxReportRows},
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
}

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
	}
	checkUnique(cfg.Bots, func(i int, field string) string { return fmt.Sprintf("bots[%d].%s", i, field) }, r.add)
	cfg.Limits = Limits{MaxConcurrentJobs: DefaultMaxConcurrentJobs, RequestsPerMinutePerBot: DefaultRequestsPerMinutePerBot}
	if raw.Limits != nil {
		if raw.Limits.MaxConcurrentJobs != nil {
			cfg.Limits.MaxConcurrentJobs = *raw.Limits.MaxConcurrentJobs
		}
		if raw.Limits.RequestsPerMinutePerBot != nil {
			cfg.Limits.RequestsPerMinutePerBot = *raw.Limits.RequestsPerMinutePerBot
		}
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
		return r.invalid[prefix+"."+f] || (strings.HasPrefix(f, "filters.") && r.invalid[prefix+".filters"])
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
	if bad("stale_after") {
		s.staleAfter = &setting[time.Duration]{path: prefix + ".stale_after"}
	}
}

// duration parses a duration written at path (units ms, s, m, h, d, w, y).
func (r *resolver) duration(text, path string) time.Duration {
	d, err := parseDuration(strings.TrimSpace(text))
	if err != nil {
		r.add(path, "%q is not a valid duration (a number and a unit: s, m, h, d or w, e.g. 30s, 5m, 7d)", text)
		r.markInvalid(path)
		return 0
	}
	return d
}

var windowSyntax = regexp.MustCompile(`^([0-9]+[smhdw])+$`)

// windows parses a window list written at path. Range and duplicate
// checks are in checkSettings.
func (r *resolver) windows(texts []string, path string) []Window {
	ws := make([]Window, 0, len(texts))
	for i, text := range texts {
		wp := fmt.Sprintf("%s[%d]", path, i)
		d, err := parseDuration(text)
		if err != nil || !windowSyntax.MatchString(text) {
			r.add(wp, "%q is not a valid window (a number and a unit: s, m, h, d or w, e.g. 1h, 24h, 7d)", text)
			r.markInvalid(wp)
			// A placeholder keeps the indexes of the rest aligned.
			ws = append(ws, Window{Name: text})
			continue
		}
		ws = append(ws, Window{Name: text, Duration: d})
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
	if s.staleAfter != nil {
		b.StaleAfter = s.staleAfter.v
	} else {
		b.StaleAfter = saturatingMul(DefaultStaleAfterIntervals, b.Interval)
	}
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
	if d > 0 && d > maxDuration/time.Duration(n) {
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
	switch {
	case rb.ClientSecret != nil:
		path := prefix + ".client_secret"
		v, msg := expandEnv(*rb.ClientSecret, r.opts.LookupEnv)
		switch {
		case msg != "":
			r.add(path, "%s", msg)
		case v == "" && *rb.ClientSecret == "":
			r.add(path, "is empty")
		case v == "":
			r.add(path, "expands to an empty value")
		default:
			b.ClientSecret = Secret(v)
		}
	case rb.ClientSecretFile != nil:
		path := prefix + ".client_secret_file"
		file, data, ok := r.readSecretFile(*rb.ClientSecretFile, path)
		if !ok {
			return
		}
		b.ClientSecretFile = file
		b.ClientSecret = Secret(strings.TrimSpace(string(data)))
	case rb.PrivateKeyFile != nil:
		path := prefix + ".private_key_file"
		file, data, ok := r.readSecretFile(*rb.PrivateKeyFile, path)
		if !ok {
			return
		}
		if msg := checkPrivateKey(data); msg != "" {
			r.add(path, "%s: %s", file, msg)
			return
		}
		b.PrivateKeyFile = file
		b.PrivateKey = Secret(data)
	}
}

// readSecretFile reads a secret or key file named at path, relative names
// resolving against the base directory.
func (r *resolver) readSecretFile(name, path string) (string, []byte, bool) {
	if strings.TrimSpace(name) == "" {
		r.add(path, "is empty; set a file name")
		return "", nil, false
	}
	file := name
	if !filepath.IsAbs(file) && r.opts.BaseDir != "" {
		file = filepath.Join(r.opts.BaseDir, file)
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

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

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

// checkPrivateKey says what is wrong with a PEM RSA private key, or "".
// Its messages never contain key material.
func checkPrivateKey(data []byte) string {
	block, _ := pem.Decode(data)
	if block == nil {
		return "no PEM block found; want an RSA private key (PKCS#1 or PKCS#8 PEM)"
	}
	if _, ok := block.Headers["Proc-Type"]; ok || block.Type == "ENCRYPTED PRIVATE KEY" {
		return "encrypted private keys are not supported"
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return "not a valid PKCS#1 RSA private key"
		}
		key = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return "not a valid PKCS#8 private key"
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return fmt.Sprintf("the key is %s; RS256 needs an RSA key", keyKind(k))
		}
		key = rk
	default:
		return fmt.Sprintf("PEM block is %q; want \"RSA PRIVATE KEY\" (PKCS#1) or \"PRIVATE KEY\" (PKCS#8)", block.Type)
	}
	if err := key.Validate(); err != nil {
		return "RSA private key fails validation"
	}
	return ""
}

func keyKind(k any) string {
	t := reflect.TypeOf(k).String() // e.g. *ecdsa.PrivateKey
	t = strings.TrimPrefix(t, "*")
	if pkg, _, ok := strings.Cut(t, "."); ok {
		return strings.ToUpper(pkg)
	}
	return t
}

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
		add(at("interval"), "%s is shorter than the minimum of 1m", fmtDur(b.Interval))
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
		case w.Duration > MaxWindow:
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
		add(at("stale_after", "interval"), "%s is shorter than the interval %s", fmtDur(b.StaleAfter), fmtDur(b.Interval))
	}
	checkFilters(&b.Filters, at, add)
}

func checkHost(b *Bot, at pathFunc, add addFunc) {
	path := at("host")
	u, err := url.Parse(b.Host)
	switch {
	case b.Host == "":
		add(path, "is empty; want an absolute URL like %s", DefaultHost)
	case err != nil:
		add(path, "is not a valid URL; want an absolute URL like %s", DefaultHost)
	case u.User != nil:
		add(path, "must not contain a user name or password")
	case u.Scheme == "" || u.Host == "" || u.Opaque != "":
		add(path, "%q is not an absolute URL; want one like %s", b.Host, DefaultHost)
	case u.Scheme != "https" && u.Scheme != "http":
		add(path, "%q: scheme must be https (or http with allow_insecure_http: true)", b.Host)
	case u.Path != "" && u.Path != "/":
		add(path, "%q must not have a path; the exporter adds /api/public/…", b.Host)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		add(path, "%q must not have a query or fragment", b.Host)
	case u.Scheme == "http" && !b.AllowInsecureHTTP:
		add(at("host", "allow_insecure_http"), "%q uses plain http; use https, or set allow_insecure_http: true", b.Host)
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
		if msg := checkPrivateKey([]byte(b.PrivateKey)); msg != "" {
			add(at("private_key_file"), "%s", msg)
		}
	}
}

// checkUnique reports duplicate bot names and bot ids.
func checkUnique(bots []Bot, at func(i int, field string) string, add addFunc) {
	names := map[string]int{}
	ids := map[string]int{}
	for i, b := range bots {
		if b.Name != "" {
			if j, dup := names[b.Name]; dup {
				add(at(i, "name"), "duplicate bot name %q (bots[%d] has it too); names are the bot label and must be unique", b.Name, j)
			} else {
				names[b.Name] = i
			}
		}
		if b.BotID != "" {
			if j, dup := ids[b.BotID]; dup {
				add(at(i, "bot_id"), "duplicate bot_id %q (bots[%d] has it too)", b.BotID, j)
			} else {
				ids[b.BotID] = i
			}
		}
	}
}

func checkLimits(l Limits, add addFunc) {
	if l.MaxConcurrentJobs < 1 {
		add("limits.max_concurrent_jobs", "%d must be at least 1", l.MaxConcurrentJobs)
	}
	if l.RequestsPerMinutePerBot < 1 || l.RequestsPerMinutePerBot > KoreRequestsPerMinute {
		add("limits.requests_per_minute_per_bot", "%d is outside 1..%d (Kore.ai allows %d/min and %d/h per bot)",
			l.RequestsPerMinutePerBot, KoreRequestsPerMinute, KoreRequestsPerMinute, KoreRequestsPerHour)
	}
}

func oneOf(v string, allowed []string) bool { return slices.Contains(allowed, v) }

// durationUnits are the units of config durations, biggest first, as in
// Prometheus (prometheus/common/model.ParseDuration): a day is 24h, a week
// 7d, a year 365d.
var durationUnits = []struct {
	name string
	d    time.Duration
}{
	{"y", 365 * 24 * time.Hour},
	{"w", 7 * 24 * time.Hour},
	{"d", 24 * time.Hour},
	{"h", time.Hour},
	{"m", time.Minute},
	{"s", time.Second},
	{"ms", time.Millisecond},
}

// parseDuration parses a Prometheus-style duration: "0", or numbers with
// units (ms, s, m, h, d, w, y) from the biggest unit to the smallest, each
// at most once ("1h30m", "7d"). Negative values are not durations.
func parseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	if s == "" {
		return 0, errors.New("empty duration")
	}
	var total time.Duration
	last := -1
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i > 18 {
			return 0, errors.New("invalid duration")
		}
		var n int64
		for _, c := range s[:i] {
			n = n*10 + int64(c-'0')
		}
		s = s[i:]
		j := 0
		for j < len(s) && (s[j] < '0' || s[j] > '9') {
			j++
		}
		unit := s[:j]
		s = s[j:]
		pos := -1
		for k, u := range durationUnits {
			if u.name == unit {
				pos = k
				break
			}
		}
		if pos <= last {
			return 0, errors.New("invalid duration")
		}
		last = pos
		u := durationUnits[pos].d
		if n > int64(maxDuration/u) || total > maxDuration-time.Duration(n)*u {
			return 0, errors.New("duration out of range")
		}
		total += time.Duration(n) * u
	}
	return total, nil
}

const maxDuration = time.Duration(1<<63 - 1)

// fmtDur formats a duration the way the config writes it (5m, 1d, 1h30m);
// years and weeks only when exact.
func fmtDur(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	sign := ""
	if d < 0 {
		if d == -d { // math.MinInt64
			return d.String()
		}
		sign, d = "-", -d
	}
	var b strings.Builder
	for _, u := range durationUnits {
		if (u.name == "y" || u.name == "w") && d%u.d != 0 {
			continue
		}
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	if b.Len() == 0 {
		return sign + d.String() // below a millisecond
	}
	return sign + b.String()
}

// The request model of Plan, in one place. Per window run the exporter
// fetches Pages pages; each page is its own report job (kore-api.md §7):
// one POST to submit it and polls until it is done, the last poll
// returning the page's rows. Polls start 2 s apart and grow ×1.5 up to
// 30 s, so a job that takes about a minute costs about 7 polls
// (2+3+4.5+6.75+10.1+15.2+22.8 s ≈ 64 s). Pages run one after another.
const (
	// planPostsPerPage is the submit request of each page's job.
	planPostsPerPage = 1
	// planPollsPerPage is the polls of a job that takes about a minute.
	planPollsPerPage = 7
	// planRequestsPerPage is every request of one page.
	planRequestsPerPage = planPostsPerPage + planPollsPerPage
	// planJobDuration is how long one page's job is assumed to take.
	planJobDuration = time.Minute
	// planAssumedRows is the rows a report is assumed to return: about
	// 100 tasks with a success and a failtask row each. The real count
	// shows in the exporter's metrics once it runs.
	planAssumedRows = 200
	// planTaskMetrics is the data metrics (kore_task_*) each exported
	// task row becomes.
	planTaskMetrics = 5
)

// BotPlan is the estimated API use of one bot, for --config.check.
type BotPlan struct {
	// Name is the bot's name.
	Name string
	// Windows are the bot's windows, each one job per Interval.
	Windows []Window
	// Interval is how often each window's job runs.
	Interval time.Duration
	// PageSize is the configured page size.
	PageSize int
	// PagesPerRun is the estimated pages of one window's run
	// (planAssumedRows rows / PageSize, rounded up).
	PagesPerRun int
	// RequestsPerRun is the estimated requests of one window's run:
	// PagesPerRun × (1 POST + about 7 polls).
	RequestsPerRun int
	// RunDuration is the estimated length of one window's run.
	RunDuration time.Duration
	// EstimatedRequestsPerHour is runs per hour (1h / Interval) × windows
	// × RequestsPerRun, rounded up.
	EstimatedRequestsPerHour int
	// PeakRequestsPerMinute is the estimated requests in a minute when
	// every window runs at once (as they do at start): windows × the
	// requests of one page.
	PeakRequestsPerMinute int
	// MaxTaskRows is the bot's max_task_rows.
	MaxTaskRows int
	// MaxSeries is the most data series the bot can export: windows ×
	// MaxTaskRows × the 5 kore_task_* metrics.
	MaxSeries int
	// EffectiveInterval is, when the request budget keeps the bot from
	// running each window every Interval, about how often each window
	// runs instead (at least RunDuration); zero otherwise.
	EffectiveInterval time.Duration
	// Problems say why the plan cannot be met: the estimated requests
	// exceed the bot's hourly budget (Kore.ai's 1,800/h, which the
	// limiter holds, or limits.requests_per_minute_per_bot × 60), so the
	// limiter delays the calls and the windows run late. Each says how late.
	Problems []string
	// Warnings say where the estimate may slow or fail runs depending on
	// how long jobs really take: a run longer than the timeout or the
	// interval, every window starting at once.
	Warnings []string
}

// Plan estimates each bot's API use against Kore.ai's limits (60/min and
// 1,800/h per bot) and limits.requests_per_minute_per_bot. The estimates
// follow the model documented at planRequestsPerPage.
func (c *Config) Plan() []BotPlan {
	plans := make([]BotPlan, 0, len(c.Bots))
	for _, b := range c.Bots {
		p := BotPlan{Name: b.Name, Windows: b.Windows, Interval: b.Interval, PageSize: b.PageSize}
		if b.PageSize > 0 {
			p.PagesPerRun = (planAssumedRows + b.PageSize - 1) / b.PageSize
		}
		p.RequestsPerRun = p.PagesPerRun * planRequestsPerPage
		p.RunDuration = time.Duration(p.PagesPerRun) * planJobDuration
		if b.Interval > 0 {
			runsPerHour := float64(time.Hour) / float64(b.Interval)
			perHour := runsPerHour * float64(len(b.Windows)) * float64(p.RequestsPerRun)
			p.EstimatedRequestsPerHour = int(perHour)
			if float64(p.EstimatedRequestsPerHour) < perHour {
				p.EstimatedRequestsPerHour++
			}
		}
		p.PeakRequestsPerMinute = len(b.Windows) * planRequestsPerPage
		p.MaxTaskRows = b.MaxTaskRows
		p.MaxSeries = len(b.Windows) * b.MaxTaskRows * planTaskMetrics
		plans = append(plans, p)
	}
	budget := c.Limits.RequestsPerMinutePerBot
	perHour := min(budget*60, KoreRequestsPerHour)
	for i, b := range c.Bots {
		p := &plans[i]
		need := p.EstimatedRequestsPerHour
		if perHour > 0 && need > perHour {
			// The limiter lets perHour requests through per hour, so each
			// window runs about need/perHour times less often.
			late := time.Duration(float64(b.Interval) * float64(need) / float64(perHour)).Round(time.Minute)
			p.EffectiveInterval = max(late, p.RunDuration)
			p.Problems = append(p.Problems, fmt.Sprintf(
				"about %d requests/hour exceed the budget of %d/hour (%s): the limiter delays the calls, so each window's run starts only about every %s instead of every %s; the runs in between are skipped as overlapping, and a run whose wait passes timeout %s fails; raise interval or page_size, or drop windows",
				need, perHour, budgetSource(budget), fmtDur(p.EffectiveInterval), fmtDur(b.Interval), fmtDur(b.Timeout)))
		}
		if budget > 0 && p.PeakRequestsPerMinute > budget {
			p.Warnings = append(p.Warnings, fmt.Sprintf(
				"%d windows running at once need about %d requests/minute, above limits.requests_per_minute_per_bot %d: their jobs will be spread out",
				len(b.Windows), p.PeakRequestsPerMinute, budget))
		}
		// Job durations vary widely (the model assumes a minute a page),
		// so runs that may outlast the timeout or interval are warnings.
		if b.Timeout > 0 && p.RunDuration > b.Timeout {
			p.Warnings = append(p.Warnings, fmt.Sprintf(
				"a run of about %d pages takes about %s, longer than timeout %s: runs that slow fail; raise page_size or timeout",
				p.PagesPerRun, fmtDur(p.RunDuration), fmtDur(b.Timeout)))
		} else if b.Interval > 0 && p.RunDuration > b.Interval {
			p.Warnings = append(p.Warnings, fmt.Sprintf(
				"a run of about %d pages takes about %s, longer than interval %s: each window would run only about every %s, the runs in between skipped; raise interval or page_size",
				p.PagesPerRun, fmtDur(p.RunDuration), fmtDur(b.Interval), fmtDur(p.RunDuration)))
		}
	}
	return plans
}

// budgetSource says where a bot's hourly budget comes from.
func budgetSource(perMinute int) string {
	if perMinute*60 >= KoreRequestsPerHour {
		return "Kore.ai's cap, which the limiter holds"
	}
	return fmt.Sprintf("limits.requests_per_minute_per_bot %d", perMinute)
}

// String summarizes the plan on one line, without its warnings.
func (p BotPlan) String() string {
	return fmt.Sprintf("%s: windows %s every %s, page_size %d: ~%d pages and ~%d requests per run, ~%d requests/hour, peak ~%d/minute, at most %d series",
		p.Name, windowNames(p.Windows), fmtDur(p.Interval), p.PageSize,
		p.PagesPerRun, p.RequestsPerRun, p.EstimatedRequestsPerHour, p.PeakRequestsPerMinute, p.MaxSeries)
}

func windowNames(ws []Window) string {
	names := make([]string, len(ws))
	for i, w := range ws {
		names[i] = w.Name
	}
	return strings.Join(names, ",")
}

// WritePlan writes the plan of every bot as a table, then its problems
// and warnings, the exporter-wide concurrency estimate and the model's
// assumptions. When the plan cannot be met it returns an error wrapping
// ErrPlanCannotBeMet.
func (c *Config) WritePlan(w io.Writer) error {
	plans := c.Plan()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BOT\tWINDOWS\tINTERVAL\tPAGE_SIZE\tPAGES/RUN\tREQ/RUN\tREQ/HOUR\tPEAK REQ/MIN\tMAX SERIES")
	var jobMinutesPerHour float64
	maxSeries := 0
	for i, p := range plans {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", p.Name, windowNames(p.Windows), fmtDur(p.Interval),
			p.PageSize, p.PagesPerRun, p.RequestsPerRun, p.EstimatedRequestsPerHour, p.PeakRequestsPerMinute, p.MaxSeries)
		maxSeries += p.MaxSeries
		if b := c.Bots[i]; b.Interval > 0 {
			jobMinutesPerHour += float64(time.Hour) / float64(b.Interval) * float64(len(b.Windows)) * p.RunDuration.Minutes()
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var out strings.Builder
	problems := 0
	for _, p := range plans {
		for _, problem := range p.Problems {
			fmt.Fprintf(&out, "error: bot %s: %s\n", p.Name, problem)
			problems++
		}
		for _, warning := range p.Warnings {
			fmt.Fprintf(&out, "warning: bot %s: %s\n", p.Name, warning)
		}
	}
	busy := jobMinutesPerHour / 60
	fmt.Fprintf(&out, "jobs: about %.1f in flight on average; limits.max_concurrent_jobs %d\n", busy, c.Limits.MaxConcurrentJobs)
	if busy > float64(c.Limits.MaxConcurrentJobs) {
		fmt.Fprintf(&out, "warning: jobs need about %.1f slots on average, more than limits.max_concurrent_jobs %d: runs will queue and be skipped\n",
			busy, c.Limits.MaxConcurrentJobs)
	}
	fmt.Fprintf(&out, "limits: requests_per_minute_per_bot %d (Kore.ai allows %d/minute and %d/hour per bot)\n",
		c.Limits.RequestsPerMinutePerBot, KoreRequestsPerMinute, KoreRequestsPerHour)
	fmt.Fprintf(&out, "series: at most %d task series in all (per bot: windows × max_task_rows × %d metrics), plus one kore_bot_info per bot\n",
		maxSeries, planTaskMetrics)
	fmt.Fprintf(&out, "model: ~%d rows per report; each page is a job of about %s costing %d POST + ~%d polls; pages run one after another\n",
		planAssumedRows, fmtDur(planJobDuration), planPostsPerPage, planPollsPerPage)
	if _, err := io.WriteString(w, out.String()); err != nil {
		return err
	}
	if problems > 0 {
		return fmt.Errorf("%w: %d problem(s), on the lines starting with \"error:\"", ErrPlanCannotBeMet, problems)
	}
	return nil
}

// ErrPlanCannotBeMet is returned by WritePlan, after writing the plan,
// when the configuration is valid but cannot run as written: some bot's
// estimated requests exceed its hourly budget, so the limiter delays its
// calls and its windows run later than their interval (see
// BotPlan.Problems). The exporter still starts with such a configuration;
// --config.check exits 3.
var ErrPlanCannotBeMet = errors.New("the plan cannot be met")

// Shard returns the part of c that replica index of count runs: the bots
// whose FNV-1a hash of bot_id, modulo count, is index. The split depends only
// on the bot ids, so every replica given the same file agrees on it, and
// adding a bot moves no other bot. Limits are kept as they are.
func (c *Config) Shard(index, count int) (*Config, error) {
	if count < 1 {
		return nil, fmt.Errorf("shard: count %d must be at least 1", count)
	}
	if index < 0 || index >= count {
		return nil, fmt.Errorf("shard: index %d must be in [0, %d)", index, count)
	}
	out := &Config{Limits: c.Limits}
	for _, b := range c.Bots {
		if ShardOf(b.BotID, count) == index {
			out.Bots = append(out.Bots, b)
		}
	}
	return out, nil
}

// ShardOf returns the shard, in [0, count), that runs the bot with this id.
func ShardOf(botID string, count int) int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(botID)) // a hash.Hash never fails to write
	return int(h.Sum64() % uint64(count))
}
