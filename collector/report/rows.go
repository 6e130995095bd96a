package report

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/contract"
	"github.com/kore-exporter/kore_exporter/kore"
)

// Stats counts what ExportedRows changed in a report's rows.
type Stats struct {
	// Folded is how many task rows were folded (Fold).
	Folded int
	// Redacted is how many rows had a token in a label (RedactTokens).
	Redacted int
}

// ExportedRows returns the rows the exporter publishes for a report's rows:
// without tokens in their labels (RedactTokens), capped at maxTaskRows
// (Fold), with valid UTF-8 labels, summed by key and sorted (Normalize);
// and how many rows were redacted and folded.
func ExportedRows(rows []kore.TaskRow, maxTaskRows int) ([]kore.TaskRow, Stats, error) {
	var st Stats
	rows, st.Redacted = RedactTokens(rows)
	rows, folded, err := Fold(rows, maxTaskRows)
	if err != nil {
		return nil, Stats{}, err
	}
	st.Folded = folded
	rows, err = Normalize(rows)
	return rows, st, err
}

// TokenPlaceholder replaces a token in a label value: the marker the
// exporter's logs and status page put in place of a token.
const TokenPlaceholder = config.TokenPlaceholder

// RedactTokens returns rows with every token in a label (task name, task
// type, status) cut out and replaced by TokenPlaceholder, and how many rows
// held one. The client scrubs only its own request's token from an answer;
// a report page read with one token may echo another (the submit's, an
// earlier run's), so the rows are checked for the shape of any token, not
// for the tokens the client issued (it keeps none). A row that held a token
// is kept, so the totals stay exact; rows whose labels are then the same
// are summed by Normalize. rows is not modified; it is returned as is when
// no row holds a token.
func RedactTokens(rows []kore.TaskRow) ([]kore.TaskRow, int) {
	var out []kore.TaskRow
	n := 0
	for i, r := range rows {
		name, typ, status := config.ScrubTokens(r.TaskName), config.ScrubTokens(r.TaskType), config.ScrubTokens(r.Status)
		if name == r.TaskName && typ == r.TaskType && status == r.Status {
			continue
		}
		if out == nil {
			out = slices.Clone(rows)
		}
		out[i].TaskName, out[i].TaskType, out[i].Status = name, typ, status
		n++
	}
	if out == nil {
		return rows, 0
	}
	return out, n
}

// Normalize returns rows with no token in their labels (as RedactTokens),
// valid UTF-8 labels and no DateRange, summed by (TaskName, TaskType,
// Status) and sorted by that key. A sum beyond the int64 range is an error
// (kore.ErrCountOverflow). rows is not modified. Every row the exporter
// publishes (Store.Publish) or the backfill writes (ExportedRows) passes
// through it, so no label value from the API can carry a token; callers
// that report how many rows held one call RedactTokens first.
func Normalize(rows []kore.TaskRow) ([]kore.TaskRow, error) {
	out := make([]kore.TaskRow, 0, len(rows))
	seen := make(map[kore.RowKey]int, len(rows))
	for _, r := range rows {
		r.TaskName, r.TaskType, r.Status = config.ScrubTokens(r.TaskName), config.ScrubTokens(r.TaskType), config.ScrubTokens(r.Status)
		r.TaskName, r.TaskType, r.Status = contract.LabelValue(r.TaskName), contract.LabelValue(r.TaskType), contract.LabelValue(r.Status)
		r.DateRange = ""
		if i, ok := seen[r.Key()]; ok {
			if err := out[i].Add(&r); err != nil {
				return nil, err
			}
			continue
		}
		seen[r.Key()] = len(out)
		out = append(out, r)
	}
	slices.SortFunc(out, compareRows)
	return slices.Clip(out), nil
}

// A dialog task named exactly contract.OtherTasks of type contract.Other is
// not expected; if one exists, its counts are summed with the folded ones,
// so the bot's totals stay exact either way.

// The statuses kept on folded rows; any other status is folded into
// contract.Other too, so folding adds at most len(foldStatuses)+1 rows.
var foldStatuses = []string{"failtask", "success"}

// Fold caps rows (one per task name × task type × status, as kore.Report
// returns them) at max rows. When there are more, whole tasks (every status
// of one name and type) are kept, largest first by sessions, then
// executions, then name and type, and the others are summed into one row
// per status on the reserved task (contract.OtherTasks, contract.Other), so
// the totals over all tasks stay exact. It returns the rows to publish,
// sorted by key, and how many task rows were folded. A sum beyond the int64
// range is an error (kore.ErrCountOverflow). rows is not modified. A max of
// 0 or less means no cap (the configuration always sets one).
func Fold(rows []kore.TaskRow, max int) ([]kore.TaskRow, int, error) {
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
				o = &kore.TaskRow{TaskName: contract.OtherTasks, TaskType: contract.Other, Status: st}
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
	return contract.Other
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
