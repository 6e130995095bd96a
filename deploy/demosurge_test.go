package deploy_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

// TestDemoSurgeFiresAtEveryHour checks, for each of the 24 hours of a
// Sunday (the demo's quietest day), that the data `--demo
// --demo.drop-off-surge` serves makes the shipped rules fire
// KoreTaskDropOffRising for the surging task, with their real `for`
// durations, and no drop-off alert for any other task. It evaluates the
// rules with Prometheus' rule engine over the simulator's data as the proof
// gets it: 8 days of hourly history as `kore_exporter backfill --demo`
// writes it, then the live exporter's data published every minute from the
// start of the demo, whose surge began DemoSurgeLead earlier. So the proof
// on a real Prometheus (TestProofOnRealPrometheus) passes at any hour.
func TestDemoSurgeFiresAtEveryHour(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("evaluates the rules over 8 days of data 24 times: skipped with -short")
	}
	files, err := filepath.Glob(filepath.Join(rulesDir, "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files: %v", err)
	}
	sunday := time.Date(2026, 1, 4, 0, 0, 0, 0, time.UTC)
	for h := range 24 {
		start := sunday.Add(time.Duration(h) * time.Hour).Add(17 * time.Minute)
		t.Run(start.Format("15:04"), func(t *testing.T) {
			t.Parallel()
			demoSurgeFires(t, files, start)
		})
	}
}

// demoSurgeFires runs the demo's data from start on (see
// TestDemoSurgeFiresAtEveryHour) and fails t unless KoreTaskDropOffRising
// fires for the surging task within 20 minutes.
func demoSurgeFires(t *testing.T, files []string, start time.Time) {
	clock := koretest.NewManualClock(start)
	sim := koretest.NewInMemory(koretest.WithClock(clock))
	bot := koretest.ExporterDemoBots()[0]
	sim.AddBot(bot)
	task := sim.StartDemoSurge(bot.ID, start)

	e := newRuleEngine(t, files...)
	publish := func(at time.Time) {
		e.addMap(at, map[string]string{"__name__": "kore_bot_info", "job": "kore_exporter", "instance": "demo",
			"bot": "support", "bot_id": bot.ID, "host": sim.URL}, 1)
		for _, w := range []time.Duration{time.Hour, 24 * time.Hour} {
			for _, r := range sim.Expected(bot.ID, at.Add(-w), at, koretest.Filters{}) {
				l := map[string]string{"job": "kore_exporter", "instance": "demo", "bot": "support",
					"window": fmt.Sprintf("%dh", int(w.Hours())), "task_name": r.TaskName, "task_type": r.TaskType, "status": r.Status}
				for name, v := range map[string]int64{
					"kore_task_executions": r.TotalExecution, "kore_task_sessions": r.TotalSession,
					"kore_task_self_service_sessions": r.SelfServiceSessions, "kore_task_drop_off_sessions": r.DropOffSessions,
					"kore_task_agent_transfer_sessions": r.AgentTransferSessions,
				} {
					l["__name__"] = name
					e.add(at, labels.FromMap(l), float64(v))
				}
			}
		}
	}
	// History: hourly points up to the hour before the demo starts, as the
	// proof's backfill (--end = the start, truncated to the hour).
	for at := start.Truncate(time.Hour).Add(-8 * 24 * time.Hour); at.Before(start); at = at.Add(time.Hour) {
		publish(at)
	}
	// Live: the exporter publishes every minute (the demo's interval).
	for at := start; !at.After(start.Add(20 * time.Minute)); at = at.Add(time.Minute) {
		clock.Set(at)
		publish(at)
		e.eval(at)
		for _, a := range e.alerts() {
			name, other := a.Labels.Get("alertname"), a.Labels.Get("task_name")
			if strings.HasPrefix(name, "KoreTaskDropOff") && other != task {
				t.Fatalf("%s: %s for a healthy task: %v", at.Format(time.RFC3339), a.State, a.Labels)
			}
		}
		for _, a := range e.alerts() {
			if a.Firing() && a.Labels.Get("alertname") == "KoreTaskDropOffRising" && a.Labels.Get("task_name") == task {
				t.Logf("fired %s after the start (%s: %.0f %% over the last hour)", at.Sub(start), a.Labels.Get("severity"), 100*a.Value)
				return
			}
		}
	}
	v := e.query(start.Add(20*time.Minute), fmt.Sprintf(`{__name__=~"kore_bot_window_task:(sessions:sum|drop_off:ratio|sessions:same_time_sum|drop_off:same_time_ratio|drop_off:same_time_zscore)",window="1h",task_name=%q}`, task))
	t.Fatalf("KoreTaskDropOffRising did not fire for %q within 20 minutes of a start at %s; its series: %v", task, start.Format(time.RFC3339), v)
}
