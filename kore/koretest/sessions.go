package koretest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"mime"
	"net/http"
	"slices"
	"time"
)

// The Sessions History API (getSessions, kore/API.md §9), served from the
// same data as the containment report.
//
// Every whole number a task's cumulative count C passes is one session of
// that task (a unit; data.go): the containment report counts the units of
// its range. A simulated session is a run of 1 to 3 units of one
// containment type (self-service, drop-off, agent transfer), of different
// tasks, next to each other in time within one UTC hour: it starts at its
// first unit and ends some seconds to minutes after its last, so it may end
// in the next hour. So a session that ran three tasks is one session here
// and one session in each of its three tasks' rows there, and the bot's
// task-weighted ratios (sums of task rows) differ from its session-level
// ones. Self-service sessions run more tasks on average than drop-offs
// (assumption: a contained conversation goes on to a second request more
// often than an abandoned one).
//
// Assumptions where the docs are silent: a session belongs to the range its
// start_time falls in (dateTo exclusive); sessions that started after the
// server's now are not returned; the channel and session type of a session
// are drawn per session (the containment report's own channel tag and
// conversation type filters keep their per-task shares, data.go, and are
// not tied to these); a page holds at most the server's page cap (100, the
// size the docs' samples use; WithSessionsPageCap) whatever limit asks;
// total is the page's own count, as in the docs' sample (total 1,
// moreAvailable true), so a client must page on moreAvailable.

const sessionsPath = "/api/public/bot/{botId}/getSessions"

// DefaultSessionsPageCap is the most sessions one getSessions page holds.
const DefaultSessionsPageCap = 100

// WithSessionsPageCap sets the most sessions a getSessions page holds (at
// least 1), for tests of pages cut at odd sizes.
func WithSessionsPageCap(n int) Option { return func(s *Server) { s.sessionsPageCap = max(n, 1) } }

// scope is the App Builder API scope a call needs.
type scope int

const (
	scopeMetrics  scope = iota // the containment report
	scopeSessions              // Bot Sessions: getSessions
)

// Containment types and session types as the API spells them.
const (
	ContainmentSelfService = "selfService"
	ContainmentDropOff     = "dropOff"
	ContainmentAgent       = "agent"
	SessionInteractive     = "interactive"
	SessionNonInteractive  = "non-interactive"
)

var containmentNames = [...]string{compSelf: ContainmentSelfService, compDrop: ContainmentDropOff, compAgent: ContainmentAgent}

// SessionChannels are the channels simulated sessions come from: web and
// mobile SDK (rtm), WhatsApp, voice (korevg) and Microsoft Teams.
var SessionChannels = []string{"rtm", "whatsapp", "korevg", "msteams"}

// groupSizes are the cumulative chances of a session running 1 and 2 tasks
// (else 3), per containment type.
var groupSizes = [...][2]float64{compSelf: {0.45, 0.80}, compDrop: {0.75, 0.95}, compAgent: {0.60, 0.90}}

// Session is one simulated session as the simulator's truth gives it
// (Server.Sessions); the API answer carries more fields.
type Session struct {
	ID          string
	Start, End  time.Time
	Channel     string
	SessionType string
	Containment string
	// Tasks are the names of the tasks the session ran, one unit of each
	// in the containment report.
	Tasks []string
}

// unitAt is one unit: the instant C passed a whole number, and its task.
type unitAt struct {
	at   int64 // Unix nanoseconds
	task int
}

// hourSessions returns the sessions that start in Unix hour h, ordered by
// start. Every unit of the hour belongs to exactly one of them.
func (d *botData) hourSessions(seed uint64, h int64, surges map[int]surge) []Session {
	hs := time.Unix(h*3600, 0).UTC()
	he := hs.Add(time.Hour)
	var units [numComps][]unitAt
	for ti := range d.tasks {
		var sg *surge
		if s, ok := surges[ti]; ok {
			sg = &s
		}
		for st := range numStatus {
			a, b := d.values(ti, st, hs, sg), d.values(ti, st, he, sg)
			for c := compSelf; c <= compAgent; c++ {
				// C is linear within an hour (a surge that starts inside
				// the hour bends it once; the unit is then placed on the
				// chord, still inside its hour).
				for k := math.Floor(a[c]) + 1; k <= math.Floor(b[c]); k++ {
					ns := int64((k - a[c]) / (b[c] - a[c]) * float64(time.Hour))
					ns = min(max(ns, 0), int64(time.Hour)-1)
					units[c] = append(units[c], unitAt{hs.UnixNano() + ns, ti})
				}
			}
		}
	}
	var out []Session
	for c := compSelf; c <= compAgent; c++ {
		us := units[c]
		slices.SortFunc(us, func(x, y unitAt) int { return cmp.Or(cmp.Compare(x.at, y.at), cmp.Compare(x.task, y.task)) })
		r := newRNG(seed, 0x5e55, uint64(h), uint64(c))
		for i := 0; i < len(us); {
			size, p := 3, r.float()
			switch {
			case p < groupSizes[c][0]:
				size = 1
			case p < groupSizes[c][1]:
				size = 2
			}
			j := i + 1
			for j < len(us) && j-i < size && !slices.ContainsFunc(us[i:j], func(u unitAt) bool { return u.task == us[j].task }) {
				j++
			}
			tasks := make([]string, 0, j-i)
			for _, u := range us[i:j] {
				tasks = append(tasks, d.tasks[u.task].Name)
			}
			typ := SessionInteractive
			if r.float() < d.tasks[us[i].task].nonInteractive {
				typ = SessionNonInteractive
			}
			out = append(out, Session{
				ID:          fmt.Sprintf("s-%016x", hashOf(seed, 0x5e55, uint64(h), uint64(c), uint64(i))),
				Start:       time.Unix(0, us[i].at).UTC(),
				End:         time.Unix(0, us[j-1].at).UTC().Add(time.Duration(r.between(30, 1200) * float64(time.Second))),
				Channel:     d.channel(r.float()),
				SessionType: typ,
				Containment: containmentNames[c],
				Tasks:       tasks,
			})
			i = j
		}
	}
	slices.SortFunc(out, func(x, y Session) int { return cmp.Or(x.Start.Compare(y.Start), cmp.Compare(x.ID, y.ID)) })
	return out
}

// channel picks a session's channel for p in [0, 1) from the bot's mix.
func (d *botData) channel(p float64) string {
	for i, c := range d.channelMix {
		if p < c {
			return SessionChannels[i]
		}
	}
	return SessionChannels[len(SessionChannels)-1]
}

// sessions returns the sessions that start in [from, to) and before now,
// newest first (ties by id).
func (d *botData) sessions(seed uint64, from, to, now time.Time, surges map[int]surge) []Session {
	if to.After(now) {
		to = now
	}
	var out []Session
	if !from.Before(to) {
		return out
	}
	h0, _ := hourPos(from)
	h1, _ := hourPos(to.Add(-time.Nanosecond))
	for h := h0; h <= h1; h++ {
		for _, s := range d.hourSessions(seed, h, surges) {
			if !s.Start.Before(from) && s.Start.Before(to) {
				out = append(out, s)
			}
		}
	}
	slices.SortFunc(out, func(x, y Session) int { return cmp.Or(y.Start.Compare(x.Start), cmp.Compare(x.ID, y.ID)) })
	return out
}

// Sessions returns the simulator's truth: the bot's sessions that start in
// [from, to), as of the clock's now, newest first. A correct client that
// pages through getSessions for that range counts exactly these.
func (s *Server) Sessions(botID string, from, to time.Time) []Session {
	bs := s.bot(botID)
	if bs == nil {
		return nil
	}
	d := bs.getData()
	s.mu.Lock()
	surges := maps.Clone(bs.surges)
	s.mu.Unlock()
	return d.sessions(bs.seed, from, to, s.clock.Now(), surges)
}

// sessionsRequest is a validated getSessions call.
type sessionsRequest struct {
	from, to    time.Time
	containment string // "": all
	sessionType string // "": all
	skip, limit int
}

// parseSessionsRequest reads and validates a getSessions call.
//
// Assumptions where the docs are silent: the body is one JSON object and
// keys the docs do not list are refused (400), like the containment
// report's filters; skip and offset are the same (offset wins when both
// are sent); a missing limit is the page cap; dateFrom defaults to 7 days
// before dateTo, dateTo to now; the range has no upper bound; tags,
// userId, includeMeta and sessionId are accepted and, but for sessionId
// (which selects those ids, all other filters ignored, as documented),
// ignored, since no simulated session carries them.
func parseSessionsRequest(r *http.Request, now time.Time) (*sessionsRequest, []string, error) {
	req := &sessionsRequest{}
	if v := r.URL.Query().Get("containmentType"); v != "" {
		if !slices.Contains(containmentNames[:], v) {
			return nil, nil, badf("containmentType must be one of dropOff, selfService, agent")
		}
		req.containment = v
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	switch {
	case err != nil:
		return nil, nil, badf("request body could not be read")
	case len(body) > maxBodyBytes:
		return nil, nil, badf("request body is too large")
	}
	fields := map[string]json.RawMessage{}
	if body = bytes.TrimSpace(body); len(body) > 0 && !isNull(body) {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			return nil, nil, badf("Content-Type must be application/json")
		}
		if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
			return nil, nil, badf("request body must be a JSON object")
		}
	}
	var fromSet, toSet bool
	var ids []string
	offset := -1
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		v := fields[k]
		if isNull(v) {
			continue
		}
		var err error
		switch k {
		case "dateFrom":
			req.from, err = parseDate(k, v)
			fromSet = true
		case "dateTo":
			req.to, err = parseDate(k, v)
			toSet = true
		case "skip", "offset", "limit":
			var n int
			if json.Unmarshal(v, &n) != nil || n < 0 {
				err = badf("%s must be a non-negative integer", k)
			}
			switch k {
			case "skip":
				req.skip = n
			case "offset":
				offset = n
			default:
				req.limit = n
			}
		case "sessionType":
			var s string
			if json.Unmarshal(v, &s) != nil || (s != SessionInteractive && s != SessionNonInteractive) {
				err = badf("sessionType must be one of interactive, non-interactive")
			}
			req.sessionType = s
		case "sessionId":
			if json.Unmarshal(v, &ids) != nil || len(ids) > 50 {
				err = badf("sessionId must be an array of at most 50 strings")
			}
		case "tags", "userId", "includeMeta":
		default:
			err = badf("%s is not a valid field", k)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if offset >= 0 {
		req.skip = offset
	}
	switch {
	case !toSet:
		req.to = now.UTC()
		if !fromSet {
			req.from = req.to.Add(-defaultRange)
		}
	case !fromSet:
		req.from = req.to.Add(-defaultRange)
	}
	if !req.from.Before(req.to) {
		return nil, nil, badf("dateFrom must be before dateTo")
	}
	return req, ids, nil
}

// wireSession is a session as getSessions returns it: the documented
// fields, user data (userId, tags with a phone number) included, which
// clients must never turn into labels or logs.
type wireSession struct {
	SessionID      string         `json:"sessionId"`
	BotID          string         `json:"botId"`
	Channel        string         `json:"channel"`
	UserID         string         `json:"userId"`
	StartTime      string         `json:"start_time"`
	EndTime        string         `json:"end_time"`
	SessionLang    []string       `json:"session_lang"`
	SessionType    string         `json:"sessionType"`
	IsDeveloper    bool           `json:"isDeveloper"`
	SessionStatus  string         `json:"sessionStatus"`
	Tags           map[string]any `json:"tags"`
	Messages       int            `json:"noOfMessagesExchanged"`
	TasksExecuted  int            `json:"noOfTasksExecuted"`
	ContainmentTyp string         `json:"containmentType"`
}

type sessionsPage struct {
	Total         int           `json:"total"`
	MoreAvailable bool          `json:"moreAvailable"`
	Sessions      []wireSession `json:"sessions"`
}

// serveSessions answers POST …/getSessions with one page of sessions,
// newest first.
func (s *Server) serveSessions(w http.ResponseWriter, r *http.Request) {
	bs, _, now := s.admit(w, r, http.MethodPost, "", scopeSessions)
	if bs == nil {
		return
	}
	req, ids, err := parseSessionsRequest(r, now)
	if err != nil {
		s.badRequest(w, bs, err)
		return
	}
	d := bs.getData()
	s.mu.Lock()
	surges := maps.Clone(bs.surges)
	f := bs.fault
	s.mu.Unlock()
	all := d.sessions(bs.seed, req.from, req.to, now, surges)
	all = slices.DeleteFunc(all, func(x Session) bool {
		if len(ids) > 0 {
			return !slices.Contains(ids, x.ID)
		}
		return (req.containment != "" && x.Containment != req.containment) || (req.sessionType != "" && x.SessionType != req.sessionType)
	})
	limit := s.sessionsPageCap
	if req.limit > 0 {
		limit = min(req.limit, limit)
	}
	lo := min(req.skip, len(all))
	hi := min(lo+limit, len(all))
	page := sessionsPage{Total: hi - lo, MoreAvailable: hi < len(all), Sessions: make([]wireSession, 0, hi-lo)}
	for _, x := range all[lo:hi] {
		page.Sessions = append(page.Sessions, wireSession{
			SessionID: x.ID, BotID: bs.bot.ID, Channel: x.Channel,
			UserID:    fmt.Sprintf("u-%016x", hashOf(bs.seed, hashString(x.ID))),
			StartTime: x.Start.Format(timeLayout), EndTime: x.End.Format(timeLayout),
			SessionLang: []string{"en"}, SessionType: x.SessionType, SessionStatus: "closed",
			Tags:           map[string]any{"userTags": []any{}, "sessionTags": []any{map[string]any{"name": "caller", "value": fmt.Sprintf("+1555%07d", hashString(x.ID)%1e7)}}, "altText": []any{}},
			Messages:       2 + 3*len(x.Tasks),
			TasksExecuted:  len(x.Tasks),
			ContainmentTyp: x.Containment,
		})
	}
	s.mu.Lock()
	bs.stats.SessionPages++
	s.mu.Unlock()
	writeOK(w, page, f)
}
