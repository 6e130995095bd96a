package report_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

// sessionsFunc is a report.SessionsRunner from a function.
type sessionsFunc func(visit func(kore.Session)) (kore.SessionsResult, error)

func (f sessionsFunc) Sessions(_ context.Context, _ string, _, _ time.Time, visit func(kore.Session)) (kore.SessionsResult, error) {
	return f(visit)
}

// TestCountSessions: the API's values are mapped to the bounded label
// values (an unknown channel, type or containment is "other"), and a
// failing paging returns no counts at all, whatever it visited first.
func TestCountSessions(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	sessions := []kore.Session{
		{Channel: "rtm", SessionType: "interactive", Containment: "selfService"},
		{Channel: "rtm", SessionType: "interactive", Containment: "selfService"},
		{Channel: "carrier-pigeon", SessionType: "non-interactive", Containment: "dropOff"},
		{Channel: "korevg", SessionType: "proactive", Containment: "escalated"},
	}
	visitAll := func(visit func(kore.Session)) {
		for _, s := range sessions {
			visit(s)
		}
	}
	counts, res, err := report.CountSessions(t.Context(), sessionsFunc(func(visit func(kore.Session)) (kore.SessionsResult, error) {
		visitAll(visit)
		return kore.SessionsResult{Pages: 1}, nil
	}), "st-1", t0, t0.Add(time.Hour))
	want := report.SessionCounts{
		{Containment: "self_service", Channel: "rtm", SessionType: "interactive"}:   2,
		{Containment: "drop_off", Channel: "other", SessionType: "non_interactive"}: 1,
		{Containment: "other", Channel: "korevg", SessionType: "other"}:             1,
	}
	if err != nil || res.Pages != 1 || !reflect.DeepEqual(counts, want) {
		t.Errorf("counts %v, %+v, %v; want %v", counts, res, err, want)
	}
	boom := errors.New("boom")
	counts, _, err = report.CountSessions(t.Context(), sessionsFunc(func(visit func(kore.Session)) (kore.SessionsResult, error) {
		visitAll(visit)
		return kore.SessionsResult{Pages: 1}, boom
	}), "st-1", t0, t0.Add(time.Hour))
	if !errors.Is(err, boom) || counts != nil {
		t.Errorf("a failed paging returned %v, %v; want no counts and its error", counts, err)
	}
}

// TestSessionRows: every containment for each channel and type, zeros
// included; other only where it counts.
func TestSessionRows(t *testing.T) {
	t.Parallel()
	rows := report.SessionRows("24h", report.SessionCounts{
		{Containment: "self_service", Channel: "rtm", SessionType: "interactive"}:  5,
		{Containment: "other", Channel: "rtm", SessionType: "interactive"}:         1,
		{Containment: "drop_off", Channel: "whatsapp", SessionType: "interactive"}: 2,
	})
	want := []report.SessionRow{
		{Window: "24h", Containment: "agent_transfer", Channel: "rtm", SessionType: "interactive", Sessions: 0},
		{Window: "24h", Containment: "agent_transfer", Channel: "whatsapp", SessionType: "interactive", Sessions: 0},
		{Window: "24h", Containment: "drop_off", Channel: "rtm", SessionType: "interactive", Sessions: 0},
		{Window: "24h", Containment: "drop_off", Channel: "whatsapp", SessionType: "interactive", Sessions: 2},
		{Window: "24h", Containment: "other", Channel: "rtm", SessionType: "interactive", Sessions: 1},
		{Window: "24h", Containment: "self_service", Channel: "rtm", SessionType: "interactive", Sessions: 5},
		{Window: "24h", Containment: "self_service", Channel: "whatsapp", SessionType: "interactive", Sessions: 0},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows\n%+v\nwant\n%+v", rows, want)
	}
}
