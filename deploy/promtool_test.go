package deploy_test

import (
	"os"
	"path/filepath"
	"testing"
)

// promtool's own checks of the shipped Prometheus files: the rule files
// parse, the rules' unit tests pass (every alert fires where it must and
// stays silent where it must not, with its exact labels and annotations),
// and scrape.yml is a valid Prometheus configuration. The unit tests
// evaluate every rule every 5 minutes over a week or more of history; each
// file runs in its own promtool process, in parallel.

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
	// PROMTOOL3_BIN, when set, is a Prometheus 3 promtool (the compose
	// stack's major version; Debian's is 2.42): the tests run with both.
	// docs/alerts.md says how to build one.
	tools := map[string]string{"promtool": promtool}
	if p := os.Getenv("PROMTOOL3_BIN"); p != "" {
		tools["promtool3"] = p
	}
	for name, bin := range tools {
		for _, f := range tests {
			t.Run(name+"/"+filepath.Base(f), func(t *testing.T) {
				t.Parallel()
				t.Log(run(t, ".", bin, "test", "rules", f))
			})
		}
	}
}

func TestPromtoolCheckConfig(t *testing.T) {
	t.Parallel()
	promtool := tool(t, "PROMTOOL_BIN", "promtool")
	t.Log(run(t, ".", promtool, "check", "config", "prometheus/scrape.yml"))
}
