package koretest

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"
)

const (
	reportPath = "/api/public/bot/{botId}/taskContainmentReport"
	statusPath = reportPath + "/status/{id}"
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(reportPath, s.withFaults(false, s.serveSubmit))
	mux.HandleFunc(statusPath, s.withFaults(true, s.serveStatus))
	mux.HandleFunc(sessionsPath, s.withFaults(false, s.serveSessions))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Assumption: unknown paths answer a JSON 404.
		writeError(w, http.StatusNotFound, http.StatusNotFound, "Not Found")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every answer carries the server clock's Date, as net/http's
		// server sends the real clock's (clients measure clock skew by
		// it).
		w.Header().Set("Date", s.clock.Now().UTC().Format(http.TimeFormat))
		mux.ServeHTTP(w, r)
	})
}

// admit runs the steps every call shares: method, bot lookup, injected
// faults, authentication and the bot's rate limits. It returns the bot and
// the time of the call, or nil when it has answered (or abandoned) the
// request. For status calls, jobID is the job whose own limit applies too;
// the job is returned (nil for a submit).
//
// Assumption: faults act in front of everything (like a proxy), then the
// token is checked, then the rate limits; a refused call (401, 429) takes
// no rate-limit slot, every admitted call (even one answered 400 or 404)
// takes one.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, method, jobID string, sc scope) (*botState, *job, time.Time) {
	if r.Method != method {
		w.Header().Set("Allow", method)
		writeError(w, http.StatusMethodNotAllowed, http.StatusMethodNotAllowed, "Method Not Allowed")
		return nil, nil, time.Time{}
	}
	s.mu.Lock()
	bs := s.bots[r.PathValue("botId")]
	if bs == nil {
		s.mu.Unlock()
		writeError(w, http.StatusUnauthorized, codeAuth, msgBadCredentials)
		return nil, nil, time.Time{}
	}
	bs.stats.Requests++
	f := bs.fault
	s.mu.Unlock()

	if f.Hang {
		s.wait(r.Context(), -1)
		panic(http.ErrAbortHandler) // no response: drop the connection
	}
	if f.Latency > 0 && !s.wait(r.Context(), f.Latency) {
		panic(http.ErrAbortHandler)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	if bs.fault.ServerErrors > 0 {
		bs.fault.ServerErrors--
		bs.stats.ServerErrors++
		writeInjectedServerError(w, r, bs.errSeq, bs.fault)
		bs.errSeq++
		return nil, nil, time.Time{}
	}
	if bs.fault.RateLimited {
		bs.stats.RateLimited++
		retry := bs.fault.RetryAfter
		if retry <= 0 {
			retry = time.Minute
		}
		writeRateLimited(w, msgRateLimit, retry)
		return nil, nil, time.Time{}
	}
	jtis := s.jtis[bs.bot.ClientID]
	if jtis == nil {
		jtis = make(map[string]time.Time)
		s.jtis[bs.bot.ClientID] = jtis
	}
	if e := verifyToken(bs, jtis, r, now, sc); e != nil {
		bs.stats.Unauthorized++
		writeError(w, http.StatusUnauthorized, e.code, e.msg)
		return nil, nil, time.Time{}
	}
	if ok, msg, retry := bs.calls.check(now, s.perMinute, s.perHour); !ok {
		bs.stats.RateLimited++
		writeRateLimited(w, msg, retry)
		return nil, nil, time.Time{}
	}
	var j *job
	if method == http.MethodGet {
		j = s.jobs[jobID]
		if j == nil || j.botID != bs.bot.ID || !now.Before(j.expireAt) {
			bs.calls.add(now)
			bs.stats.NotFound++
			writeError(w, http.StatusNotFound, http.StatusNotFound, "Request not found")
			return nil, nil, time.Time{}
		}
		if ok, msg, retry := j.calls.check(now, s.jobPerMinute, s.jobPerHour); !ok {
			bs.stats.RateLimited++
			writeRateLimited(w, msg, retry)
			return nil, nil, time.Time{}
		}
		j.calls.add(now)
	}
	bs.calls.add(now)
	return bs, j, now
}

// wait blocks for d (forever if d < 0) or until ctx ends or the server
// closes. It reports whether d passed.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	var timeout <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return true
	case <-ctx.Done():
	case <-s.done:
	}
	return false
}

// serveSubmit answers POST …/taskContainmentReport: it validates the
// request, creates a job for the requested page and returns its envelope.
// Assumption: the report is computed at submission, as of createdOn (data
// after createdOn, and surges set later, are not in it).
func (s *Server) serveSubmit(w http.ResponseWriter, r *http.Request) {
	bs, _, now := s.admit(w, r, http.MethodPost, "", scopeMetrics)
	if bs == nil {
		return
	}
	req, err := parseReportRequest(r, now)
	if err != nil {
		s.badRequest(w, bs, err)
		return
	}
	data := bs.getData()

	s.mu.Lock()
	f := bs.fault
	surges := maps.Clone(bs.surges)
	s.sweepJobs(now)
	j := &job{
		id:        "ds-" + s.ids.uuid(),
		botID:     bs.bot.ID,
		userID:    bs.userID,
		createdOn: now,
		expireAt:  now.Add(s.jobExpiry),
		fail:      f.FailJobs,
		never:     f.NeverFinish,
	}
	s.mu.Unlock()

	if !j.fail && !j.never {
		rows := data.report(req.from, req.to, req.agg, req.filters, now, surges)
		if f.SplitRows {
			rows = splitSome(rows)
		}
		rows = spoilRows(rows, f, req, r.Header.Get("Auth"))
		j.total = len(rows) + f.TotalOffset
		lo := min(req.skip, len(rows))
		hi := len(rows)
		if req.limit > 0 {
			hi = min(lo+req.limit, hi)
		}
		j.rows = slices.Clone(rows[lo:hi]) // keep only the page
	}

	s.mu.Lock()
	s.jobs[j.id] = j
	bs.stats.Submits++
	f = bs.fault
	s.mu.Unlock()
	// A job of no duration is done when it is submitted: the POST says so
	// (WithJobDuration(0)); otherwise it starts IN_PROGRESS.
	status, pct, _ := j.progress(now, s.jobDuration)
	writeOK(w, tokenAsJobID(j.envelope(status, pct, now, f.WrongTypes), r, f), f)
}

// serveStatus answers GET …/status/{id}: the running envelope, the FAILED
// envelope or the finished report page.
func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	bs, j, now := s.admit(w, r, http.MethodGet, r.PathValue("id"), scopeMetrics)
	if bs == nil {
		return
	}
	status, pct, lmod := j.progress(now, s.jobDuration)
	s.mu.Lock()
	bs.stats.Polls++
	if status == "SUCCESS" {
		bs.stats.Pages++
	}
	f := bs.fault
	s.mu.Unlock()
	if status == "SUCCESS" {
		writeOK(w, j.report(f.WrongTypes), f)
		return
	}
	writeOK(w, j.envelope(status, pct, lmod, f.WrongTypes), f)
}

// badRequest answers 400 with err's text and counts it.
func (s *Server) badRequest(w http.ResponseWriter, bs *botState, err error) {
	s.mu.Lock()
	bs.stats.BadRequests++
	s.mu.Unlock()
	writeError(w, http.StatusBadRequest, http.StatusBadRequest, err.Error())
}

// sweepJobs forgets expired jobs. Call with s.mu held.
func (s *Server) sweepJobs(now time.Time) {
	for id, j := range s.jobs {
		if !now.Before(j.expireAt) {
			delete(s.jobs, id)
		}
	}
}

// splitSome splits every fifth row into two records with the same key, right
// after each other in their bucket: the first has half of each count
// (rounded down), the second the rest.
func splitSome(rows []bucketRow) []bucketRow {
	out := make([]bucketRow, 0, len(rows)+len(rows)/5+1)
	for i, r := range rows {
		if i%5 != 2 {
			out = append(out, r)
			continue
		}
		a := r
		a.TotalExecution /= 2
		a.TotalSession /= 2
		a.SelfServiceSessions /= 2
		a.DropOffSessions /= 2
		a.AgentTransferSessions /= 2
		b := r
		b.TotalExecution -= a.TotalExecution
		b.TotalSession -= a.TotalSession
		b.SelfServiceSessions -= a.SelfServiceSessions
		b.DropOffSessions -= a.DropOffSessions
		b.AgentTransferSessions -= a.AgentTransferSessions
		out = append(out, a, b)
	}
	return out
}

// retryAfterHeader formats d for the Retry-After header.
func retryAfterHeader(d time.Duration) string { return strconv.Itoa(retryAfterSeconds(d)) }
