package config

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPlanSessions checks the Sessions History estimate: the steady cost at
// the busiest hour (12 runs an hour at 5m, each paging the sessions new
// since the last, plus the closed hour once in full), the rebuild after a
// start, and that the cost counts against the bot id's budget with its
// variants, so a bot that cannot fit is refused as the containment report
// alone would be.
func TestPlanSessions(t *testing.T) {
	t.Parallel()
	bot := func(name, id string, peak int, extra string) string {
		return `  - name: ` + name + `
    bot_id: st-00000000-0000-5000-8000-00000000000` + id + `
    client_id: cs-00000000-0000-5000-8000-000000000001
    client_secret: s
    windows: [1h, 24h, 7d]
    sessions: {enabled: true, peak_per_hour: ` + strconv.Itoa(peak) + `}
` + extra
	}
	c, err := Parse([]byte("bots:\n" + bot("small", "1", 100, "") + bot("mid", "2", 1000, "") + bot("big", "3", 10000, "") + bot("huge", "4", 100000, "")))
	if err != nil {
		t.Fatal(err)
	}
	plans := c.Plan()
	for i, want := range []SessionsPlan{
		// 12 × 1 + 1; rebuild 168 × 1 pages at 75 a run (half of 30/min × 5m).
		{RequestsPerHour: 13, RebuildHours: 168, RebuildPages: 168, RebuildPagesPerRun: 75, RebuildTime: 3 * 5 * time.Minute},
		// 12 × 1 + 10.
		{RequestsPerHour: 22, RebuildHours: 168, RebuildPages: 1680, RebuildPagesPerRun: 75, RebuildTime: 23 * 5 * time.Minute},
		// 12 × 9 + 100.
		{RequestsPerHour: 208, RebuildHours: 168, RebuildPages: 16800, RebuildPagesPerRun: 75, RebuildTime: 224 * 5 * time.Minute},
		{RequestsPerHour: 12*84 + 1000, RebuildHours: 168, RebuildPages: 168000, RebuildPagesPerRun: 75, RebuildTime: 2240 * 5 * time.Minute},
	} {
		p := plans[i]
		if p.Sessions != want {
			t.Errorf("%s: sessions %+v, want %+v", p.Name, p.Sessions, want)
		}
		if withoutSessions := 12 * 3 * 16; p.EstimatedRequestsPerHour != withoutSessions+want.RequestsPerHour {
			t.Errorf("%s: %d requests/hour, want the reports' %d + the sessions' %d", p.Name, p.EstimatedRequestsPerHour, withoutSessions, want.RequestsPerHour)
		}
	}
	if len(plans[2].Problems) != 0 || len(plans[3].Problems) != 1 || !strings.Contains(plans[3].Problems[0], "the sessions report takes about 2008/hour") {
		t.Errorf("problems: big %v, huge %v; want only huge's, naming the sessions report", plans[2].Problems, plans[3].Problems)
	}
	var out bytes.Buffer
	if err := c.WritePlan(&out, false); !errors.Is(err, ErrPlanCannotBeMet) {
		t.Errorf("WritePlan: %v, want ErrPlanCannotBeMet", err)
	}
	for _, want := range []string{
		"sessions: 4 bots count their sessions (Sessions History), about 2251/hour",
		"sessions: bot mid (bot_id st-00000000-0000-5000-8000-000000000002): about 22 requests/hour at 1000 sessions in the busiest hour (100 a page); after a start, up to 1680 pages rebuild the last 168 hours in about 1h55m (75 pages a run)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan does not say %q:\n%s", want, out.String())
		}
	}
}
