package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

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
	// SkipSecrets checks the secret sources only for their form, for a
	// configuration checked away from where it runs (kore_exporter
	// --config.check.skip-secrets): each bot has exactly one of
	// client_secret, client_secret_file and private_key_file, a file name
	// is set, a ${NAME} is well-formed. Neither ReadFile nor LookupEnv is
	// called. The Config returned holds no secrets (the file paths are
	// resolved): it is for checking and planning, not for running.
	SkipSecrets bool
}

// Load reads the config file at path and parses it with Parse. Relative
// client_secret_file and private_key_file paths resolve against the
// directory of path.
//
// The file must be a regular file of at most MaxConfigFileSize bytes.
func Load(path string) (*Config, error) {
	return LoadWith(path, ParseOptions{})
}

// LoadWith is Load with options (see ParseWith); an empty opts.BaseDir
// means the directory of path.
func LoadWith(path string, opts ParseOptions) (*Config, error) {
	data, err := readRegularFile(path, MaxConfigFileSize)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	if opts.BaseDir == "" {
		opts.BaseDir = filepath.Dir(path)
	}
	cfg, err := ParseWith(data, opts)
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
	// A secret typed again in another field (a name, a host, a filter)
	// would show in that field's problem: every problem is masked with
	// the secrets met.
	red := r.redactor()
	if errs := append(shape.errs, shape.unrelated(r.errs)...); len(errs) > 0 {
		return nil, redactErrors(red, errs)
	}
	// Backstop: the resolved config must hold every invariant.
	if err := backstop(cfg, opts.SkipSecrets); err != nil {
		return nil, redactErrors(red, Problems(err))
	}
	return cfg, nil
}

// redactErrors joins errs with the secrets of red masked in each, keeping
// each *FieldError one.
func redactErrors(red *Redactor, errs []error) error {
	out := make([]error, 0, len(errs))
	for _, err := range errs {
		var fe *FieldError
		if errors.As(err, &fe) {
			out = append(out, &FieldError{Path: red.Replace(fe.Path), Msg: red.Replace(fe.Msg)})
		} else {
			out = append(out, &FieldError{Msg: red.Replace(err.Error())})
		}
	}
	return errors.Join(out...)
}

// backstop validates the resolved cfg. With skipSecrets its bots hold no
// secrets (none was read): a copy with a stand-in secret is validated.
func backstop(cfg *Config, skipSecrets bool) error {
	if !skipSecrets {
		return cfg.Validate()
	}
	c := *cfg
	c.Bots = slices.Clone(cfg.Bots)
	for i := range c.Bots {
		// Not a text a name or label could hold by chance: no label
		// value is refused as equal to it.
		c.Bots[i].ClientSecret, c.Bots[i].PrivateKey = "\x00unchecked\x00", ""
	}
	return c.Validate()
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
	Host              *string            `yaml:"host"`
	AllowInsecureHTTP *bool              `yaml:"allow_insecure_http"`
	Interval          *string            `yaml:"interval"`
	Windows           *[]string          `yaml:"windows"`
	Delay             *string            `yaml:"delay"`
	Timeout           *string            `yaml:"timeout"`
	PageSize          *int               `yaml:"page_size"`
	MaxTaskRows       *int               `yaml:"max_task_rows"`
	MaxReportRows     *int               `yaml:"max_report_rows"`
	StaleAfter        *string            `yaml:"stale_after"`
	Filters           *rawFilters        `yaml:"filters"`
	Labels            *map[string]string `yaml:"labels"`
	Sessions          *rawSessions       `yaml:"sessions"`
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

type rawSessions struct {
	Enabled     *bool `yaml:"enabled"`
	PeakPerHour *int  `yaml:"peak_per_hour"`
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
	case reflect.Struct, reflect.Map:
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
				sc.add(path, "unknown field %q (line %d)%s", k.Value, k.Line, knownFieldsHint(k.Value, fields))
				continue
			}
			sc.check(v, ft, join(path, k.Value), depth+1)
			kept = append(kept, k, v)
		}
	case reflect.Map: // of string keys (labels)
		if n.Kind != yaml.MappingNode {
			bad("a mapping")
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			sc.check(k, reflect.TypeFor[string](), path, depth+1)
			vp := join(path, k.Value)
			if vn := v; vn.Kind == yaml.AliasNode && vn.Alias != nil {
				v = vn.Alias
			}
			if isNull(v) {
				// It would decode as "", silently dropping the label.
				sc.add(vp, `null is not a label value; write "" to drop a label inherited from defaults, or a string`)
				*sc.wrongKind = append(*sc.wrongKind, vp)
				continue
			}
			sc.check(v, t.Elem(), vp, depth+1)
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

// knownFieldsHint lists the known fields of a mapping after an unknown
// key, preceded by the one key it is most likely a misspelling of (see
// nearest): "; did you mean "windows"? known fields: ...".
func knownFieldsHint(key string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	known := "known fields: " + strings.Join(names, ", ")
	if best := nearest(key, names); best != "" {
		return fmt.Sprintf("; did you mean %q? %s", best, known)
	}
	return "; " + known
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
