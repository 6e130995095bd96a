package report

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/kore-exporter/kore_exporter/collector/contract"
	"github.com/kore-exporter/kore_exporter/kore"
)

// taskRows returns rows of n tasks, task i with the given statuses and i+1
// sessions per status (task n-1 is the largest).
func taskRows(n int, statuses ...string) []kore.TaskRow {
	var rows []kore.TaskRow
	for i := range n {
		for _, st := range statuses {
			rows = append(rows, kore.TaskRow{TaskName: fmt.Sprintf("task %03d", i), TaskType: "dialog", Status: st,
				TotalExecution: int64(2 * (i + 1)), TotalSession: int64(i + 1), DropOffSessions: int64(i%3 + 1)})
		}
	}
	slices.SortFunc(rows, compareRows)
	return rows
}

// totals sums rows per folded status.
func totals(rows []kore.TaskRow) map[string]kore.TaskRow {
	out := map[string]kore.TaskRow{}
	for i := range rows {
		t := out[foldStatus(rows[i].Status)]
		if err := t.Add(&rows[i]); err != nil {
			panic(err)
		}
		out[foldStatus(rows[i].Status)] = t
	}
	return out
}

func TestFoldRows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		rows       []kore.TaskRow
		max        int
		wantRows   int
		wantFolded int
		wantKept   []string // task names kept whole, besides the folded row
	}{
		{name: "under the cap", rows: taskRows(4, "success", "failtask"), max: 8, wantRows: 8},
		{name: "no cap", rows: taskRows(40, "success"), max: 0, wantRows: 40},
		// 10 tasks × 2 statuses = 20 rows, cap 9: 2 rows go to the folded
		// tasks, so the 3 largest tasks (6 rows) are kept.
		{name: "two statuses", rows: taskRows(10, "success", "failtask"), max: 9, wantRows: 8, wantFolded: 14,
			wantKept: []string{"task 007", "task 008", "task 009"}},
		{name: "one status needs one folded row", rows: taskRows(10, "success"), max: 5, wantRows: 5, wantFolded: 6,
			wantKept: []string{"task 006", "task 007", "task 008", "task 009"}},
		{name: "unknown statuses fold into one", rows: taskRows(10, "success", "failtask", "weird", "odd"), max: 12, wantRows: 11, wantFolded: 32,
			wantKept: []string{"task 008", "task 009"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := slices.Clone(tt.rows)
			out, folded, err := Fold(tt.rows, tt.max)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(in, tt.rows) {
				t.Error("Fold modified its input")
			}
			if len(out) != tt.wantRows || folded != tt.wantFolded {
				t.Fatalf("%d rows, %d folded; want %d, %d:\n%v", len(out), folded, tt.wantRows, tt.wantFolded, out)
			}
			if tt.max > 0 && len(out) > tt.max {
				t.Errorf("%d rows over the cap of %d", len(out), tt.max)
			}
			if got, want := totals(out), totals(tt.rows); !maps2Equal(got, want) {
				t.Errorf("totals changed:\n got %v\nwant %v", got, want)
			}
			if !slices.IsSortedFunc(out, compareRows) {
				t.Error("rows not sorted")
			}
			if tt.wantKept == nil {
				return
			}
			var kept []string
			for _, r := range out {
				if r.TaskName != contract.OtherTasks && !slices.Contains(kept, r.TaskName) {
					kept = append(kept, r.TaskName)
				}
				if r.TaskName == contract.OtherTasks && r.TaskType != contract.Other {
					t.Errorf("folded row with type %q", r.TaskType)
				}
			}
			if !slices.Equal(kept, tt.wantKept) {
				t.Errorf("kept %v, want %v", kept, tt.wantKept)
			}
		})
	}
}

func maps2Equal(a, b map[string]kore.TaskRow) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestFoldRowsRandom: for random reports and caps, the result never exceeds
// the cap and the totals per status never change.
func TestFoldRowsRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	statuses := []string{"success", "failtask", "x", "y"}
	for range 300 {
		n := 1 + rng.IntN(60)
		var rows []kore.TaskRow
		for i := range n {
			for _, st := range statuses[:1+rng.IntN(len(statuses))] {
				if rng.IntN(3) == 0 {
					continue
				}
				rows = append(rows, kore.TaskRow{TaskName: fmt.Sprint("t", i), TaskType: "faq", Status: st,
					TotalExecution: rng.Int64N(100), TotalSession: rng.Int64N(50), AgentTransferSessions: rng.Int64N(5)})
			}
		}
		slices.SortFunc(rows, compareRows)
		max := 3 + rng.IntN(40)
		out, folded, err := Fold(rows, max)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > max || (folded == 0) != (len(rows) <= max) {
			t.Fatalf("%d rows → %d (cap %d), %d folded", len(rows), len(out), max, folded)
		}
		if !maps2Equal(totals(out), totals(rows)) {
			t.Fatalf("totals changed for %d rows, cap %d", len(rows), max)
		}
	}
}

func TestFoldRowsOverflow(t *testing.T) {
	t.Parallel()
	rows := taskRows(4, "success")
	rows[0].TotalSession, rows[1].TotalSession = math.MaxInt64, math.MaxInt64
	_, _, err := Fold(rows, 2)
	if !errors.Is(err, kore.ErrCountOverflow) {
		t.Fatalf("err = %v, want a count overflow", err)
	}
}
