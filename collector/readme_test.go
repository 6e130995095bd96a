package collector

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestREADMEMetricReference checks the metric tables of docs/metrics.md
// against the metrics the code exposes: every kore_* metric is documented, and every
// documented metric exists.
func TestREADMEMetricReference(t *testing.T) {
	readme, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	row := regexp.MustCompile("(?m)^\\| `(kore_[a-z_]+)` \\|")
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]] = true
	}

	reg, m, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	// Everything /metrics serves: the live registry, the pre-encoded
	// per-job self-metrics and the data families (whose DataCollector is
	// unchecked: it describes nothing).
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	descs := make(chan *prometheus.Desc, 1000)
	go func() {
		reg.Describe(descs)
		close(descs)
	}()
	exposed := map[string]bool{}
	for _, f := range dataFamilies {
		exposed[f.Name] = true
	}
	name := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range descs {
		m := name.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name of %s", d)
		}
		if strings.HasPrefix(m[1], "kore_") {
			exposed[m[1]] = true
		}
	}
	if len(exposed) < 15 {
		t.Fatalf("only %d kore_* metrics found: %v", len(exposed), exposed)
	}
	var missing, extra []string
	for n := range exposed {
		if !documented[n] {
			missing = append(missing, n)
		}
	}
	for n := range documented {
		if !exposed[n] {
			extra = append(extra, n)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing) > 0 {
		t.Errorf("metrics missing from the tables of docs/metrics.md: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("docs/metrics.md documents metrics the code does not expose: %v", extra)
	}
}
