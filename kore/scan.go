package kore

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// A fast path for the two response bodies. encoding/json spends most of a
// status page's decode time on reflection and on validating the input
// twice; this scanner walks the bytes once, strictly (RFC 8259 grammar,
// encoding/json's nesting limit), and hands each field's literal to the
// same UnmarshalJSON methods encoding/json would call, so a body it accepts
// decodes exactly as json.Unmarshal into the wire types would.
//
// It gives up (returns false) on anything unusual: a syntax error, a type
// that does not fit, a key that is not ASCII. The caller then decodes with
// encoding/json, which is the authority for every error message and every
// edge case. FuzzDecodeStatus checks that the two paths agree.

type scanner struct {
	data []byte
	pos  int
	// strs interns the row strings: task names, types, outcomes and
	// bucket names repeat across the rows of a page.
	strs map[string]string
}

// intern returns the string of b, allocating it once per scan.
func (s *scanner) intern(b []byte) string {
	if v, ok := s.strs[string(b)]; ok {
		return v
	}
	if s.strs == nil {
		s.strs = make(map[string]string, 64)
	}
	v := string(b)
	s.strs[v] = v
	return v
}

// rowString stores a row's string field like reqString or a plain string
// field would, interned.
func (s *scanner) rowString(dst *string, set *bool, lit []byte) bool {
	if lit[0] == 'n' {
		return true
	}
	in, ok := unquote(lit)
	if !ok {
		return false
	}
	*dst = s.intern(in)
	if set != nil {
		*set = true
	}
	return true
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

func (s *scanner) consume(c byte) bool {
	if s.peek() == c {
		s.pos++
		return true
	}
	return false
}

// str reads a string literal and returns it with its quotes.
func (s *scanner) str() ([]byte, bool) {
	if s.peek() != '"' {
		return nil, false
	}
	start := s.pos
	s.pos++
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			return s.data[start:s.pos], true
		case c == '\\':
			s.pos++
			if s.pos >= len(s.data) {
				return nil, false
			}
			switch s.data[s.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos++
			case 'u':
				if s.pos+4 >= len(s.data) {
					return nil, false
				}
				for _, h := range s.data[s.pos+1 : s.pos+5] {
					if !isHex(h) {
						return nil, false
					}
				}
				s.pos += 5
			default:
				return nil, false
			}
		case c < 0x20:
			return nil, false
		default:
			s.pos++
		}
	}
	return nil, false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// num reads a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) num() bool {
	d, i := s.data, s.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || !isDigit(d[i]) {
			return false
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || !isDigit(d[i]) {
			return false
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	s.pos = i
	return true
}

// value reads any value, checking its grammar, and returns its bytes.
func (s *scanner) value(depth int) ([]byte, bool) {
	if depth > maxDepth {
		return nil, false
	}
	c := s.peek()
	start := s.pos
	ok := false
	switch c {
	case '"':
		_, ok = s.str()
	case '{':
		ok = s.object(depth+1, func([]byte) bool { _, ok := s.value(depth + 1); return ok })
	case '[':
		ok = s.array(depth+1, func() bool { _, ok := s.value(depth + 1); return ok })
	case 't':
		ok = s.word("true")
	case 'f':
		ok = s.word("false")
	case 'n':
		ok = s.word("null")
	default:
		ok = s.num()
	}
	if !ok {
		return nil, false
	}
	return s.data[start:s.pos], true
}

func (s *scanner) word(w string) bool {
	if bytes.HasPrefix(s.data[s.pos:], []byte(w)) {
		s.pos += len(w)
		return true
	}
	return false
}

// isNull consumes a null literal if one is next.
func (s *scanner) isNull() bool {
	return s.peek() == 'n' && s.word("null")
}

// object reads an object, calling field with each key (unquoted) while the
// scanner stands before the value; field must read the value.
func (s *scanner) object(depth int, field func(key []byte) bool) bool {
	if depth > maxDepth || !s.consume('{') {
		return false
	}
	if s.consume('}') {
		return true
	}
	for {
		raw, ok := s.str()
		if !ok || !s.consume(':') {
			return false
		}
		key := raw[1 : len(raw)-1]
		if bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key) {
			var k string
			if json.Unmarshal(raw, &k) != nil {
				return false
			}
			key = []byte(k)
		}
		if !field(key) {
			return false
		}
		if s.consume(',') {
			continue
		}
		return s.consume('}')
	}
}

// array reads an array, calling elem before each element; elem must read
// it.
func (s *scanner) array(depth int, elem func() bool) bool {
	if depth > maxDepth || !s.consume('[') {
		return false
	}
	if s.consume(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if s.consume(',') {
			continue
		}
		return s.consume(']')
	}
}

// match returns the name among names that key equals, or failing that
// equals case-insensitively (encoding/json's rule), or "" for an unknown
// key. ok is false for a non-ASCII key that matches nothing exactly:
// encoding/json folds some non-ASCII letters, so the caller gives up.
func match(key []byte, names []string) (name string, ok bool) {
	for _, n := range names {
		if string(key) == n {
			return n, true
		}
	}
	for _, c := range key {
		if c >= 0x80 {
			return "", false
		}
	}
	for _, n := range names {
		if bytes.EqualFold(key, []byte(n)) {
			name = n // the last folded match, as encoding/json picks the first field; names are unique when folded
			break
		}
	}
	return name, true
}

// setString stores a JSON string into a plain string field as
// encoding/json does: null leaves it, anything else but a string fails.
func setString(dst *string, lit []byte) bool {
	if lit[0] == 'n' {
		return true
	}
	in, ok := unquote(lit)
	if !ok {
		return false
	}
	*dst = string(in)
	return true
}

var (
	envelopeNames = []string{"_id", "status", "percentageComplete", "streamId", "jobType", "action", "countOfDockStatuses",
		"createdBy", "expireAt", "statusLogs", "lMod", "createdOn", "requestedTime", "__v", "tasksExecutionReport"}
	reportNames = []string{"total", "data"}
	rowNames    = []string{"taskName", "taskType", "Status", "totalExecution", "totalSession", "selfServiceSessions",
		"dropOffSessions", "agentTransferSessions", "dateRange", "selfServiceSessionsInPercentage",
		"dropOffSessionsInPercentage", "agentTransferSessionsInPercentage"}
)

// scanBody decodes a body into w (and, when rep is not nil, its
// tasksExecutionReport into *rep). It reports false when the caller must
// use encoding/json instead.
func scanBody(data []byte, w *wireJob, rep **wireReport) bool {
	s := &scanner{data: data}
	if s.isNull() {
		s.ws()
		return s.pos == len(s.data)
	}
	ok := s.object(1, func(key []byte) bool {
		name, ok := match(key, envelopeNames)
		if !ok {
			return false
		}
		if name == "tasksExecutionReport" && rep != nil {
			return s.report(rep)
		}
		lit, ok := s.value(2)
		if !ok {
			return false
		}
		return w.set(name, lit)
	})
	s.ws()
	return ok && s.pos == len(s.data)
}

func (w *wireJob) set(name string, lit []byte) bool {
	var err error
	switch name {
	case "_id":
		err = w.ID.UnmarshalJSON(lit)
	case "status":
		err = w.Status.UnmarshalJSON(lit)
	case "percentageComplete":
		err = w.PercentageComplete.UnmarshalJSON(lit)
	case "streamId":
		return setString(&w.StreamID, lit)
	case "jobType":
		return setString(&w.JobType, lit)
	case "action":
		return setString(&w.Action, lit)
	case "countOfDockStatuses":
		err = w.CountOfDockStatuses.UnmarshalJSON(lit)
	case "createdBy":
		return setString(&w.CreatedBy, lit)
	case "expireAt":
		err = w.ExpireAt.UnmarshalJSON(lit)
	case "statusLogs":
		w.StatusLogs = append(json.RawMessage(nil), lit...)
	case "lMod":
		err = w.LMod.UnmarshalJSON(lit)
	case "createdOn":
		err = w.CreatedOn.UnmarshalJSON(lit)
	case "requestedTime":
		err = w.RequestedTime.UnmarshalJSON(lit)
	case "__v":
		err = w.V.UnmarshalJSON(lit)
	}
	return err == nil
}

func (s *scanner) report(rep **wireReport) bool {
	if s.isNull() {
		*rep = nil
		return true
	}
	if *rep == nil {
		*rep = new(wireReport)
	}
	r := *rep
	return s.object(2, func(key []byte) bool {
		name, ok := match(key, reportNames)
		if !ok {
			return false
		}
		switch name {
		case "total":
			lit, ok := s.value(3)
			return ok && r.Total.UnmarshalJSON(lit) == nil
		case "data":
			return s.data3(r)
		}
		_, ok = s.value(3)
		return ok
	})
}

// data3 reads tasksExecutionReport.data: bucket → rows.
func (s *scanner) data3(r *wireReport) bool {
	if s.isNull() {
		r.Data = nil
		return true
	}
	if r.Data == nil {
		r.Data = make(map[string][]wireRow)
	}
	return s.object(3, func(key []byte) bool {
		bucket := string(key)
		if s.isNull() {
			r.Data[bucket] = nil
			return true
		}
		rows := make([]wireRow, 0, 8)
		ok := s.array(4, func() bool {
			rows = append(rows, wireRow{})
			w := &rows[len(rows)-1]
			if s.isNull() {
				return true
			}
			return s.object(5, func(key []byte) bool {
				name, ok := match(key, rowNames)
				if !ok {
					return false
				}
				lit, ok := s.value(6)
				if !ok {
					return false
				}
				switch name {
				case "taskName":
					return s.rowString(&w.TaskName.v, &w.TaskName.set, lit)
				case "Status":
					return s.rowString(&w.Status.v, &w.Status.set, lit)
				case "taskType":
					return s.rowString(&w.TaskType, nil, lit)
				case "dateRange":
					return s.rowString(&w.DateRange, nil, lit)
				}
				return w.set(name, lit)
			})
		})
		r.Data[bucket] = rows
		return ok
	})
}

func (w *wireRow) set(name string, lit []byte) bool {
	var err error
	switch name {
	case "taskName":
		err = w.TaskName.UnmarshalJSON(lit)
	case "taskType":
		return setString(&w.TaskType, lit)
	case "Status":
		err = w.Status.UnmarshalJSON(lit)
	case "totalExecution":
		err = w.TotalExecution.UnmarshalJSON(lit)
	case "totalSession":
		err = w.TotalSession.UnmarshalJSON(lit)
	case "selfServiceSessions":
		err = w.SelfServiceSessions.UnmarshalJSON(lit)
	case "dropOffSessions":
		err = w.DropOffSessions.UnmarshalJSON(lit)
	case "agentTransferSessions":
		err = w.AgentTransferSessions.UnmarshalJSON(lit)
	case "dateRange":
		return setString(&w.DateRange, lit)
	case "selfServiceSessionsInPercentage":
		err = w.SelfServiceSessionsInPercentage.UnmarshalJSON(lit)
	case "dropOffSessionsInPercentage":
		err = w.DropOffSessionsInPercentage.UnmarshalJSON(lit)
	case "agentTransferSessionsInPercentage":
		err = w.AgentTransferSessionsInPercentage.UnmarshalJSON(lit)
	}
	return err == nil
}
