package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-jsonnet"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/units"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// dashboardsDir holds the dashboards the project ships.
const dashboardsDir = "../dashboards"

// wantDashboards are the dashboards the README documents.
var wantDashboards = []string{
	"kore-containment-overview.json",
	"kore-exporter-health.json",
	"kore-oncall.json",
	"kore-task-drilldown.json",
}

// minSchemaVersion is the dashboard schema of Grafana 10.4/11 and later.
const minSchemaVersion = 39

// allowedUnits are the Grafana unit ids the dashboards may use, spelled by
// the SDK's constants so a typo in a dashboard (percentunits) fails here.
var allowedUnits = map[string]bool{
	units.PercentUnit: true, units.Short: true, units.Seconds: true,
	units.NoUnit: true, units.RequestsPerMinute: true, units.RequestsPerSecond: true,
	units.BytesIEC: true,
}

// dashboardFiles returns the shipped dashboards by file name.
func dashboardFiles(t *testing.T) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = raw
	}
	for _, want := range wantDashboards {
		if files[want] == nil {
			t.Errorf("dashboard %s missing from %s", want, dashboardsDir)
		}
	}
	return files
}

// TestDashboardsDecodeStrictly decodes every dashboard with the Grafana
// Foundation SDK in strict mode (unknown keys at dashboard, panel,
// variable and gridPos level are errors) and runs its Validate.
func TestDashboardsDecodeStrictly(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	for name, raw := range dashboardFiles(t) {
		t.Run(name, func(t *testing.T) {
			//lint:ignore SA1019 the shipped dashboards are Grafana's classic JSON (schemaVersion 39), the v1 schema
			var d dashboard.Dashboard
			if err := sdkError(d.UnmarshalJSONStrict(raw)); err != nil {
				t.Fatalf("strict decode: %v", err)
			}
			if err := sdkError(d.Validate()); err != nil {
				t.Fatalf("validate: %v", err)
			}
		})
	}
}

// sdkError returns err, or nil for the SDK's empty error list: v0.0.22's
// UnmarshalJSONStrict returns a nil cog.BuildErrors as a non-nil error.
func sdkError(err error) error {
	var list cog.BuildErrors
	if errors.As(err, &list) && len(list) == 0 {
		return nil
	}
	return err
}

// TestDashboards checks what the SDK does not, on every shipped dashboard:
// see checkDashboard.
func TestDashboards(t *testing.T) {
	files := dashboardFiles(t)
	ck := newDashboardChecker(t, files)
	uids := map[string]string{}
	for name, raw := range files {
		t.Run(name, func(t *testing.T) {
			uid, err := ck.check(raw)
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.TrimSuffix(name, ".json"); uid != want {
				t.Errorf("uid %q, want the file's name %q (stable links between dashboards)", uid, want)
			}
			if other, dup := uids[uid]; dup {
				t.Errorf("uid %q also used by %s", uid, other)
			}
			uids[uid] = name
		})
	}
}

// The parts of a dashboard the checks read; everything else stays raw.
type (
	dashJSON struct {
		UID           string      `json:"uid"`
		Title         string      `json:"title"`
		Description   string      `json:"description"`
		SchemaVersion int         `json:"schemaVersion"`
		Panels        []panelJSON `json:"panels"`
		Templating    struct {
			List []varJSON `json:"list"`
		} `json:"templating"`
	}
	panelJSON struct {
		ID          *int                  `json:"id"`
		Type        string                `json:"type"`
		Title       string                `json:"title"`
		Description string                `json:"description"`
		Datasource  *common.DataSourceRef `json:"datasource"`
		Targets     []json.RawMessage     `json:"targets"`
		Panels      []panelJSON           `json:"panels"` // a collapsed row's panels
		FieldConfig *struct {
			Defaults  json.RawMessage `json:"defaults"`
			Overrides []struct {
				Properties []overrideProperty `json:"properties"`
			} `json:"overrides"`
		} `json:"fieldConfig"`
	}
	// overrideProperty is one property a panel's field override sets.
	overrideProperty struct {
		ID    string          `json:"id"`
		Value json.RawMessage `json:"value"`
	}
	varJSON struct {
		Type       string                `json:"type"`
		Name       string                `json:"name"`
		Query      json.RawMessage       `json:"query"`
		Datasource *common.DataSourceRef `json:"datasource"`
		Multi      bool                  `json:"multi"`
		IncludeAll bool                  `json:"includeAll"`
		AllValue   string                `json:"allValue"`
		Current    struct {
			Value json.RawMessage `json:"value"`
		} `json:"current"`
	}
	// dataLinkJSON is a Grafana data link (fieldConfig links, not the
	// dashboard links the SDK's FieldConfig.Links type describes).
	dataLinkJSON struct {
		Title       string `json:"title"`
		URL         string `json:"url"`
		TargetBlank bool   `json:"targetBlank"`
	}
)

// wantVar is a template variable a dashboard must have: its label_values
// query, whether it is a multi-value variable with "All", and the regular
// expression "All" stands for.
type wantVar struct {
	query    string
	multi    bool
	allValue string
}

// wantVariables returns the template variables every dashboard must have,
// by dashboard uid. env are the environment labels (config.libsonnet's
// environmentLabels): each has a variable of its name, narrowed by the ones
// before it, whose "All" is .* (it also matches series without the label),
// and every other variable's query selects them.
func wantVariables(env []string) map[string]map[string]wantVar {
	var matchers []string
	envVars := map[string]wantVar{}
	for _, l := range env {
		sel := ""
		if len(matchers) > 0 {
			sel = "{" + strings.Join(matchers, ", ") + "}"
		}
		envVars[l] = wantVar{fmt.Sprintf("label_values(kore_bot_info%s, %s)", sel, l), true, ".*"}
		matchers = append(matchers, fmt.Sprintf(`%s=~"$%s"`, l, l))
	}
	sel := func(extra ...string) string {
		return "{" + strings.Join(append(slices.Clone(matchers), extra...), ", ") + "}"
	}
	with := func(vs map[string]wantVar) map[string]wantVar {
		out := maps.Clone(envVars)
		maps.Copy(out, vs)
		out["bot"] = wantVar{"label_values(kore_bot_info" + sel() + ", bot)", true, ".+"}
		return out
	}
	window := func(multi bool) wantVar {
		return wantVar{"label_values(kore_task_sessions" + sel(`bot=~"$bot"`) + ", window)", multi, ".+"}
	}
	task := func(multi bool) wantVar {
		return wantVar{"label_values(kore_task_sessions" + sel(`bot=~"$bot"`, `window=~"$window"`) + ", task_name)", multi, ".+"}
	}
	return map[string]map[string]wantVar{
		"kore-containment-overview": with(map[string]wantVar{"window": window(false), "task": task(true)}),
		"kore-task-drilldown":       with(map[string]wantVar{"window": window(true), "task": task(false)}),
		"kore-exporter-health":      with(map[string]wantVar{"window": window(true)}),
		"kore-oncall":               with(nil),
	}
}

var (
	labelValuesRE = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)
	// A matcher on a target label with a literal value: such a dashboard
	// works on one installation only.
	// A panel about a ratio says so in its title.
	ratioTitleRE      = regexp.MustCompile(`(?i)\bratio\b`)
	hardCodedTargetRE = regexp.MustCompile(`\b(instance|job)\s*(=|!=|=~|!~)\s*"([^"$]*)"`)
	// A data link into a dashboard of the project: /d/<uid>?<query>.
	dashboardLinkRE = regexp.MustCompile(`^/d/([a-z0-9-]+)\?(.*)$`)
	// A parameter of a data link's query that sets a variable.
	linkVarRE = regexp.MustCompile(`^var-(\w+)=`)
	// A Grafana variable that expands to a whole var-<name>=<value> pair.
	linkQueryParamRE = regexp.MustCompile(`^\$\{(\w+):queryparam\}$`)
)

// dashboardChecker holds what checkDashboard checks a dashboard against.
type dashboardChecker struct {
	known metricSet // the metrics a query may select, with their labels
	env   []string  // the environment labels, from the mixin's config
	// The shipped dashboards' variables by uid: where a data link may
	// point and which variables it may set.
	dashboards map[string]map[string]bool
}

// newDashboardChecker returns the checker of the shipped dashboards (files).
func newDashboardChecker(t *testing.T, files map[string][]byte) *dashboardChecker {
	t.Helper()
	env := mixinEnvironmentLabels(t)
	ck := &dashboardChecker{known: dashboardMetrics(t, env), env: env, dashboards: map[string]map[string]bool{}}
	for name, raw := range files {
		var d dashJSON
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		vars := map[string]bool{}
		for _, v := range d.Templating.List {
			vars[v.Name] = true
		}
		ck.dashboards[d.UID] = vars
	}
	return ck
}

// mixinEnvironmentLabels returns the environment labels the dashboards
// keep apart (config.libsonnet's environmentLabels, as the dashboards read
// them).
func mixinEnvironmentLabels(t *testing.T) []string {
	t.Helper()
	vm := jsonnet.MakeVM()
	vm.Importer(&jsonnet.FileImporter{JPaths: []string{mixinDir}})
	raw, err := vm.EvaluateAnonymousSnippet("env.jsonnet",
		`(import 'dashboards/common.libsonnet').envLabels((import 'mixin.libsonnet')._config)`)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	if err := json.Unmarshal([]byte(raw), &env); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(env, "job") {
		t.Fatalf("environment labels %v lack job", env)
	}
	return env
}

// dashboardMetrics is what a dashboard query may select: the exporter's
// metrics (exporterMetrics), which also carry the environment labels env
// (added by service discovery, relabelling or external labels), and the
// series the shipped recording rules record, with the labels their
// expressions keep.
func dashboardMetrics(t *testing.T, env []string) metricSet {
	t.Helper()
	known := metricSet{}
	for name, ls := range exporterMetrics(t) {
		if ls != nil {
			ls = maps.Clone(ls)
			for _, l := range env {
				ls[l] = true
			}
		}
		known[name] = ls
	}
	var rules []rulefmt.Rule
	for _, f := range ruleFiles(t, rulesDir) {
		rgs, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, promqlParser, slog.New(slog.DiscardHandler))
		if len(errs) > 0 {
			t.Fatalf("%s: %v", f, errors.Join(errs...))
		}
		for _, g := range rgs.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					rules = append(rules, r)
				}
			}
		}
	}
	// A rule may read series recorded by later rules: infer until nothing
	// changes.
	for changed := true; changed; {
		changed = false
		for _, r := range rules {
			if known[r.Record] != nil {
				continue
			}
			e, err := promqlParser.ParseExpr(r.Expr)
			if err != nil {
				t.Fatalf("rule %s: %v", r.Record, err)
			}
			if ls := outputLabels(e, known); ls != nil {
				known[r.Record], changed = ls, true
			}
		}
	}
	for _, r := range rules {
		if known[r.Record] == nil {
			t.Errorf("recording rule %s: cannot tell the labels of its series from %s", r.Record, r.Expr)
		}
	}
	return known
}

// outputLabels returns the names of the labels of the series e returns,
// from the labels of the series it selects (known); nil where it cannot
// tell, and an empty set for a scalar.
func outputLabels(e parser.Expr, known metricSet) map[string]bool {
	switch e := e.(type) {
	case *parser.NumberLiteral, *parser.StringLiteral:
		return map[string]bool{}
	case *parser.ParenExpr:
		return outputLabels(e.Expr, known)
	case *parser.StepInvariantExpr:
		return outputLabels(e.Expr, known)
	case *parser.UnaryExpr:
		return outputLabels(e.Expr, known)
	case *parser.MatrixSelector:
		return outputLabels(e.VectorSelector, known)
	case *parser.SubqueryExpr:
		return outputLabels(e.Expr, known)
	case *parser.VectorSelector:
		if ls := known[e.Name]; ls != nil {
			return maps.Clone(ls)
		}
		return nil
	case *parser.AggregateExpr:
		switch {
		case e.Op == parser.TOPK || e.Op == parser.BOTTOMK || e.Op == parser.LIMITK || e.Op == parser.LIMIT_RATIO:
			return outputLabels(e.Expr, known)
		case e.Without:
			return nil
		}
		ls := map[string]bool{}
		for _, l := range e.Grouping {
			ls[l] = true
		}
		return ls
	case *parser.Call:
		switch e.Func.Name {
		case "time", "vector", "scalar":
			return map[string]bool{}
		case "label_replace":
			ls := outputLabels(e.Args[0], known)
			if ls != nil {
				ls[e.Args[1].(*parser.StringLiteral).Val] = true
			}
			return ls
		case "histogram_quantile":
			ls := outputLabels(e.Args[1], known)
			delete(ls, "le")
			return ls
		}
		for _, a := range e.Args {
			if t := a.Type(); t == parser.ValueTypeVector || t == parser.ValueTypeMatrix {
				return outputLabels(a, known)
			}
		}
		return nil
	case *parser.BinaryExpr:
		lhs, rhs := outputLabels(e.LHS, known), outputLabels(e.RHS, known)
		switch {
		case e.LHS.Type() != parser.ValueTypeVector:
			return rhs
		case e.RHS.Type() != parser.ValueTypeVector:
			return lhs
		}
		m := e.VectorMatching
		switch {
		case e.Op == parser.LOR:
			if lhs == nil || rhs == nil {
				return nil
			}
			maps.Copy(lhs, rhs)
			return lhs
		case e.Op.IsSetOperator():
			return lhs
		case m != nil && m.Card == parser.CardManyToOne:
			if lhs != nil {
				for _, l := range m.Include {
					lhs[l] = true
				}
			}
			return lhs
		case m != nil && m.Card == parser.CardOneToMany:
			if rhs != nil {
				for _, l := range m.Include {
					rhs[l] = true
				}
			}
			return rhs
		case m != nil && m.On:
			ls := map[string]bool{}
			for _, l := range m.MatchingLabels {
				ls[l] = true
			}
			return ls
		}
		return lhs
	}
	return nil
}

// check checks one dashboard and returns its uid:
//   - uid, title, description, schemaVersion;
//   - a "datasource" variable of type datasource for Prometheus, and the
//     environment, bot, window and task variables with their queries
//     (wantVariables);
//   - every panel: a unique id, a title, a description, a unit
//     (fieldConfig.defaults.unit, one of allowedUnits, "percentunit" when
//     the title says ratio), fieldConfig.defaults without unknown keys,
//     the ${datasource} variable as its datasource and its every target's,
//     data links into the project's dashboards that set only their
//     variables, and a link into the task drill-down on every list of
//     tasks (checkLinks);
//   - every target: no unknown keys (the SDK's Prometheus query type), an
//     expr that parses with Prometheus' parser once Grafana's variables are
//     substituted and selects only metrics the exporter exports or the
//     shipped recording rules record, with their labels, no literal
//     instance or job value, and keeps environments apart
//     (checkEnvironments);
//   - every variable's label_values query: the same.
func (ck *dashboardChecker) check(raw []byte) (string, error) {
	var d dashJSON
	if err := json.Unmarshal(raw, &d); err != nil {
		return "", err
	}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if d.UID == "" || d.Title == "" || d.Description == "" {
		fail("dashboard: uid %q, title %q, description %q: all three are required", d.UID, d.Title, d.Description)
	}
	if d.SchemaVersion < minSchemaVersion {
		fail("dashboard: schemaVersion %d, want at least %d", d.SchemaVersion, minSchemaVersion)
	}

	// Variables, and the values the checks substitute for them: each
	// variable's current value (its allValue, or .+, for "All").
	vars := map[string]string{}
	byName := map[string]varJSON{}
	for _, v := range d.Templating.List {
		byName[v.Name] = v
		vars[v.Name] = currentValue(v)
	}
	if ds, ok := byName["datasource"]; !ok || ds.Type != "datasource" || string(ds.Query) != `"prometheus"` {
		fail(`variables: want "datasource" of type datasource with query "prometheus", got %+v`, ds)
	}
	for name, want := range wantVariables(ck.env)[d.UID] {
		v, ok := byName[name]
		switch {
		case !ok:
			fail("variables: %s missing", name)
			continue
		case v.Type != "query":
			fail("variables: %s has type %q, want query", name, v.Type)
		case string(v.Query) != mustJSON(want.query):
			fail("variables: %s query %s, want %s", name, v.Query, mustJSON(want.query))
		case v.Multi != want.multi || v.IncludeAll != want.multi:
			fail("variables: %s multi=%v includeAll=%v, want both %v", name, v.Multi, v.IncludeAll, want.multi)
		case want.multi && v.AllValue != want.allValue:
			fail("variables: %s allValue %q, want %q", name, v.AllValue, want.allValue)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		if !isDatasourceVar(v.Datasource) {
			fail("variables: %s: datasource %+v, want the ${datasource} variable", v.Name, v.Datasource)
		}
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil {
			fail("variables: %s: query is not a string: %s", v.Name, v.Query)
			continue
		}
		if err := checkVariableQuery(q, vars, ck.known); err != nil {
			fail("variables: %s: %v", v.Name, err)
		}
	}

	ids := map[int]string{}
	var walk func(ps []panelJSON)
	walk = func(ps []panelJSON) {
		for _, p := range ps {
			where := fmt.Sprintf("panel %q", p.Title)
			if p.ID == nil {
				fail("%s: no id", where)
			} else if other, dup := ids[*p.ID]; dup {
				fail("%s: id %d also used by %q", where, *p.ID, other)
			} else {
				ids[*p.ID] = p.Title
			}
			if p.Type == "row" {
				if p.Title == "" {
					fail("row %v: no title", p.ID)
				}
				walk(p.Panels)
				continue
			}
			if p.Title == "" || p.Description == "" {
				fail("%s: title and description required (description %q)", where, p.Description)
			}
			if err := checkFieldDefaults(p); err != nil {
				fail("%s: %v", where, err)
			}
			if !isDatasourceVar(p.Datasource) {
				fail("%s: datasource %+v, want {type: prometheus, uid: ${datasource}}", where, p.Datasource)
			}
			if len(p.Targets) == 0 {
				fail("%s: no targets", where)
			}
			listsTasks := false
			for i, rawTarget := range p.Targets {
				expr, err := checkTarget(rawTarget, vars, ck.known)
				if err != nil {
					fail("%s: target %d: %v", where, i, err)
					continue
				}
				if err := ck.checkEnvironments(expr, vars); err != nil {
					fail("%s: target %d: %v\nexpr: %s", where, i, err, expr)
				}
				listsTasks = listsTasks || returnsTasks(substitute(expr, vars))
			}
			// A list of tasks leads to the drill-down (which is one task's).
			needsLink := listsTasks && d.UID != "kore-task-drilldown" && (p.Type == "table" || p.Type == "bargauge")
			if err := ck.checkLinks(p, needsLink); err != nil {
				fail("%s: %v", where, err)
			}
		}
	}
	walk(d.Panels)
	if len(ids) == 0 {
		fail("dashboard: no panels")
	}
	return d.UID, errors.Join(errs...)
}

// checkEnvironments checks that a query keeps environments apart: every
// selector selects each environment label by its variable (job=~"$job"),
// and every aggregation and every vector matching with on (…) keeps the
// environment labels, so two environments never add up (topk and its
// kind keep every label). The environment variables stay in the
// expression as written; the other variables are substituted.
func (ck *dashboardChecker) checkEnvironments(expr string, vars map[string]string) error {
	keep := maps.Clone(vars)
	for _, l := range ck.env {
		delete(keep, l)
	}
	e, err := promqlParser.ParseExpr(substitute(expr, keep))
	if err != nil {
		return err
	}
	var errs []error
	lacks := func(have []string) []string {
		var missing []string
		for _, l := range ck.env {
			if !slices.Contains(have, l) {
				missing = append(missing, l)
			}
		}
		return missing
	}
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			for _, l := range ck.env {
				if !slices.ContainsFunc(n.LabelMatchers, func(m *labels.Matcher) bool {
					return m.Name == l && m.Type == labels.MatchRegexp && m.Value == "$"+l
				}) {
					errs = append(errs, fmt.Errorf(`%s does not select %s=~"$%s": environments would mix`, n, l, l))
				}
			}
		case *parser.AggregateExpr:
			switch {
			case n.Op == parser.TOPK || n.Op == parser.BOTTOMK || n.Op == parser.LIMITK || n.Op == parser.LIMIT_RATIO:
			case n.Without:
				for _, l := range ck.env {
					if slices.Contains(n.Grouping, l) {
						errs = append(errs, fmt.Errorf("%s without (%s) drops the environment label %s", n.Op, strings.Join(n.Grouping, ", "), l))
					}
				}
			default:
				if m := lacks(n.Grouping); len(m) > 0 {
					errs = append(errs, fmt.Errorf("%s by (%s) drops the environment labels %s: environments would add up", n.Op, strings.Join(n.Grouping, ", "), strings.Join(m, ", ")))
				}
			}
		case *parser.BinaryExpr:
			if vm := n.VectorMatching; vm != nil && vm.On {
				if m := lacks(vm.MatchingLabels); len(m) > 0 {
					errs = append(errs, fmt.Errorf("%s on (%s) ignores the environment labels %s: environments would match each other", n.Op, strings.Join(vm.MatchingLabels, ", "), strings.Join(m, ", ")))
				}
			}
		}
		return nil
	})
	return errors.Join(errs...)
}

// returnsTasks reports whether a query returns series per task: it reads
// a recorded per-task series or aggregates by task_name.
func returnsTasks(expr string) bool {
	e, err := promqlParser.ParseExpr(expr)
	if err != nil {
		return false
	}
	found := false
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			found = found || strings.HasPrefix(n.Name, "kore_bot_window_task:")
		case *parser.AggregateExpr:
			found = found || (!n.Without && slices.Contains(n.Grouping, "task_name"))
		}
		return nil
	})
	return found
}

// checkLinks checks a panel's data links (its fieldConfig's and its
// overrides'): a title, no keys Grafana's data links do not have, a URL
// into one of the project's dashboards that sets only variables that
// dashboard has, with the time range and data source. With needsLink, the
// panel must link into the task drill-down.
func (ck *dashboardChecker) checkLinks(p panelJSON, needsLink bool) error {
	if p.FieldConfig == nil {
		return nil
	}
	var raws []json.RawMessage
	var defaults struct {
		Links json.RawMessage `json:"links"`
	}
	if err := json.Unmarshal(p.FieldConfig.Defaults, &defaults); err == nil && defaults.Links != nil {
		raws = append(raws, defaults.Links)
	}
	for _, o := range p.FieldConfig.Overrides {
		for _, prop := range o.Properties {
			if prop.ID == "links" {
				raws = append(raws, prop.Value)
			}
		}
	}
	var errs []error
	drilldown := false
	for _, raw := range raws {
		var links []dataLinkJSON
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&links); err != nil {
			errs = append(errs, fmt.Errorf("data links: %w", err))
			continue
		}
		for _, l := range links {
			if err := ck.checkLink(l); err != nil {
				errs = append(errs, fmt.Errorf("data link %q: %w", l.Title, err))
			}
			if strings.HasPrefix(l.URL, "/d/kore-task-drilldown?") {
				drilldown = true
			}
		}
	}
	if needsLink && !drilldown {
		errs = append(errs, errors.New("lists tasks but has no data link into the task drill-down (/d/kore-task-drilldown?var-bot=…&var-task=…)"))
	}
	return errors.Join(errs...)
}

func (ck *dashboardChecker) checkLink(l dataLinkJSON) error {
	m := dashboardLinkRE.FindStringSubmatch(l.URL)
	if l.Title == "" || m == nil {
		return fmt.Errorf("title %q, url %q: want a title and a url /d/<uid>?…", l.Title, l.URL)
	}
	vars, ok := ck.dashboards[m[1]]
	if !ok {
		return fmt.Errorf("no dashboard with uid %q", m[1])
	}
	var errs []error
	set := map[string]bool{}
	for _, param := range strings.Split(m[2], "&") {
		name := ""
		if v := linkVarRE.FindStringSubmatch(param); v != nil {
			name = v[1]
		} else if v := linkQueryParamRE.FindStringSubmatch(param); v != nil {
			name = v[1]
		} else if param != "${__url_time_range}" {
			errs = append(errs, fmt.Errorf("parameter %q: want var-<name>=…, ${<name>:queryparam} or ${__url_time_range}", param))
			continue
		} else {
			set["__url_time_range"] = true
			continue
		}
		if !vars[name] {
			errs = append(errs, fmt.Errorf("sets variable %s, which dashboard %s does not have", name, m[1]))
		}
		set[name] = true
	}
	for _, want := range append([]string{"datasource", "__url_time_range"}, ck.env...) {
		if !set[want] && (want == "__url_time_range" || vars[want]) {
			errs = append(errs, fmt.Errorf("does not pass %s on", want))
		}
	}
	return errors.Join(errs...)
}

// checkFieldDefaults checks a panel's fieldConfig.defaults: no unknown keys
// (the SDK's strict decoding does not look inside), and a known unit.
func checkFieldDefaults(p panelJSON) error {
	if p.FieldConfig == nil || len(p.FieldConfig.Defaults) == 0 {
		return errors.New("no fieldConfig.defaults")
	}
	var fc dashboard.FieldConfig
	dec := json.NewDecoder(bytes.NewReader(p.FieldConfig.Defaults))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		return fmt.Errorf("fieldConfig.defaults: %w", err)
	}
	switch {
	case fc.Unit == nil || *fc.Unit == "":
		return errors.New("fieldConfig.defaults.unit missing")
	case !allowedUnits[*fc.Unit]:
		return fmt.Errorf("fieldConfig.defaults.unit %q is not one of the Grafana units the dashboards use", *fc.Unit)
	case ratioTitleRE.MatchString(p.Title) && *fc.Unit != units.PercentUnit:
		return fmt.Errorf("a ratio has unit %q, want %q", *fc.Unit, units.PercentUnit)
	case *fc.Unit == units.PercentUnit && p.Type != "table" && (fc.Min == nil || *fc.Min != 0):
		return errors.New("a percentage without min 0: its axis would not start at 0 %")
	}
	return nil
}

// checkTarget checks one Prometheus query of a panel and returns its expr.
func checkTarget(raw json.RawMessage, vars map[string]string, known metricSet) (string, error) {
	var q prometheus.Dataquery
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		return "", fmt.Errorf("not a Prometheus query: %w", err)
	}
	if !isDatasourceVar(q.Datasource) {
		return "", fmt.Errorf("datasource %+v, want {type: prometheus, uid: ${datasource}}", q.Datasource)
	}
	if q.RefId == nil || *q.RefId == "" {
		return "", errors.New("no refId")
	}
	return q.Expr, checkGrafanaExpr(q.Expr, vars, known)
}

// checkVariableQuery checks a query variable's label_values(selector,
// label): the selector as PromQL, and the label among the metric's.
func checkVariableQuery(q string, vars map[string]string, known metricSet) error {
	m := labelValuesRE.FindStringSubmatch(q)
	if m == nil {
		return fmt.Errorf("query %q: want label_values(selector, label)", q)
	}
	if err := checkGrafanaExpr(m[1], vars, known); err != nil {
		return err
	}
	e, err := promqlParser.ParseExpr(substitute(m[1], vars))
	if err != nil {
		return err
	}
	for _, sel := range extractNames(e) {
		if l := known[sel]; l != nil && !l[m[2]] {
			return fmt.Errorf("query %q: %s has no label %q", q, sel, m[2])
		}
	}
	return nil
}

// checkGrafanaExpr substitutes Grafana's variables in expr and checks it
// with checkPromQL; it also rejects literal instance or job values.
func checkGrafanaExpr(expr string, vars map[string]string, known metricSet) error {
	if strings.TrimSpace(expr) == "" {
		return errors.New("empty expr")
	}
	if m := hardCodedTargetRE.FindString(expr); m != "" {
		return fmt.Errorf("hard-coded target label %s: use a variable or aggregate it away", m)
	}
	if err := unknownVariables(expr, vars); err != nil {
		return err
	}
	if err := checkPromQL(substitute(expr, vars), known); err != nil {
		return fmt.Errorf("%w\nexpr: %s", err, expr)
	}
	return nil
}

func isDatasourceVar(ds *common.DataSourceRef) bool {
	return ds != nil && ds.Type != nil && *ds.Type == "prometheus" && ds.Uid != nil && *ds.Uid == "${datasource}"
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestDashboardChecksCatchErrors runs the SDK's strict decoding and
// checkDashboard on fixtures, one fault each (testdata/dashboards, the
// health dashboard cut to one panel): each must be reported, and the good
// fixture must pass.
func TestDashboardChecksCatchErrors(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	ck := newDashboardChecker(t, dashboardFiles(t))
	for _, tc := range []struct{ file, want string }{
		{"good.json", ""},
		{"bad-no-unit.json", "fieldConfig.defaults.unit missing"},
		{"bad-unit-typo.json", `unit "secs" is not one of`},
		{"bad-fieldconfig-key.json", `unknown field "units"`},
		{"bad-no-description.json", "title and description required"},
		{"bad-panel-uid.json", "unexpected field 'uid'"}, // the SDK: panels have ids, not uids
		{"bad-datasource.json", "want {type: prometheus, uid: ${datasource}}"},
		{"bad-target-datasource.json", "target 0: datasource <nil>"},
		{"bad-target-key.json", `unknown field "legend"`},
		{"bad-instance.json", `hard-coded target label instance="10.0.0.1:10027"`},
		{"bad-promql.json", "parse:"},
		{"bad-unknown-metric.json", "metric kore_exporter_last_success_timestamp_seconds is not exported"},
		{"bad-label.json", `has no label "bots"`},
		{"bad-recorded-label.json", `metric kore_bot_window:task_sessions:sum has no label "task_name"`},
		{"bad-undefined-variable.json", "undefined variables $bots"},
		{"bad-recorded-series.json", "metric kore_bot_window:drop_off:ratio is not exported"}, // renamed to task_drop_off
		{"bad-no-datasource-variable.json", `want "datasource" of type datasource`},
		{"bad-variable-label.json", `has no label "windows"`},
		{"bad-no-env-variable.json", "variables: namespace missing"},
		{"bad-env-matcher.json", `does not select namespace=~"$namespace"`},
		{"bad-env-aggregation.json", "max by (bot, window) drops the environment labels cluster, namespace, job"},
		{"bad-env-on.json", "and on (instance) ignores the environment labels"},
		{"bad-percent-min.json", "a percentage without min 0"},
		{"bad-link-variable.json", "sets variable tasks, which dashboard kore-task-drilldown does not have"},
		{"bad-link-env.json", "does not pass namespace on"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "dashboards", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			//lint:ignore SA1019 the fixtures are classic dashboard JSON, the v1 schema
			var d dashboard.Dashboard
			errs := []error{sdkError(d.UnmarshalJSONStrict(raw))}
			if errs[0] == nil {
				errs = append(errs, sdkError(d.Validate()))
			}
			_, err = ck.check(raw)
			err = errors.Join(append(errs, err)...)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want no error, got %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("want an error containing %q, got none", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}
