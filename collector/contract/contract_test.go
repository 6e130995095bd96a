package contract_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/kore-exporter/kore_exporter/collector/contract"
	"github.com/kore-exporter/kore_exporter/kore"
)

// TestFamilies: the families are in the order the exporter writes them
// (sorted by name, kore_bot_info first), and every task family counts its
// own field of a report row.
func TestFamilies(t *testing.T) {
	t.Parallel()
	row := kore.TaskRow{TotalExecution: 1, TotalSession: 2, SelfServiceSessions: 3, DropOffSessions: 4, AgentTransferSessions: 5}
	names := []string{contract.BotInfo().Name}
	seen := map[int64]bool{}
	for _, f := range contract.TaskFamilies() {
		names = append(names, f.Name)
		if v := row.Count(f.Field); v == 0 || seen[v] || f.Help == "" {
			t.Errorf("%s: field %q counts %d (twice: %v), help %q", f.Name, f.Field, v, seen[v], f.Help)
		}
		seen[row.Count(f.Field)] = true
	}
	if len(seen) != 5 || !slices.IsSorted(names) {
		t.Errorf("families %v: want kore_bot_info and 5 task families, sorted by name", names)
	}
}

// TestLabels: a bot's static labels cannot take a label of the exporter's,
// and kore_bot_info's labels come sorted by name with valid values.
func TestLabels(t *testing.T) {
	t.Parallel()
	for _, l := range append(contract.TaskLabels(), contract.BotInfoLabels()...) {
		if !slices.Contains(contract.ReservedLabels(), l) {
			t.Errorf("label %s is not reserved", l)
		}
	}
	got := contract.BotInfoPairs("a\xff", "st-1", "https://h", map[string]string{"team": "x\xff", "env": "prod"})
	want := [][2]string{{"bot", "a\uFFFD"}, {"bot_id", "st-1"}, {"env", "prod"}, {"host", "https://h"}, {"team", "x\uFFFD"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("BotInfoPairs = %v, want %v", got, want)
	}
}
