package collector

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/report"
)

// SessionsJob is the window label value of a bot's Sessions History job in
// the report self-metrics and on /status: the job counts the sessions of
// every window of the bot at once.
const SessionsJob = "sessions"

// sessionHour is the sessions that started in one hour, by class.
type sessionHour struct {
	counts report.SessionCounts
	// final is set once the hour has been counted in full after its end
	// (and delay); until then it is the hour in progress, counted up to
	// to.
	final bool
	to    time.Time
}

// sessionCounts are one bot's sessions per hour. Each hour is counted in
// full once, when it has closed: the hour in progress is counted on from
// where the last run stopped, and counted again in full once it has
// closed, so sessions that reach the API late count too. Windows are sums
// of hours, so a 7d window costs an hour's pages an hour, not a week's.
// It is used by one job's runs, one at a time.
type sessionCounts struct {
	hours map[int64]*sessionHour // by Unix hour
}

func newSessionCounts() *sessionCounts { return &sessionCounts{hours: map[int64]*sessionHour{}} }

// sessionsUpdate says what one update did.
type sessionsUpdate struct {
	// Pages is the getSessions pages read; Rebuilt the past hours counted
	// for the first time; Missing the hours of the longest window still
	// not counted (the rebuild goes on in the next runs).
	Pages, Rebuilt, Missing int
	// Duplicates and OutOfRange add up kore.SessionsResult's.
	Duplicates, OutOfRange int
}

// sessionsRef returns the instant the bot's sessions are counted up to at
// now: now − delay, as the containment report's windows end.
func sessionsRef(b config.Bot, now time.Time) time.Time { return now.Add(-b.Delay) }

// longestHours is the hours the bot's longest window spans.
func longestHours(b config.Bot) int {
	n := 0
	for _, w := range b.Windows {
		n = max(n, int(w.Duration/time.Hour))
	}
	return n
}

// count counts the sessions of [from, to), adding the pages read to up.
func count(ctx context.Context, c report.SessionsRunner, botID string, from, to time.Time, up *sessionsUpdate) (report.SessionCounts, error) {
	counts, res, err := report.CountSessions(ctx, c, botID, from, to)
	up.Pages += res.Pages
	up.Duplicates += res.Duplicates
	up.OutOfRange += res.OutOfRange
	return counts, err
}

// update brings the hours up to ref for a bot whose longest window spans
// keep hours: it forgets hours older than that, counts in full every hour
// that has closed since the last update, counts the hour in progress on
// from where the last update stopped, then counts past hours not counted
// yet (after a start), newest first, while fewer than rebuildPages pages
// were read in this update. It stops at the first error; what it counted
// before stays.
func (c *sessionCounts) update(ctx context.Context, cl report.SessionsRunner, botID string, ref time.Time, keep, rebuildPages int) (sessionsUpdate, error) {
	var up sessionsUpdate
	cur := ref.Truncate(time.Hour)
	oldest := cur.Add(-time.Duration(keep) * time.Hour)
	for h := range c.hours {
		if time.Unix(h*3600, 0).Before(oldest) {
			delete(c.hours, h)
		}
	}
	// Hours that have closed: counted again in full, then final.
	for _, h := range slices.Sorted(maps.Keys(c.hours)) {
		hs := time.Unix(h*3600, 0)
		if sh := c.hours[h]; !sh.final && !hs.Add(time.Hour).After(ref) {
			counts, err := count(ctx, cl, botID, hs, hs.Add(time.Hour), &up)
			if err != nil {
				return up, err
			}
			c.hours[h] = &sessionHour{counts: counts, final: true}
		}
	}
	// The hour in progress, from where the last update stopped.
	live := c.hours[cur.Unix()/3600]
	if live == nil {
		live = &sessionHour{counts: report.SessionCounts{}, to: cur}
	}
	if live.to.Before(ref) {
		counts, err := count(ctx, cl, botID, live.to, ref, &up)
		if err != nil {
			return up, err
		}
		merged := maps.Clone(live.counts)
		merged.Add(counts)
		live = &sessionHour{counts: merged, to: ref}
	}
	c.hours[cur.Unix()/3600] = live
	// Past hours not counted yet, newest first, within the rebuild pages.
	for hs := cur.Add(-time.Hour); !hs.Before(oldest); hs = hs.Add(-time.Hour) {
		if c.hours[hs.Unix()/3600] != nil {
			continue
		}
		if up.Pages >= rebuildPages {
			up.Missing++
			continue
		}
		counts, err := count(ctx, cl, botID, hs, hs.Add(time.Hour), &up)
		if err != nil {
			return up, err
		}
		c.hours[hs.Unix()/3600] = &sessionHour{counts: counts, final: true}
		up.Rebuilt++
	}
	return up, nil
}

// rows returns the kore_bot_sessions rows of every window of b whose hours
// are all counted, at ref: a window of n hours sums the n hours before the
// hour in progress and the hour in progress so far (report.SessionRows for
// each), in the order of windows.
func (c *sessionCounts) rows(windows []config.Window, ref time.Time) []report.SessionRow {
	cur := ref.Truncate(time.Hour)
	var out []report.SessionRow
	for _, w := range windows {
		sum := report.SessionCounts{}
		complete := true
		for i := 0; i <= int(w.Duration/time.Hour); i++ {
			sh := c.hours[cur.Add(-time.Duration(i)*time.Hour).Unix()/3600]
			if sh == nil {
				complete = false
				break
			}
			sum.Add(sh.counts)
		}
		if complete {
			out = append(out, report.SessionRows(w.Name, sum)...)
		}
	}
	return out
}

// errNoSessions is the error of a sessions job whose client cannot count
// sessions (a Runner without report.SessionsRunner).
var errNoSessions = errors.New("the bot's client cannot read the Sessions History API")
