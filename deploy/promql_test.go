package deploy_test

import (
	"errors"
	"fmt"
	"github.com/prometheus/common/model"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// promqlParser is Prometheus' own PromQL parser with its default options,
// as a Prometheus server without feature flags runs it.
var promqlParser = parser.NewParser(parser.Options{})

// checkPromQL parses expr and checks every metric it selects against known:
// the name must be in the set, a selector must name its metric with an
// equality matcher, and where the set knows the metric's labels, every
// matcher's label must be one of them (a typo such as task=~"..." for
// task_name=~"..." matches nothing and fails silently in Grafana).
func checkPromQL(expr string, known metricSet) error {
	e, err := promqlParser.ParseExpr(expr)
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	var errs []error
	for _, sel := range parser.ExtractSelectors(e) {
		name := ""
		for _, m := range sel {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			errs = append(errs, fmt.Errorf("selector %s names no metric", matchersString(sel)))
			continue
		}
		labelNames, ok := known[name]
		if !ok {
			errs = append(errs, fmt.Errorf("metric %s is not exported by kore_exporter nor recorded by a rule", name))
			continue
		}
		if labelNames == nil {
			continue
		}
		for _, m := range sel {
			if m.Name != model.MetricNameLabel && !labelNames[m.Name] {
				errs = append(errs, fmt.Errorf("metric %s has no label %q (it has %s)", name, m.Name, setString(labelNames)))
			}
		}
	}
	return errors.Join(errs...)
}

func matchersString(ms []*labels.Matcher) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.String()
	}
	return "{" + strings.Join(s, ",") + "}"
}

func setString(s map[string]bool) string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
