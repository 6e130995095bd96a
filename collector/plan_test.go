package collector

import (
	"strings"
	"testing"

	"github.com/kore-exporter/kore_exporter/collector/config"
)

// TestPlanTaskMetrics keeps the plan's series estimate in step with the
// metric contract: each task row is one series of every kore_task_* family.
func TestPlanTaskMetrics(t *testing.T) {
	t.Parallel()
	n := 0
	for _, f := range dataFamilies {
		if strings.HasPrefix(f.name, "kore_task_") {
			n++
		}
	}
	cfg, err := config.Parse([]byte("bots:\n  - {bot_id: st-a, client_id: cs-a, client_secret: s, windows: [1h], max_task_rows: 10}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Plan()[0].MaxSeries; got != 10*n {
		t.Errorf("plan: %d series for one window of 10 task rows, but there are %d kore_task_* families", got, n)
	}
}
