package collector

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/kore-exporter/kore_exporter/kore"
)

// The reserved labels of the rows into which the tasks beyond a bot's
// max_task_rows cap are folded. Kore.ai's task names are free text, but a
// dialog task named exactly "__other_tasks__" of type "__other__" is not
// expected; if one exists, its counts are summed with the folded ones, so the
// bot's totals stay exact either way.
const (
	OtherTasksName = "__other_tasks__"
	OtherTasksType = "__other__"
)

// The statuses kept on folded rows; any other status is folded into
// OtherTasksType too, so folding adds at most len(foldStatuses)+1 rows.
var foldStatuses = []string{"failtask", "success"}

// foldRows caps rows (one per task name × task type × status, as
// kore.Report returns them) at max rows. When there are more, whole tasks
// (every status of one name and type) are kept, largest first by sessions,
// then executions, then name and type, and the others are summed into one
// row per status on the reserved task (OtherTasksName, OtherTasksType), so
// the totals over all tasks stay exact. It returns the rows to publish,
// sorted by key, and how many task rows were folded. A sum beyond the int64
// range is an error (kore.ErrCountOverflow). rows is not modified. A max of
// 0 or less means no cap (the configuration always sets one).
func foldRows(rows []kore.TaskRow, max int) ([]kore.TaskRow, int, error) {
	if max <= 0 || len(rows) <= max {
		return rows, 0, nil
	}
	type task struct {
		name, typ       string
		sessions, execs int64
		rows            []int // indexes into rows
	}
	byKey := make(map[[2]string]*task)
	var tasks []*task
	for i, r := range rows {
		k := [2]string{r.TaskName, r.TaskType}
		t := byKey[k]
		if t == nil {
			t = &task{name: r.TaskName, typ: r.TaskType}
			byKey[k] = t
			tasks = append(tasks, t)
		}
		t.rows = append(t.rows, i)
		// Saturating sums: they only rank the tasks.
		t.sessions = satAdd(t.sessions, r.TotalSession)
		t.execs = satAdd(t.execs, r.TotalExecution)
	}
	slices.SortFunc(tasks, func(a, b *task) int {
		return cmp.Or(
			cmp.Compare(b.sessions, a.sessions),
			cmp.Compare(b.execs, a.execs),
			cmp.Compare(a.name, b.name),
			cmp.Compare(a.typ, b.typ),
		)
	})
	// Keep the largest tasks that fit in max minus the folded rows; the
	// folded rows are one per status among the tasks left out, at most
	// len(foldStatuses)+1, so try the smallest reserve that works.
	var kept int // tasks kept
	for reserve := 1; reserve <= len(foldStatuses)+1; reserve++ {
		kept = 0
		n := 0
		for _, t := range tasks {
			if n+len(t.rows) > max-reserve {
				break
			}
			n += len(t.rows)
			kept++
		}
		statuses := make(map[string]bool)
		for _, t := range tasks[kept:] {
			for _, i := range t.rows {
				statuses[foldStatus(rows[i].Status)] = true
			}
		}
		if len(statuses) <= reserve {
			break
		}
	}
	out := make([]kore.TaskRow, 0, max)
	for _, t := range tasks[:kept] {
		for _, i := range t.rows {
			out = append(out, rows[i])
		}
	}
	other := make(map[string]*kore.TaskRow)
	folded := 0
	for _, t := range tasks[kept:] {
		for _, i := range t.rows {
			st := foldStatus(rows[i].Status)
			o := other[st]
			if o == nil {
				o = &kore.TaskRow{TaskName: OtherTasksName, TaskType: OtherTasksType, Status: st}
				other[st] = o
			}
			if err := o.Add(&rows[i]); err != nil {
				return nil, 0, fmt.Errorf("fold tasks beyond max_task_rows: %w", err)
			}
			folded++
		}
	}
	for _, o := range other {
		out = append(out, *o)
	}
	slices.SortFunc(out, compareRows)
	return out, folded, nil
}

// foldStatus is the status of the folded row a row goes into.
func foldStatus(s string) string {
	if slices.Contains(foldStatuses, s) {
		return s
	}
	return OtherTasksType
}

func satAdd(a, b int64) int64 {
	if s := a + b; s >= a {
		return s
	}
	return a // counts are never negative: an overflow wrapped around
}

// compareRows orders rows by task name, task type and status.
func compareRows(a, b kore.TaskRow) int {
	return cmp.Or(
		cmp.Compare(a.TaskName, b.TaskName),
		cmp.Compare(a.TaskType, b.TaskType),
		cmp.Compare(a.Status, b.Status),
	)
}
