package deploy_test

import (
	"path/filepath"
	"testing"
)

// promtool's own checks of the shipped Prometheus files: the rule files
// parse, the rules' unit tests pass (every alert fires where it must and
// stays silent where it must not, with its exact labels and annotations),
// and scrape.yml is a valid Prometheus configuration. The unit tests take
// about 80 s: three of them evaluate every rule each minute over eight days.

func TestPromtoolCheckRules(t *testing.T) {
	t.Parallel()
	promtool := tool(t, "PROMTOOL_BIN", "promtool")
	rules, err := filepath.Glob("prometheus/rules/*.yml")
	if err != nil || len(rules) == 0 {
		t.Fatalf("no rule files: %v", err)
	}
	t.Log(run(t, ".", promtool, append([]string{"check", "rules"}, rules...)...))
}

func TestPromtoolTestRules(t *testing.T) {
	t.Parallel()
	promtool := tool(t, "PROMTOOL_BIN", "promtool")
	tests, err := filepath.Glob("prometheus/tests/*.yml")
	if err != nil || len(tests) == 0 {
		t.Fatalf("no rule tests: %v", err)
	}
	t.Log(run(t, ".", promtool, append([]string{"test", "rules"}, tests...)...))
}

func TestPromtoolCheckConfig(t *testing.T) {
	t.Parallel()
	promtool := tool(t, "PROMTOOL_BIN", "promtool")
	t.Log(run(t, ".", promtool, "check", "config", "prometheus/scrape.yml"))
}
