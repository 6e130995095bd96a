package collector

import (
	"github.com/kore-exporter/kore_exporter/collector/config"
	"reflect"
	"slices"
	"testing"

	"github.com/kore-exporter/kore_exporter/kore"
)

// TestFamiliesExportTheContract: the accessors give the families the
// exposition writes, in its order, each with its own source field.
func TestFamiliesExportTheContract(t *testing.T) {
	t.Parallel()
	r := kore.TaskRow{TotalExecution: 1, TotalSession: 2, SelfServiceSessions: 3, DropOffSessions: 4, AgentTransferSessions: 5}
	want := map[string]int64{
		"kore_task_agent_transfer_sessions": 5, "kore_task_drop_off_sessions": 4, "kore_task_executions": 1,
		"kore_task_self_service_sessions": 3, "kore_task_sessions": 2,
	}
	var names []string
	for _, f := range TaskFamilies() {
		names = append(names, f.Name)
		if v, ok := want[f.Name]; !ok || f.Value(&r) != v || f.Help == "" {
			t.Errorf("family %s: value %d (want %d), help %q", f.Name, f.Value(&r), v, f.Help)
		}
	}
	if len(names) != len(want) || !slices.IsSorted(names) {
		t.Errorf("families %v: want the 5 task families sorted by name", names)
	}
	if name, help := BotInfoFamily(); name != "kore_bot_info" || help == "" {
		t.Errorf("bot info family %q, %q", name, help)
	}
	if got := TaskLabelNames(); !reflect.DeepEqual(got, []string{"bot", "window", "task_name", "task_type", "status"}) {
		t.Errorf("task labels %v", got)
	}
	got := BotInfoLabels(config.Bot{Name: "a\xff", BotID: "st-1", Host: "https://h"})
	if !reflect.DeepEqual(got, [][2]string{{"bot", "a\uFFFD"}, {"bot_id", "st-1"}, {"host", "https://h"}}) {
		t.Errorf("bot info labels %v", got)
	}
}
