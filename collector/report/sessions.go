package report

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kore-exporter/kore_exporter/collector/contract"
	"github.com/kore-exporter/kore_exporter/kore"
)

// SessionsRunner is what counting a bot's sessions needs of its client
// (kore.Client has it).
type SessionsRunner interface {
	Sessions(ctx context.Context, botID string, from, to time.Time, visit func(kore.Session)) (kore.SessionsResult, error)
}

// SessionKey is one class of sessions, as kore_bot_sessions labels it
// (label values of package contract).
type SessionKey struct{ Containment, Channel, SessionType string }

// SessionCounts are sessions by class.
type SessionCounts map[SessionKey]int64

// Add adds o's counts to c.
func (c SessionCounts) Add(o SessionCounts) {
	for k, n := range o {
		c[k] += n
	}
}

// CountSessions pages through the bot's sessions that started in
// [from, to) and counts them by class, the API's values mapped to the
// bounded label values of package contract. On error the counts are nil:
// a cut count is never returned.
func CountSessions(ctx context.Context, c SessionsRunner, botID string, from, to time.Time) (SessionCounts, kore.SessionsResult, error) {
	counts := SessionCounts{}
	res, err := c.Sessions(ctx, botID, from, to, func(s kore.Session) {
		counts[SessionKey{contract.SessionContainment(s.Containment), contract.SessionChannel(s.Channel), contract.SessionType(s.SessionType)}]++
	})
	if err != nil {
		return nil, res, fmt.Errorf("sessions [%s, %s): %w", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), err)
	}
	return counts, res, nil
}

// SessionRow is one kore_bot_sessions sample: a bot's sessions in a window
// with one containment type, channel and session type.
type SessionRow struct {
	Window, Containment, Channel, SessionType string
	Sessions                                  int64
}

// SessionRows returns the kore_bot_sessions rows of one window's counts:
// every containment of contract.SessionContainments for each channel and
// session type the counts hold, zero included, so ratios exist for each;
// contract.OtherValue only where it counts sessions. Sorted by containment,
// channel and session type.
func SessionRows(window string, counts SessionCounts) []SessionRow {
	classes := map[[2]string]bool{}
	for k := range counts {
		classes[[2]string{k.Channel, k.SessionType}] = true
	}
	var out []SessionRow
	for cl := range classes {
		for _, cont := range contract.SessionContainments() {
			out = append(out, SessionRow{Window: window, Containment: cont, Channel: cl[0], SessionType: cl[1], Sessions: counts[SessionKey{cont, cl[0], cl[1]}]})
		}
		if n := counts[SessionKey{contract.OtherValue, cl[0], cl[1]}]; n > 0 {
			out = append(out, SessionRow{Window: window, Containment: contract.OtherValue, Channel: cl[0], SessionType: cl[1], Sessions: n})
		}
	}
	slices.SortFunc(out, func(a, b SessionRow) int {
		return cmp.Or(cmp.Compare(a.Containment, b.Containment), cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.SessionType, b.SessionType))
	})
	return out
}
