package deploy_test

import (
	"encoding/json"
	"fmt"
	"github.com/prometheus/common/model"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// grafanaVarRE matches Grafana's variable syntaxes: ${name}, ${name:format},
// $name and [[name]] (deprecated).
var grafanaVarRE = regexp.MustCompile(`\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]`)

// builtinVars are Grafana's global variables, with values of the right
// kind for the parser.
var builtinVars = map[string]string{
	"__rate_interval": "1m", "__interval": "1m", "__range": "1d",
	"__interval_ms": "60000", "__range_s": "86400", "__range_ms": "86400000",
	"__rate_interval_ms": "60000",
}

// substitute replaces Grafana's variables in expr with vars' values, or
// builtinVars'; unknown names stay as they are (see unknownVariables).
func substitute(expr string, vars map[string]string) string {
	return grafanaVarRE.ReplaceAllStringFunc(expr, func(m string) string {
		name := varName(m)
		if v, ok := vars[name]; ok {
			return v
		}
		if v, ok := builtinVars[name]; ok {
			return v
		}
		return m
	})
}

// unknownVariables reports a variable the dashboard does not define ($bots
// for $bot): Grafana leaves it in the query as written.
func unknownVariables(expr string, vars map[string]string) error {
	var unknown []string
	for _, m := range grafanaVarRE.FindAllString(expr, -1) {
		name := varName(m)
		if _, ok := vars[name]; ok {
			continue
		}
		if _, ok := builtinVars[name]; ok {
			continue
		}
		unknown = append(unknown, m)
	}
	if len(unknown) > 0 {
		return fmt.Errorf("undefined variables %s", strings.Join(unknown, ", "))
	}
	return nil
}

func varName(m string) string {
	for _, sub := range grafanaVarRE.FindStringSubmatch(m)[1:] {
		if sub != "" {
			return sub
		}
	}
	return ""
}

// currentValue is what the checks substitute for a variable: its current
// value, the first if several, its allValue (or .+) for "All".
func currentValue(v varJSON) string {
	var value any
	_ = json.Unmarshal(v.Current.Value, &value)
	if list, ok := value.([]any); ok && len(list) > 0 {
		value = list[0]
	}
	s, _ := value.(string)
	if s == "$__all" {
		if v.AllValue != "" {
			return v.AllValue
		}
		return ".+"
	}
	if v.Type == "textbox" || v.Type == "constant" || v.Type == "custom" {
		if s == "" {
			var q string
			_ = json.Unmarshal(v.Query, &q)
			return q
		}
	}
	return s
}

// extractNames returns the metric names e selects by equality.
func extractNames(e parser.Expr) []string {
	var names []string
	for _, sel := range parser.ExtractSelectors(e) {
		for _, m := range sel {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				names = append(names, m.Value)
			}
		}
	}
	return names
}

func TestSubstitute(t *testing.T) {
	vars := map[string]string{"bot": ".+", "window": "24h", "min_sessions": "20"}
	for _, tc := range []struct{ in, want string }{
		{`x{bot=~"$bot"}`, `x{bot=~".+"}`},
		{`x{bot=~"${bot}",window="${window:raw}"}`, `x{bot=~".+",window="24h"}`},
		{`x{bot=~"[[bot]]"}`, `x{bot=~".+"}`},
		{`rate(x[$__rate_interval]) > $min_sessions`, `rate(x[1m]) > 20`},
		{`avg_over_time(x[$__range])`, `avg_over_time(x[1d])`},
		{`x{bot=~"$bots"}`, `x{bot=~"$bots"}`},
	} {
		if got := substitute(tc.in, vars); got != tc.want {
			t.Errorf("substitute(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if err := unknownVariables(`x{bot=~"$bots"}`, vars); err == nil {
		t.Error("$bots: want an undefined-variable error")
	}
	if err := unknownVariables(`rate(x{bot=~"${bot}"}[$__rate_interval])`, vars); err != nil {
		t.Error(err)
	}
}
