package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// dashboardsDir holds the dashboards the project ships.
const dashboardsDir = "../dashboards"

// wantDashboards are the dashboards the README documents.
var wantDashboards = []string{
	"kore-containment-overview.json",
	"kore-exporter-health.json",
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
	known := exporterMetrics(t)
	uids := map[string]string{}
	for name, raw := range dashboardFiles(t) {
		t.Run(name, func(t *testing.T) {
			uid, err := checkDashboard(raw, known)
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
			Defaults json.RawMessage `json:"defaults"`
		} `json:"fieldConfig"`
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
)

// wantVariables are the template variables every dashboard must have, by
// dashboard: the label_values query of each, and whether it is a
// multi-value variable with "All".
var wantVariables = map[string]map[string]struct {
	query string
	multi bool
}{
	"kore-containment-overview": {
		"bot":    {"label_values(kore_bot_info, bot)", true},
		"window": {`label_values(kore_task_sessions{bot=~"$bot"}, window)`, false},
		"task":   {`label_values(kore_task_sessions{bot=~"$bot",window=~"$window"}, task_name)`, true},
	},
	"kore-task-drilldown": {
		"bot":    {"label_values(kore_bot_info, bot)", true},
		"window": {`label_values(kore_task_sessions{bot=~"$bot"}, window)`, true},
		"task":   {`label_values(kore_task_sessions{bot=~"$bot",window=~"$window"}, task_name)`, false},
	},
	"kore-exporter-health": {
		"bot":    {"label_values(kore_bot_info, bot)", true},
		"window": {`label_values(kore_task_sessions{bot=~"$bot"}, window)`, true},
	},
}

var (
	labelValuesRE = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)
	// A matcher on a target label with a literal value: such a dashboard
	// works on one installation only.
	// A panel about a ratio says so in its title.
	ratioTitleRE      = regexp.MustCompile(`(?i)\bratio\b`)
	hardCodedTargetRE = regexp.MustCompile(`\b(instance|job)\s*(=|!=|=~|!~)\s*"([^"$]*)"`)
)

// checkDashboard checks one dashboard and returns its uid:
//   - uid, title, description, schemaVersion;
//   - a "datasource" variable of type datasource for Prometheus, and the
//     bot, window and task variables with their queries (wantVariables);
//   - every panel: a unique id, a title, a description, a unit
//     (fieldConfig.defaults.unit, one of allowedUnits, "percentunit" when
//     the title says ratio), fieldConfig.defaults without unknown keys,
//     the ${datasource} variable as its datasource and its every target's;
//   - every target: no unknown keys (the SDK's Prometheus query type), an
//     expr that parses with Prometheus' parser once Grafana's variables are
//     substituted and selects only metrics the exporter exports (not
//     recorded series: dashboards must work without the rules), and no
//     literal instance or job value;
//   - every variable's label_values query: the same.
func checkDashboard(raw []byte, known metricSet) (string, error) {
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
	for name, want := range wantVariables[d.UID] {
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
		if err := checkVariableQuery(q, vars, known); err != nil {
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
			for i, rawTarget := range p.Targets {
				if err := checkTarget(rawTarget, vars, known); err != nil {
					fail("%s: target %d: %v", where, i, err)
				}
			}
		}
	}
	walk(d.Panels)
	if len(ids) == 0 {
		fail("dashboard: no panels")
	}
	return d.UID, errors.Join(errs...)
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
	}
	return nil
}

// checkTarget checks one Prometheus query of a panel.
func checkTarget(raw json.RawMessage, vars map[string]string, known metricSet) error {
	var q prometheus.Dataquery
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		return fmt.Errorf("not a Prometheus query: %w", err)
	}
	if !isDatasourceVar(q.Datasource) {
		return fmt.Errorf("datasource %+v, want {type: prometheus, uid: ${datasource}}", q.Datasource)
	}
	if q.RefId == nil || *q.RefId == "" {
		return errors.New("no refId")
	}
	return checkGrafanaExpr(q.Expr, vars, known)
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
	known := exporterMetrics(t)
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
		{"bad-undefined-variable.json", "undefined variables $bots"},
		{"bad-recorded-series.json", "metric kore_bot_window:drop_off:ratio is not exported"},
		{"bad-no-datasource-variable.json", `want "datasource" of type datasource`},
		{"bad-variable-label.json", `has no label "windows"`},
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
			_, err = checkDashboard(raw, known)
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
