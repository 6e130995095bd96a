package kore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The Sessions History API (API.md §9): POST …/getSessions returns one
// page of a bot's sessions, newest first, synchronously (no job). It needs
// the app's Bot Sessions scope and takes its requests from the bot's budget,
// like the containment report.

const (
	// SessionsPageSize is the limit each getSessions call asks for: the
	// size the docs' samples use (the maximum is undocumented). A page may
	// hold fewer; the client pages on moreAvailable, never on total.
	SessionsPageSize = 100
	// maxSessionsBody bounds one getSessions answer: 100 sessions with
	// their tags take tens of KiB.
	maxSessionsBody = 8 << 20
	// MaxSessionPages bounds the pages of one range (a million sessions
	// at 100 a page): an API that always says moreAvailable cannot keep a
	// run going until its timeout.
	MaxSessionPages = 10000
)

// Session is what the client reads of a session: when it started and how
// it is classified. The session id is read only to drop a session seen
// twice; the user id, tags, languages and messages are never read.
type Session struct {
	Start       time.Time
	Channel     string
	SessionType string // interactive, non-interactive, or as the API sent it
	Containment string // selfService, dropOff, agent, or as the API sent it
}

// SessionsResult sums up one paging through a range.
type SessionsResult struct {
	// Pages is the number of getSessions calls answered.
	Pages int
	// Duplicates counts sessions returned twice (a session that started
	// while the pages were read pushes the next ones down a place).
	Duplicates int
	// OutOfRange counts sessions whose start_time lies outside the range
	// asked for; they are not visited.
	OutOfRange int
}

// wireSessionsPage is a getSessions answer; only the fields the client
// uses are decoded.
type wireSessionsPage struct {
	MoreAvailable *bool `json:"moreAvailable"`
	Sessions      *[]struct {
		SessionID   *string `json:"sessionId"`
		StartTime   *string `json:"start_time"`
		Channel     string  `json:"channel"`
		SessionType string  `json:"sessionType"`
		Containment string  `json:"containmentType"`
	} `json:"sessions"`
}

type sessionsBody struct {
	DateFrom string `json:"dateFrom"`
	DateTo   string `json:"dateTo"`
	Skip     int    `json:"skip"`
	Limit    int    `json:"limit"`
}

// Sessions pages through the bot's sessions that started in [from, to)
// and calls visit once for each. It stops when a page says moreAvailable
// false; a page that is empty but says more is an error, as are more than
// MaxSessionPages pages. visit is not called for a session seen before in
// this paging or starting outside the range (the result counts both).
func (c *Client) Sessions(ctx context.Context, botID string, from, to time.Time, visit func(Session)) (SessionsResult, error) {
	var res SessionsResult
	if strings.TrimSpace(botID) == "" {
		return res, errors.New("kore: bot id is empty")
	}
	if !from.Before(to) {
		return res, fmt.Errorf("kore: sessions: from (%s) must be before to (%s)", from.UTC().Format(DateFormat), to.UTC().Format(DateFormat))
	}
	path := "/api/public/bot/" + url.PathEscape(botID) + "/getSessions"
	seen := map[string]struct{}{}
	for skip := 0; ; {
		if res.Pages == MaxSessionPages {
			return res, fmt.Errorf("kore: sessions [%s, %s): more than %d pages; narrow the range", from.UTC().Format(DateFormat), to.UTC().Format(DateFormat), MaxSessionPages)
		}
		body, err := json.Marshal(sessionsBody{from.UTC().Format(DateFormat), to.UTC().Format(DateFormat), skip, SessionsPageSize})
		if err != nil {
			return res, err
		}
		data, err := c.do(ctx, &call{botID: botID, endpoint: EndpointSessions, method: http.MethodPost, path: path, body: body, maxBody: maxSessionsBody, readOnly: true})
		if err != nil {
			return res, err
		}
		res.Pages++
		page, err := decodeSessionsPage(data)
		if err != nil {
			return res, err
		}
		for _, s := range page.sessions {
			if _, dup := seen[s.id]; dup {
				res.Duplicates++
				continue
			}
			seen[s.id] = struct{}{}
			if s.Start.Before(from) || !s.Start.Before(to) {
				res.OutOfRange++
				continue
			}
			visit(s.Session)
		}
		if !page.more {
			return res, nil
		}
		if len(page.sessions) == 0 {
			return res, &DecodeError{Endpoint: EndpointSessions, Field: "moreAvailable", Err: errors.New("true on a page without sessions")}
		}
		skip += len(page.sessions)
	}
}

type sessionsPage struct {
	more     bool
	sessions []struct {
		id string
		Session
	}
}

// decodeSessionsPage decodes one getSessions answer; a missing
// moreAvailable, sessions, sessionId or start_time is an error naming it.
func decodeSessionsPage(data []byte) (*sessionsPage, error) {
	var w wireSessionsPage
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, decodeErr(EndpointSessions, data, err)
	}
	if w.MoreAvailable == nil {
		return nil, &DecodeError{Endpoint: EndpointSessions, Field: "moreAvailable", Err: errMissing}
	}
	if w.Sessions == nil {
		return nil, &DecodeError{Endpoint: EndpointSessions, Field: "sessions", Err: errMissing}
	}
	p := &sessionsPage{more: *w.MoreAvailable}
	for i, s := range *w.Sessions {
		field := func(name string) string { return fmt.Sprintf("sessions[%d].%s", i, name) }
		if s.SessionID == nil || *s.SessionID == "" {
			return nil, &DecodeError{Endpoint: EndpointSessions, Field: field("sessionId"), Err: errMissing}
		}
		if s.StartTime == nil {
			return nil, &DecodeError{Endpoint: EndpointSessions, Field: field("start_time"), Err: errMissing}
		}
		start, err := time.Parse(time.RFC3339Nano, *s.StartTime)
		if err != nil {
			// The value is not quoted: a session's fields may carry user
			// data, which never reaches an error or a log.
			return nil, &DecodeError{Endpoint: EndpointSessions, Field: field("start_time"), Err: fmt.Errorf("not an RFC 3339 time (%d bytes)", len(*s.StartTime))}
		}
		p.sessions = append(p.sessions, struct {
			id string
			Session
		}{*s.SessionID, Session{Start: start, Channel: s.Channel, SessionType: s.SessionType, Containment: s.Containment}})
	}
	return p, nil
}
