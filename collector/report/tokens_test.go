package report

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kore-exporter/kore_exporter/kore"
	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

// jwtShape is a whole JWT: three base64url segments, the first starting eyJ.
var jwtShape = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)

// holdsToken reports whether a label of r holds a token or the start of one.
func holdsToken(r kore.TaskRow) bool {
	for _, v := range []string{r.TaskName, r.TaskType, r.Status} {
		if jwtShape.MatchString(v) || strings.Contains(v, "eyJ") {
			return true
		}
	}
	return false
}

func sessions(rows []kore.TaskRow) (n int64) {
	for _, r := range rows {
		n += r.TotalSession
	}
	return n
}

// TestExportedRowsRedactTokensFromSimulator: a report whose task names are,
// or contain, the submit request's token (koretest's TokenInTaskName) is
// read by later requests with other tokens, so the client's scrub of its own
// request's token leaves it in the rows; ExportedRows takes it out of every
// label, keeps the rows (the totals stay exact) and counts them, capped or
// not.
func TestExportedRowsRedactTokensFromSimulator(t *testing.T) {
	t.Parallel()
	sim := koretest.NewInMemory(koretest.WithJobDuration(0))
	b := koretest.DemoBots(1, 7)[0]
	sim.AddBot(b)
	sim.SetFault(b.ID, koretest.Fault{TokenInTaskName: true})
	c, err := kore.NewClient(kore.WithHost(sim.URL), kore.WithHTTPClient(sim.Client()),
		kore.WithCredentials(kore.Credentials{ClientID: b.ClientID, ClientSecret: b.ClientSecret}))
	if err != nil {
		t.Fatal(err)
	}
	to := time.Now().UTC().Truncate(time.Hour)
	rep, err := c.RunContainmentReport(t.Context(), b.ID, kore.ReportRequest{From: to.Add(-24 * time.Hour), To: to})
	if err != nil {
		t.Fatal(err)
	}
	raw := 0
	for _, r := range rep.Rows {
		if jwtShape.MatchString(r.TaskName) {
			raw++
		}
	}
	if raw != 2 {
		t.Fatalf("the client's rows hold %d task names with a token, want 2 (the fault's): the test no longer tests the gap", raw)
	}
	for _, max := range []int{0, 1000, 4} {
		rows, st, err := ExportedRows(rep.Rows, max)
		if err != nil {
			t.Fatalf("max %d: %v", max, err)
		}
		for _, r := range rows {
			if holdsToken(r) {
				t.Errorf("max %d: exported row holds a token: %q %q %q", max, r.TaskName, r.TaskType, r.Status)
			}
		}
		if got, want := sessions(rows), sessions(rep.Rows); got != want {
			t.Errorf("max %d: %d sessions exported, want the report's %d", max, got, want)
		}
		if st.Redacted != 2 {
			t.Errorf("max %d: Redacted %d, want 2", max, st.Redacted)
		}
		if max == 0 {
			names := map[string]bool{}
			for _, r := range rows {
				names[r.TaskName] = true
			}
			if !names[TokenPlaceholder] || !names["Book flight "+TokenPlaceholder] {
				t.Errorf("exported task names %v: want %q and %q", names, TokenPlaceholder, "Book flight "+TokenPlaceholder)
			}
		}
	}
}

// TestNormalizeRedactsTokens: every label holding a token or the start of
// one loses it, whichever field; rows that become the same are summed;
// rows is not modified; names that only look alike are kept.
func TestNormalizeRedactsTokens(t *testing.T) {
	t.Parallel()
	const (
		jwt1 = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhcHBJZCI6ImNzLTEifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
		jwt2 = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.b3RoZXItc2lnbmF0dXJl"
	)
	rows := []kore.TaskRow{
		{TaskName: jwt1, TaskType: "dialog", Status: "success", TotalSession: 1},
		{TaskName: jwt2, TaskType: "dialog", Status: "success", TotalSession: 2},
		{TaskName: "Book flight " + jwt1 + " now", TaskType: "dialog", Status: "success", TotalSession: 4},
		{TaskName: "Pay", TaskType: jwt2, Status: "failtask\xff" + jwt1, TotalSession: 8},
		{TaskName: "eyJ", TaskType: "dialog", Status: "success", TotalSession: 16},
		{TaskName: "Book flight", TaskType: "dialog", Status: "success", TotalSession: 32},
	}
	orig := append([]kore.TaskRow(nil), rows...)
	out, err := Normalize(rows)
	if err != nil {
		t.Fatal(err)
	}
	want := []kore.TaskRow{
		{TaskName: TokenPlaceholder, TaskType: "dialog", Status: "success", TotalSession: 3},
		{TaskName: "Book flight", TaskType: "dialog", Status: "success", TotalSession: 32},
		{TaskName: "Book flight " + TokenPlaceholder + " now", TaskType: "dialog", Status: "success", TotalSession: 4},
		{TaskName: "Pay", TaskType: TokenPlaceholder, Status: "failtask\uFFFD" + TokenPlaceholder, TotalSession: 8},
		{TaskName: "eyJ", TaskType: "dialog", Status: "success", TotalSession: 16},
	}
	if len(out) != len(want) {
		t.Fatalf("Normalize = %+v, want %+v", out, want)
	}
	for i := range want {
		if out[i] != want[i] {
			t.Errorf("row %d = %+v, want %+v", i, out[i], want[i])
		}
	}
	for i := range rows {
		if rows[i] != orig[i] {
			t.Errorf("rows[%d] modified: %+v", i, rows[i])
		}
	}
	red, n := RedactTokens(rows)
	if n != 4 || len(red) != len(rows) {
		t.Errorf("RedactTokens: %d rows of %d, %d redacted; want 6, 4", len(red), len(rows), n)
	}
	if clean := rows[4:]; func() bool { r, n := RedactTokens(clean); return n != 0 || &r[0] != &clean[0] }() {
		t.Errorf("RedactTokens copied clean rows or counted them")
	}
}
