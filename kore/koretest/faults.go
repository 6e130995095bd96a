package koretest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// This file holds the faults that act in front of the API's handlers (see
// the fields of Fault from StatusServerErrors on): they answer a call
// before admit sees it, or rewrite the answer the handler writes.

// errRefused is what a request gets from the in-memory transport under
// the Refuse fault: the dial error of a closed port.
var errRefused error = &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}

// slowBodyStep is how often the SlowBody fault sends one byte.
const slowBodyStep = time.Second

// withFaults wraps the handler of one endpoint (status: the status call,
// else the submit) with the faults of faults.go.
func (s *Server) withFaults(status bool, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		bs := s.bots[r.PathValue("botId")]
		if bs == nil {
			s.mu.Unlock()
			next(w, r)
			return
		}
		f := bs.fault
		switch {
		case f.Refuse:
			bs.stats.Refused++
			s.mu.Unlock()
			if tw, ok := w.(*trackingWriter); ok {
				tw.refused = true
				return
			}
			panic(http.ErrAbortHandler) // no answer: drop the connection
		case f.BadCredentials:
			bs.stats.Requests++
			bs.stats.Unauthorized++
			s.mu.Unlock()
			writeError(w, http.StatusUnauthorized, codeAuth, msgBadCredentials)
			return
		case status && f.StatusServerErrors > 0:
			bs.fault.StatusServerErrors--
			bs.stats.Requests++
			bs.stats.ServerErrors++
			seq := bs.errSeq
			bs.errSeq++
			s.mu.Unlock()
			writeServerError(w, seq)
			return
		case status && f.ForgetJobs:
			delete(s.jobs, r.PathValue("id"))
		}
		now := s.clock.Now()
		s.mu.Unlock()

		if f.RetryAfterHeader == "" && !f.RetryAfterDate && !f.SlowBody && f.Oversize <= 0 {
			next(w, r)
			return
		}
		fw := &faultWriter{ResponseWriter: w, f: f, now: now}
		next(fw, r)
		switch {
		case fw.slow:
			s.trickle(w, r.Context())
		case fw.pad > 0:
			w.Write([]byte(strings.Repeat(" ", fw.pad)))
		}
	}
}

// trickle sends the SlowBody fault's endless body: through the in-memory
// transport as the rest of the response body, over a connection one
// flushed byte at a time until the client gives up or the server closes.
func (s *Server) trickle(w http.ResponseWriter, ctx context.Context) {
	if tw, ok := w.(*trackingWriter); ok {
		tw.stream = trickleReader{s: s, ctx: ctx}
		return
	}
	fl, _ := w.(http.Flusher)
	for s.wait(ctx, slowBodyStep) {
		if _, err := w.Write([]byte{' '}); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
	}
}

// trickleReader is the endless body of the SlowBody fault: one space per
// slowBodyStep, until ctx ends (its error) or the server closes (the
// connection is lost).
type trickleReader struct {
	s   *Server
	ctx context.Context
}

func (t trickleReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !t.s.wait(t.ctx, slowBodyStep) {
		if err := t.ctx.Err(); err != nil {
			return 0, err
		}
		return 0, errAborted
	}
	p[0] = ' '
	return 1, nil
}

// faultWriter rewrites an answer as the fault says: the Retry-After of a
// 429; a 200 whose body never comes (SlowBody) or is padded (Oversize).
type faultWriter struct {
	http.ResponseWriter
	f    Fault
	now  time.Time
	slow bool // a SlowBody 200: the handler's body is dropped
	pad  int  // spaces to send after the handler's body
}

func (fw *faultWriter) WriteHeader(code int) {
	h := fw.Header()
	switch code {
	case http.StatusTooManyRequests:
		switch {
		case fw.f.RetryAfterHeader != "":
			h.Set("Retry-After", fw.f.RetryAfterHeader)
		case fw.f.RetryAfterDate:
			d := fw.f.RetryAfter
			if d <= 0 {
				d = time.Minute
			}
			h.Set("Retry-After", fw.now.Add(d).UTC().Format(http.TimeFormat))
		}
	case http.StatusOK:
		switch {
		case fw.f.SlowBody:
			fw.slow = true
			h.Del("Content-Length")
		case fw.f.Oversize > 0:
			if n, err := strconv.Atoi(h.Get("Content-Length")); err == nil && n < fw.f.Oversize {
				fw.pad = fw.f.Oversize - n
				h.Set("Content-Length", strconv.Itoa(fw.f.Oversize))
			}
		}
	}
	fw.ResponseWriter.WriteHeader(code)
}

func (fw *faultWriter) Write(p []byte) (int, error) {
	if fw.slow {
		return len(p), nil // the real body never comes
	}
	return fw.ResponseWriter.Write(p)
}

// Flush passes on to the wrapped writer (the Truncated fault flushes).
func (fw *faultWriter) Flush() {
	if fl, ok := fw.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}

// overflowBase is added to every count under OverflowCounts: two records
// of 2^62 and more add up to at least 2^63, past math.MaxInt64.
const overflowBase = 1 << 62

// spoilRows applies the faults of a job's rows (TaskFlood, TokenInTaskName,
// OverflowCounts) to the rows of req, submitted with the auth token auth.
func spoilRows(rows []bucketRow, f Fault, req *reportRequest, auth string) []bucketRow {
	if f.TokenInTaskName {
		_, keys := buckets(req.from, req.to, req.agg)
		key := keys[len(keys)-1]
		for _, name := range []string{auth, "Book flight " + auth} {
			rows = append(rows, bucketRow{Bucket: key, Row: Row{
				TaskName: name, TaskType: "dialog", Status: "success",
				TotalExecution: 1, TotalSession: 1, SelfServiceSessions: 1,
			}})
		}
	}
	if f.TaskFlood > 0 {
		_, keys := buckets(req.from, req.to, req.agg)
		key := keys[len(keys)-1]
		for i := range f.TaskFlood {
			rows = append(rows, bucketRow{Bucket: key, Row: Row{
				TaskName: fmt.Sprintf("Flood task %06d", i+1), TaskType: "dialog", Status: "success",
				TotalExecution: 1, TotalSession: 1, SelfServiceSessions: 1,
			}})
		}
	}
	if f.OverflowCounts {
		out := make([]bucketRow, 0, 2*len(rows))
		for _, r := range rows {
			r.TotalExecution += overflowBase
			r.TotalSession += overflowBase
			r.SelfServiceSessions += overflowBase
			r.DropOffSessions += overflowBase
			r.AgentTransferSessions += overflowBase
			out = append(out, r, r)
		}
		rows = out
	}
	return rows
}
