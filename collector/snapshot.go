package collector

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kore-exporter/kore_exporter/collector/contract"
	"github.com/kore-exporter/kore_exporter/collector/internal/expo"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

// BotInfo is one configured bot as kore_bot_info exposes it.
type BotInfo struct {
	// Name is the bot label value (the configured name).
	Name string
	// BotID is the Kore.ai bot id.
	BotID string
	// Host is the API base URL.
	Host string
	// Labels are the bot's static labels (config labels:), exported on
	// kore_bot_info only.
	Labels map[string]string
}

// labels returns b's kore_bot_info labels (contract.BotInfoPairs).
func (b BotInfo) labels() [][2]string {
	return contract.BotInfoPairs(b.Name, b.BotID, b.Host, b.Labels)
}

// Part is the data of one bot × window job: the rows of its last successful
// report. A Part is immutable once published; its Rows must not be
// modified.
type Part struct {
	// Bot is the configured bot name; Window the window as written.
	Bot, Window string
	// Rows are the report's rows, one per (TaskName, TaskType, Status),
	// sorted by that key, with valid UTF-8 labels and no DateRange.
	Rows []kore.TaskRow
	// Sessions are the kore_bot_sessions rows of a bot's Sessions History
	// job (Window SessionsJob, no Rows).
	Sessions []SessionRow
	// At is when the job finished; Expires is when its rows stop being
	// served unless a newer run replaces them (zero: never).
	At, Expires time.Time

	enc expo.Pieces
}

// expired reports whether the part's expiry has passed at now.
func (p *Part) expired(now time.Time) bool {
	return !p.Expires.IsZero() && !now.Before(p.Expires)
}

// Snapshot is an immutable view of everything the data metrics expose:
// the configured bots and the last rows of every bot × window job, with
// their exposition pre-encoded. A Store publishes a new Snapshot on every
// change; readers load it once and never lock.
type Snapshot struct {
	generation uint64    // counts the snapshots of a Store, from 0
	bots       []BotInfo // sorted by Name
	parts      []*Part   // sorted by (Bot, Window)
	botInfo    *expo.Pieces
	bodies     [expo.NumFormats]expo.Body
}

// findPart binary-searches parts, sorted by (Bot, Window), for bot × window.
func findPart(parts []*Part, bot, window string) (int, bool) {
	return slices.BinarySearchFunc(parts, [2]string{bot, window}, func(p *Part, k [2]string) int {
		return cmp.Or(cmp.Compare(p.Bot, k[0]), cmp.Compare(p.Window, k[1]))
	})
}

// spliceAt returns a new slice: s with v at index i, replacing s[i] if
// found, else inserted there (i and found as a binary search returns them).
func spliceAt(s []*Part, i int, found bool, v *Part) []*Part {
	out := make([]*Part, 0, len(s)+1)
	out = append(out, s[:i]...)
	out = append(out, v)
	if found {
		i++
	}
	return append(out, s[i:]...)
}

// Store holds the current Snapshot. Writers (Publish, Sweep, Retain,
// SetBots) are serialised by a mutex (which also serialises the encoder's
// Layout calls) and each ends with at most one atomic pointer swap;
// readers (Load, and so every scrape) never wait for a writer and never see
// half of a change. The expensive work of a Publish (merging and
// pre-encoding rows) runs before the writer lock is taken.
type Store struct {
	mu  sync.Mutex // serialises writers; readers never take it
	cur atomic.Pointer[Snapshot]
	enc *expo.Encoder
}

// NewStore returns a Store holding an empty snapshot.
func NewStore() *Store {
	s := &Store{enc: expo.NewSharedEncoder(dataFamilies)}
	s.cur.Store(s.build(nil, nil, nil, nil))
	return s
}

// Load returns the current snapshot. It never blocks.
func (s *Store) Load() *Snapshot { return s.cur.Load() }

// swap calls next with the current snapshot, with the writer lock held,
// and publishes what it returns; nil leaves the current snapshot.
func (s *Store) swap(next func(old *Snapshot) *Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := next(s.cur.Load()); v != nil {
		s.cur.Store(v)
	}
}

// SetBots replaces the configured bots, the kore_bot_info series, on a
// config (re)load. Names must be unique; for a repeated name the last entry
// wins. Parts of bots or windows no longer configured are dropped with
// Retain.
func (s *Store) SetBots(bots []BotInfo) {
	clean := make([]BotInfo, 0, len(bots))
	for _, b := range bots {
		clean = append(clean, BotInfo{Name: validUTF8(b.Name), BotID: validUTF8(b.BotID), Host: validUTF8(b.Host), Labels: maps.Clone(b.Labels)})
	}
	// Stable sort, then keep the last of equal names.
	slices.SortStableFunc(clean, func(a, b BotInfo) int { return cmp.Compare(a.Name, b.Name) })
	out := clean[:0]
	for i, b := range clean {
		if i+1 < len(clean) && clean[i+1].Name == b.Name {
			continue
		}
		out = append(out, b)
	}
	out = slices.Clip(out)
	enc := encodeBotInfo(s.enc, out)

	s.swap(func(old *Snapshot) *Snapshot { return s.build(old, out, &enc, old.parts) })
}

// Retain drops every part for which keep returns false, so its series
// disappear from the next scrape. keep is called with the store's writer
// lock held and must not call the Store.
func (s *Store) Retain(keep func(bot, window string) bool) (removed int) {
	return s.drop(func(p *Part) bool { return !keep(p.Bot, p.Window) })
}

// Publish replaces the part of bot × window with rows, the result of a job
// that finished at at; the rows are served until expires (the scheduler
// passes at + stale_after; zero means never) unless a later Publish
// replaces them. Label values that are not valid UTF-8 are repaired with
// U+FFFD, and rows whose labels are then the same are summed, so the
// exposition never repeats a series. A sum beyond the int64 range is an
// error, and the part is left as it was. rows is not retained. It returns
// how many rows the part holds.
func (s *Store) Publish(bot, window string, rows []kore.TaskRow, at, expires time.Time) (int, error) {
	bot, window = validUTF8(bot), validUTF8(window)
	merged, err := report.Normalize(rows)
	if err != nil {
		return 0, fmt.Errorf("publish %s × %s: %w", bot, window, err)
	}
	p := &Part{
		Bot:     bot,
		Window:  window,
		Rows:    merged,
		At:      at,
		Expires: expires,
		enc:     encodePart(s.enc, bot, window, merged),
	}

	s.swap(func(old *Snapshot) *Snapshot {
		i, found := findPart(old.parts, bot, window)
		return s.build(old, old.bots, old.botInfo, spliceAt(old.parts, i, found, p))
	})
	return len(merged), nil
}

// SessionRow is one kore_bot_sessions sample of a bot (report.SessionRow).
type SessionRow = report.SessionRow

// PublishSessions replaces the kore_bot_sessions series of bot with rows,
// the result of its Sessions History job that finished at at, served until
// expires unless a later PublishSessions replaces them. They are the part
// of bot × SessionsJob (Retain and Sweep treat it as any part). It returns
// how many rows the part holds.
func (s *Store) PublishSessions(bot string, rows []SessionRow, at, expires time.Time) int {
	bot = validUTF8(bot)
	clean := make([]SessionRow, len(rows))
	for i, r := range rows {
		clean[i] = SessionRow{Window: validUTF8(r.Window), Containment: validUTF8(r.Containment), Channel: validUTF8(r.Channel), SessionType: validUTF8(r.SessionType), Sessions: r.Sessions}
	}
	p := &Part{Bot: bot, Window: SessionsJob, Sessions: clean, At: at, Expires: expires, enc: encodeSessions(s.enc, bot, clean)}
	s.swap(func(old *Snapshot) *Snapshot {
		i, found := findPart(old.parts, bot, SessionsJob)
		return s.build(old, old.bots, old.botInfo, spliceAt(old.parts, i, found, p))
	})
	return len(clean)
}

// Sweep drops the parts whose expiry has passed at now, so their series
// disappear, and returns how many it dropped.
func (s *Store) Sweep(now time.Time) (removed int) {
	return s.drop(func(p *Part) bool { return p.expired(now) })
}

// drop drops the parts for which del returns true, called with the writer
// lock held, and returns how many it dropped.
func (s *Store) drop(del func(p *Part) bool) (removed int) {
	s.swap(func(old *Snapshot) *Snapshot {
		parts := slices.DeleteFunc(slices.Clone(old.parts), del)
		if removed = len(old.parts) - len(parts); removed == 0 {
			return nil
		}
		return s.build(old, old.bots, old.botInfo, parts)
	})
	return removed
}

// build assembles a snapshot: it lists, family by family, the pre-encoded
// pieces of every part. Its cost grows with the number of parts, not rows.
func (s *Store) build(old *Snapshot, bots []BotInfo, botInfo *expo.Pieces, parts []*Part) *Snapshot {
	sn := &Snapshot{bots: bots, parts: parts, botInfo: botInfo}
	if old != nil {
		sn.generation = old.generation + 1
	}
	// The units: the configured bots, then every part.
	s.enc.Layout(&sn.bodies, 1+len(parts), func(i int) *expo.Pieces {
		if i == 0 {
			return botInfo
		}
		return &parts[i-1].enc
	})
	return sn
}

// validUTF8 repairs s so it can be a label value.
func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
