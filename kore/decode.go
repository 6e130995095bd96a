package kore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// JobState is what a job's status string means to the client.
type JobState string

// The states of a report job. Status strings are compared case-insensitively
// and without '_', '-' or spaces (kore-api.md §7): "IN_PROGRESS",
// "in-progress" and "InProgress" are all JobRunning.
const (
	// JobRunning: IN_PROGRESS (documented), or QUEUED, PENDING, RUNNING.
	JobRunning JobState = "running"
	// JobSucceeded: SUCCESS (documented), or SUCCESSFUL, SUCCEEDED.
	JobSucceeded JobState = "succeeded"
	// JobFailed: FAILED or FAILURE. [assume: §7, the publish status API's
	// spelling]
	JobFailed JobState = "failed"
	// JobUnknown: any other value. The client keeps polling until expireAt.
	JobUnknown JobState = "unknown"
)

// ParseJobState maps a status string to its JobState.
func ParseJobState(status string) JobState {
	s := strings.Map(func(r rune) rune {
		switch r {
		case '_', '-', ' ':
			return -1
		}
		return r
	}, strings.ToUpper(strings.TrimSpace(status)))
	switch s {
	case "INPROGRESS", "QUEUED", "PENDING", "RUNNING":
		return JobRunning
	case "SUCCESS", "SUCCESSFUL", "SUCCEEDED":
		return JobSucceeded
	case "FAILED", "FAILURE":
		return JobFailed
	}
	return JobUnknown
}

// State returns the meaning of the job's Status.
func (j *Job) State() JobState { return ParseJobState(j.Status) }

// JobStatus is the body of a status call (GET …/status/{_id}): the job
// envelope while the job runs, and the report once it is done. A finished
// job's body may carry nothing of the envelope but status (kore-api.md §5),
// so ID and the times may be zero.
type JobStatus struct {
	Job
	// Report is the finished report (tasksExecutionReport); nil while the
	// job runs.
	Report *TasksExecutionReport
}

// TasksExecutionReport is one page of a finished report.
type TasksExecutionReport struct {
	// Total is the number of rows of the whole report, over all pages.
	Total int
	// Data maps each bucket key (a date for Daily, a range for Cumulative;
	// opaque to the client) to the bucket's rows on this page.
	Data map[string][]TaskRow
}

// Rows returns the number of rows on the page.
func (r *TasksExecutionReport) Rows() int {
	n := 0
	for _, rows := range r.Data {
		n += len(rows)
	}
	return n
}

// DecodeJob decodes the answer of a submit call (kore-api.md §4). It accepts
// unknown fields, numbers as numeric strings and null for absent values; it
// rejects a missing _id or status, negative counts, wrong types and broken
// JSON with a *DecodeError that names the field.
func DecodeJob(data []byte) (*Job, error) {
	return decodeJob(data, true)
}

func decodeJob(data []byte, fast bool) (*Job, error) {
	var w wireJob
	if !fast || !scanBody(data, &w, nil) {
		w = wireJob{}
		if err := json.Unmarshal(data, &w); err != nil {
			return nil, decodeErr(EndpointSubmit, data, err)
		}
	}
	if !w.ID.set || w.ID.v == "" {
		return nil, &DecodeError{Endpoint: EndpointSubmit, Field: "_id", Err: errMissing}
	}
	if !w.Status.set {
		return nil, &DecodeError{Endpoint: EndpointSubmit, Field: "status", Err: errMissing}
	}
	j, err := w.job(EndpointSubmit)
	if err != nil {
		return nil, err
	}
	return &j, nil
}

// DecodeStatus decodes the answer of a status call (kore-api.md §5) with the
// tolerance of DecodeJob. A finished job (JobSucceeded) must carry
// tasksExecutionReport with a total; every row must have taskName and Status
// and no negative count.
func DecodeStatus(data []byte) (*JobStatus, error) {
	return decodeStatus(data, true)
}

// decodeStatus decodes with the fast scanner when fast is set and it
// succeeds, else with encoding/json (the tests compare the two).
func decodeStatus(data []byte, fast bool) (*JobStatus, error) {
	var w wireStatus
	if !fast || !scanBody(data, &w.wireJob, &w.Report) {
		w = wireStatus{}
		if err := json.Unmarshal(data, &w); err != nil {
			return nil, decodeErr(EndpointStatus, data, err)
		}
	}
	if !w.Status.set && w.Report == nil {
		return nil, &DecodeError{Endpoint: EndpointStatus, Field: "status", Err: errMissing}
	}
	j, err := w.job(EndpointStatus)
	if err != nil {
		return nil, err
	}
	if !w.Status.set {
		j.Status = "SUCCESS" // a report without status: done [assume]
	}
	st := &JobStatus{Job: j}
	if w.Report == nil {
		if j.State() == JobSucceeded {
			return nil, &DecodeError{Endpoint: EndpointStatus, Field: "tasksExecutionReport", Err: errors.New("missing in a finished job")}
		}
		return st, nil
	}
	const base = "tasksExecutionReport"
	if !w.Report.Total.set {
		return nil, &DecodeError{Endpoint: EndpointStatus, Field: base + ".total", Err: errMissing}
	}
	if w.Report.Total.v < 0 || w.Report.Total.v > math.MaxInt32 {
		return nil, &DecodeError{Endpoint: EndpointStatus, Field: base + ".total", Err: fmt.Errorf("out of range: %d", w.Report.Total.v)}
	}
	rep := &TasksExecutionReport{Total: int(w.Report.Total.v), Data: make(map[string][]TaskRow, len(w.Report.Data))}
	for bucket, wrows := range w.Report.Data {
		rows := make([]TaskRow, len(wrows))
		for i := range wrows {
			if err := wrows[i].row(&rows[i]); err != nil {
				err.Endpoint = EndpointStatus
				err.Field = fmt.Sprintf("%s.data[%s][%d].%s", base, printable(bucket, maxNameInError), i, err.Field)
				return nil, err
			}
		}
		rep.Data[bucket] = rows
	}
	st.Report = rep
	return st, nil
}

var errMissing = errors.New("missing")

// Wire types: what the JSON looks like, with tolerant field types. They
// are turned into the exported types after validation.

type wireJob struct {
	ID                  reqString       `json:"_id"`
	Status              reqString       `json:"status"`
	PercentageComplete  flexFloat       `json:"percentageComplete"`
	StreamID            string          `json:"streamId"`
	JobType             string          `json:"jobType"`
	Action              string          `json:"action"`
	CountOfDockStatuses flexInt         `json:"countOfDockStatuses"`
	CreatedBy           string          `json:"createdBy"`
	ExpireAt            flexTime        `json:"expireAt"`
	StatusLogs          json.RawMessage `json:"statusLogs"`
	LMod                flexTime        `json:"lMod"`
	CreatedOn           flexTime        `json:"createdOn"`
	RequestedTime       flexTime        `json:"requestedTime"`
	V                   flexInt         `json:"__v"`
}

type wireStatus struct {
	wireJob
	Report *wireReport `json:"tasksExecutionReport"`
}

type wireReport struct {
	Total flexInt              `json:"total"`
	Data  map[string][]wireRow `json:"data"`
}

type wireRow struct {
	TaskName                          reqString `json:"taskName"`
	TaskType                          string    `json:"taskType"`
	Status                            reqString `json:"Status"`
	TotalExecution                    flexInt   `json:"totalExecution"`
	TotalSession                      flexInt   `json:"totalSession"`
	SelfServiceSessions               flexInt   `json:"selfServiceSessions"`
	DropOffSessions                   flexInt   `json:"dropOffSessions"`
	AgentTransferSessions             flexInt   `json:"agentTransferSessions"`
	DateRange                         string    `json:"dateRange"`
	SelfServiceSessionsInPercentage   flexFloat `json:"selfServiceSessionsInPercentage"`
	DropOffSessionsInPercentage       flexFloat `json:"dropOffSessionsInPercentage"`
	AgentTransferSessionsInPercentage flexFloat `json:"agentTransferSessionsInPercentage"`
}

func (w *wireJob) job(ep Endpoint) (Job, error) {
	if w.ID.v != "" && !validJobID(w.ID.v) {
		// The value is not quoted: it may be anything the server sent.
		return Job{}, &DecodeError{Endpoint: ep, Field: "_id", Err: fmt.Errorf("not a job id: %d bytes, want at most %d of A-Z a-z 0-9 . _ : -", len(w.ID.v), maxJobID)}
	}
	pc := w.PercentageComplete.v
	if pc < 0 || pc > 100 || math.IsNaN(pc) {
		return Job{}, &DecodeError{Endpoint: ep, Field: "percentageComplete", Err: fmt.Errorf("out of range [0, 100]: %g", pc)}
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"countOfDockStatuses", w.CountOfDockStatuses.v}, {"__v", w.V.v}} {
		if f.v < 0 || f.v > math.MaxInt32 {
			return Job{}, &DecodeError{Endpoint: ep, Field: f.name, Err: fmt.Errorf("out of range: %d", f.v)}
		}
	}
	j := Job{
		ID:                  w.ID.v,
		Status:              printable(w.Status.v, maxStatusText),
		PercentageComplete:  int(math.Round(pc)),
		StreamID:            w.StreamID,
		JobType:             w.JobType,
		Action:              w.Action,
		CountOfDockStatuses: int(w.CountOfDockStatuses.v),
		CreatedBy:           w.CreatedBy,
		ExpireAt:            w.ExpireAt.v,
		LMod:                w.LMod.v,
		CreatedOn:           w.CreatedOn.v,
		RequestedTime:       w.RequestedTime.v,
		V:                   int(w.V.v),
	}
	if len(w.StatusLogs) > 0 && !bytes.Equal(w.StatusLogs, []byte("null")) {
		j.StatusLogs = w.StatusLogs
	}
	return j, nil
}

// row validates w into r. The error's Field is relative to the row.
func (w *wireRow) row(r *TaskRow) *DecodeError {
	switch {
	case !w.TaskName.set:
		return &DecodeError{Field: "taskName", Err: errMissing}
	case !w.Status.set:
		return &DecodeError{Field: "Status", Err: errMissing}
	}
	counts := [...]struct {
		name string
		v    int64
	}{
		{"totalExecution", w.TotalExecution.v},
		{"totalSession", w.TotalSession.v},
		{"selfServiceSessions", w.SelfServiceSessions.v},
		{"dropOffSessions", w.DropOffSessions.v},
		{"agentTransferSessions", w.AgentTransferSessions.v},
	}
	for _, c := range counts {
		if c.v < 0 {
			return &DecodeError{Field: c.name, Err: fmt.Errorf("negative count: %d", c.v)}
		}
	}
	*r = TaskRow{
		TaskName:              w.TaskName.v,
		TaskType:              w.TaskType,
		Status:                w.Status.v,
		TotalExecution:        w.TotalExecution.v,
		TotalSession:          w.TotalSession.v,
		SelfServiceSessions:   w.SelfServiceSessions.v,
		DropOffSessions:       w.DropOffSessions.v,
		AgentTransferSessions: w.AgentTransferSessions.v,
		DateRange:             w.DateRange,
		SelfServicePercent:    w.SelfServiceSessionsInPercentage.v,
		DropOffPercent:        w.DropOffSessionsInPercentage.v,
		AgentTransferPercent:  w.AgentTransferSessionsInPercentage.v,
	}
	return nil
}

// decodeErr turns an encoding/json error into a *DecodeError naming the
// field. encoding/json names struct fields but not map keys or array
// indexes, so an error inside tasksExecutionReport.data is located again,
// bucket by bucket and row by row (errors are rare; the fast path stays one
// pass).
func decodeErr(ep Endpoint, data []byte, err error) *DecodeError {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &ute):
		// encoding/json names the embedded wireJob in the path; the JSON
		// has no such level.
		field := strings.TrimPrefix(ute.Field, "wireJob.")
		de := &DecodeError{Endpoint: ep, Field: field, Err: fmt.Errorf("got %s, want %s", ute.Value, typeName(ute.Type))}
		if ep == EndpointStatus && strings.HasPrefix(ute.Field, "tasksExecutionReport.data") {
			if loc := locateRowError(data); loc != nil {
				de.Field, de.Err = loc.Field, loc.Err
			}
		}
		return de
	case errors.As(err, &se):
		if se.Offset >= int64(len(data)) {
			return &DecodeError{Endpoint: ep, Err: fmt.Errorf("truncated JSON: %w", err)}
		}
		return &DecodeError{Endpoint: ep, Err: fmt.Errorf("invalid JSON at offset %d: %w", se.Offset, err)}
	}
	return &DecodeError{Endpoint: ep, Err: err}
}

// locateRowError finds a row of tasksExecutionReport.data that does not
// decode, and names it.
func locateRowError(data []byte) *DecodeError {
	var env struct {
		Report struct {
			Data map[string]json.RawMessage `json:"data"`
		} `json:"tasksExecutionReport"`
	}
	if json.Unmarshal(data, &env) != nil {
		return nil
	}
	buckets := make([]string, 0, len(env.Report.Data))
	for k := range env.Report.Data {
		buckets = append(buckets, k)
	}
	sort.Strings(buckets)
	for _, b := range buckets {
		path := fmt.Sprintf("tasksExecutionReport.data[%s]", printable(b, maxNameInError))
		var rows []json.RawMessage
		if err := json.Unmarshal(env.Report.Data[b], &rows); err != nil {
			var ute *json.UnmarshalTypeError
			if errors.As(err, &ute) {
				return &DecodeError{Field: path, Err: fmt.Errorf("got %s, want array", ute.Value)}
			}
			return &DecodeError{Field: path, Err: err}
		}
		for i, raw := range rows {
			var w wireRow
			if err := json.Unmarshal(raw, &w); err != nil {
				var ute *json.UnmarshalTypeError
				if errors.As(err, &ute) {
					f := fmt.Sprintf("%s[%d]", path, i)
					if ute.Field != "" {
						f += "." + ute.Field
					}
					return &DecodeError{Field: f, Err: fmt.Errorf("got %s, want %s", ute.Value, typeName(ute.Type))}
				}
				return &DecodeError{Field: fmt.Sprintf("%s[%d]", path, i), Err: err}
			}
		}
	}
	return nil
}

var (
	typeInt64  = reflect.TypeFor[int64]()
	typeNumber = reflect.TypeFor[float64]()
	typeString = reflect.TypeFor[string]()
	typeTime   = reflect.TypeFor[time.Time]()
)

func typeName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t {
	case typeInt64:
		return "an integer"
	case typeInt64Range:
		return "an integer within the int64 range (±9223372036854775807)"
	case typeExactRange:
		return "an integer; in decimal or exponent form at most 2^53 (9007199254740992), the largest exactly representable"
	case typeNumber:
		return "a number"
	case typeString:
		return "a string"
	case typeTime:
		return "an RFC 3339 time"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	}
	return t.String()
}

// typeError is what the flexible types return for a value they cannot
// take; encoding/json adds the field path to it.
func typeError(b []byte, t reflect.Type) error {
	return &json.UnmarshalTypeError{Value: describe(b), Type: t}
}

func describe(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '"':
		return "string " + clipLiteral(b)
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number " + clipLiteral(b)
}

func clipLiteral(b []byte) string {
	const n = 40
	if len(b) <= n {
		return string(b)
	}
	i := n
	for i > 0 && !utf8.RuneStart(b[i]) {
		i--
	}
	return string(b[:i]) + "…"
}

// unquote returns the contents of a JSON string literal. Plain literals
// (most of them) are sliced without a copy; only escapes go through
// encoding/json.
func unquote(b []byte) ([]byte, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return nil, false
	}
	in := b[1 : len(b)-1]
	if bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
		return in, true
	}
	var s string
	if json.Unmarshal(b, &s) != nil {
		return nil, false
	}
	return []byte(s), true
}

// reqString is a string field whose absence is an error. null counts as
// absent.
type reqString struct {
	v   string
	set bool
}

func (s *reqString) UnmarshalJSON(b []byte) error {
	if b[0] == 'n' {
		return nil
	}
	in, ok := unquote(b)
	if !ok {
		return typeError(b, typeString)
	}
	s.v, s.set = string(in), true
	return nil
}

// flexInt is a count: a JSON integer or a numeric string ("14"); a number
// with a zero fraction (14.0) is accepted too. null is absent (0).
type flexInt struct {
	v   int64
	set bool
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	lit := b
	switch b[0] {
	case 'n':
		return nil
	case '"':
		in, ok := unquote(b)
		if !ok {
			return typeError(b, typeInt64)
		}
		lit = bytes.TrimSpace(in)
	}
	n, err := parseInt(lit)
	if err != nil {
		return typeError(b, err.want)
	}
	f.v, f.set = n, true
	return nil
}

// intError says why a literal is not a count, as the type the decode error
// names (see typeName).
type intError struct{ want reflect.Type }

// Marker types for the decode error messages of integers out of range.
type (
	int64Range struct{}
	exactRange struct{}
)

var (
	typeInt64Range = reflect.TypeFor[int64Range]()
	typeExactRange = reflect.TypeFor[exactRange]()
)

// parseInt parses a count: a decimal integer in the int64 range, or an
// integral number in decimal or exponent form (14.0, 1e3) of at most 2^53 in
// magnitude, the largest a float64 holds exactly. Plain integers of up to 18
// digits are parsed without allocating.
func parseInt(b []byte) (int64, *intError) {
	if len(b) == 0 {
		return 0, &intError{typeInt64}
	}
	neg := b[0] == '-'
	digits := b
	if neg {
		digits = b[1:]
	}
	allDigits := len(digits) > 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			allDigits = false
			break
		}
	}
	if allDigits && len(digits) <= 18 {
		var n int64
		for _, c := range digits {
			n = n*10 + int64(c-'0')
		}
		if neg {
			n = -n
		}
		return n, nil
	}
	if allDigits {
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return 0, &intError{typeInt64Range}
		}
		return n, nil
	}
	x, err := strconv.ParseFloat(string(b), 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange), x != math.Trunc(x), err == nil && math.IsInf(x, 0):
		return 0, &intError{typeInt64}
	case err != nil, math.Abs(x) > 1<<53:
		return 0, &intError{typeExactRange}
	}
	return int64(x), nil
}

// flexFloat is a number or a numeric string ("33.33", "33.33%"); null and
// "" are absent (0).
type flexFloat struct {
	v   float64
	set bool
}

func (f *flexFloat) UnmarshalJSON(b []byte) error {
	lit := b
	switch b[0] {
	case 'n':
		return nil
	case '"':
		in, ok := unquote(b)
		if !ok {
			return typeError(b, typeNumber)
		}
		lit = bytes.TrimSuffix(bytes.TrimSpace(in), []byte("%"))
		if len(lit) == 0 {
			return nil
		}
	case '{', '[', 't', 'f':
		return typeError(b, typeNumber)
	}
	x, ok := parseFloat(lit)
	if !ok {
		return typeError(b, typeNumber)
	}
	f.v, f.set = x, true
	return nil
}

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat parses plain decimals ("66.67", "-3", "100") without
// allocating: with at most 15 significant digits and an exact power of ten,
// one division is correctly rounded (the exact fast path of strconv). Other
// forms go to strconv.
func parseFloat(b []byte) (float64, bool) {
	var mant uint64
	digits, frac := 0, -1
	neg := false
	i := 0
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		i = 1
	}
	fast := i < len(b)
	for ; i < len(b) && fast; i++ {
		switch c := b[i]; {
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			digits++
			if frac >= 0 {
				frac++
			}
			if digits > 15 {
				fast = false
			}
		case c == '.' && frac < 0:
			frac = 0
		default:
			fast = false
		}
	}
	if fast && digits > 0 {
		x := float64(mant)
		if frac > 0 {
			x /= pow10[frac]
		}
		if neg {
			x = -x
		}
		return x, true
	}
	x, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
		return 0, false
	}
	return x, true
}

// flexTime is an RFC 3339 time string; null and "" are absent (zero).
type flexTime struct{ v time.Time }

func (t *flexTime) UnmarshalJSON(b []byte) error {
	if b[0] == 'n' {
		return nil
	}
	in, ok := unquote(b)
	if !ok {
		return typeError(b, typeTime)
	}
	if len(bytes.TrimSpace(in)) == 0 {
		return nil
	}
	v, err := time.Parse(time.RFC3339Nano, string(bytes.TrimSpace(in)))
	if err != nil {
		return typeError(b, typeTime)
	}
	t.v = v.UTC()
	return nil
}
