package kore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// JobState is what a job's status string means to the client.
type JobState string

// The states of a report job. Status strings are compared case-insensitively
// and without '_', '-' or spaces (API.md §7 Job status): "IN_PROGRESS",
// "in-progress" and "InProgress" are all JobRunning.
const (
	// JobRunning: IN_PROGRESS (documented), or QUEUED, PENDING, RUNNING.
	JobRunning JobState = "running"
	// JobSucceeded: SUCCESS (documented), or SUCCESSFUL, SUCCEEDED.
	JobSucceeded JobState = "succeeded"
	// JobFailed: FAILED or FAILURE. [assume: API.md §7 Job status, the
	// publish status API's spelling]
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
// job's body may carry nothing of the envelope but status (API.md §5),
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

// DecodeJob decodes the answer of a submit call: the job envelope. It
// accepts unknown fields, numbers as numeric strings and null for absent
// values; it rejects a missing _id or status, a job id that is not one, wrong
// types and broken JSON with a *DecodeError that names the field.
func DecodeJob(data []byte) (*Job, error) {
	var w wireJob
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, decodeErr(EndpointSubmit, data, err)
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

// DecodeStatus decodes the answer of a status call with the tolerance of
// DecodeJob. A finished job (JobSucceeded) must carry tasksExecutionReport
// with a total; every row must have taskName and Status and no negative
// count. The percentages the API sends beside the counts are not read: they
// follow from the counts.
func DecodeStatus(data []byte) (*JobStatus, error) {
	var w wireStatus
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, decodeErr(EndpointStatus, data, err)
	}
	if !w.Status.set && w.Report == nil {
		return nil, &DecodeError{Endpoint: EndpointStatus, Field: "status", Err: errMissing}
	}
	j, err := w.job(EndpointStatus)
	if err != nil {
		return nil, err
	}
	if !w.Status.set {
		j.Status = "SUCCESS" // a report without a status: done [assumption]
	}
	st := &JobStatus{Job: j}
	if w.Report == nil {
		if j.State() == JobSucceeded {
			return nil, &DecodeError{Endpoint: EndpointStatus, Field: "tasksExecutionReport", Err: errors.New("missing in a finished job")}
		}
		return st, nil
	}
	rep, err := w.Report.report()
	if err != nil {
		return nil, err
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
	PercentageComplete  number          `json:"percentageComplete"`
	StreamID            string          `json:"streamId"`
	JobType             string          `json:"jobType"`
	Action              string          `json:"action"`
	CountOfDockStatuses number          `json:"countOfDockStatuses"`
	CreatedBy           string          `json:"createdBy"`
	ExpireAt            flexTime        `json:"expireAt"`
	StatusLogs          json.RawMessage `json:"statusLogs"`
	LMod                flexTime        `json:"lMod"`
	CreatedOn           flexTime        `json:"createdOn"`
	RequestedTime       flexTime        `json:"requestedTime"`
	V                   number          `json:"__v"`
}

type wireStatus struct {
	wireJob
	Report *wireReport `json:"tasksExecutionReport"`
}

type wireReport struct {
	Total number               `json:"total"`
	Data  map[string][]wireRow `json:"data"`
}

type wireRow struct {
	TaskName              reqString `json:"taskName"`
	TaskType              string    `json:"taskType"`
	Status                reqString `json:"Status"`
	TotalExecution        number    `json:"totalExecution"`
	TotalSession          number    `json:"totalSession"`
	SelfServiceSessions   number    `json:"selfServiceSessions"`
	DropOffSessions       number    `json:"dropOffSessions"`
	AgentTransferSessions number    `json:"agentTransferSessions"`
	DateRange             string    `json:"dateRange"`
}

func (w *wireJob) job(ep Endpoint) (Job, error) {
	if w.ID.v != "" && !validJobID(w.ID.v) {
		// The value is not quoted: it may be anything the server sent.
		return Job{}, &DecodeError{Endpoint: ep, Field: "_id", Err: fmt.Errorf("not a job id: %d bytes, want at most %d of A-Z a-z 0-9 . _ : -", len(w.ID.v), maxJobID)}
	}
	pc, err := w.PercentageComplete.float()
	if err == nil && (pc < 0 || pc > 100) {
		err = fmt.Errorf("out of range [0, 100]: %g", pc)
	}
	if err != nil {
		return Job{}, &DecodeError{Endpoint: ep, Field: "percentageComplete", Err: err}
	}
	var ints [2]int
	for i, f := range []struct {
		name string
		n    *number
	}{{"countOfDockStatuses", &w.CountOfDockStatuses}, {"__v", &w.V}} {
		v, err := f.n.integer()
		if err == nil && (v < 0 || v > math.MaxInt32) {
			err = fmt.Errorf("out of range: %d", v)
		}
		if err != nil {
			return Job{}, &DecodeError{Endpoint: ep, Field: f.name, Err: err}
		}
		ints[i] = int(v)
	}
	j := Job{
		ID:                  w.ID.v,
		Status:              printable(w.Status.v, maxStatusText),
		PercentageComplete:  int(math.Round(pc)),
		StreamID:            w.StreamID,
		JobType:             w.JobType,
		Action:              w.Action,
		CountOfDockStatuses: ints[0],
		CreatedBy:           w.CreatedBy,
		ExpireAt:            w.ExpireAt.v,
		LMod:                w.LMod.v,
		CreatedOn:           w.CreatedOn.v,
		RequestedTime:       w.RequestedTime.v,
		V:                   ints[1],
	}
	if len(w.StatusLogs) > 0 && !bytes.Equal(w.StatusLogs, []byte("null")) {
		j.StatusLogs = w.StatusLogs
	}
	return j, nil
}

// report validates the report page, bucket by bucket in key order (so the
// first bad row named is always the same) and row by row.
func (w *wireReport) report() (*TasksExecutionReport, error) {
	const base = "tasksExecutionReport"
	fail := func(field string, err error) error {
		return &DecodeError{Endpoint: EndpointStatus, Field: field, Err: err}
	}
	if !w.Total.set {
		return nil, fail(base+".total", errMissing)
	}
	total, err := w.Total.integer()
	if err == nil && (total < 0 || total > math.MaxInt32) {
		err = fmt.Errorf("out of range: %d", total)
	}
	if err != nil {
		return nil, fail(base+".total", err)
	}
	rep := &TasksExecutionReport{Total: int(total), Data: make(map[string][]TaskRow, len(w.Data))}
	for _, bucket := range slices.Sorted(maps.Keys(w.Data)) {
		wrows := w.Data[bucket]
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
	return rep, nil
}

// row validates w into r. The error's Field is relative to the row.
func (w *wireRow) row(r *TaskRow) *DecodeError {
	switch {
	case !w.TaskName.set:
		return &DecodeError{Field: "taskName", Err: errMissing}
	case !w.Status.set:
		return &DecodeError{Field: "Status", Err: errMissing}
	}
	*r = TaskRow{TaskName: w.TaskName.v, TaskType: w.TaskType, Status: w.Status.v, DateRange: w.DateRange}
	for _, c := range [...]struct {
		name string
		n    *number
		dst  *int64
	}{
		{"totalExecution", &w.TotalExecution, &r.TotalExecution},
		{"totalSession", &w.TotalSession, &r.TotalSession},
		{"selfServiceSessions", &w.SelfServiceSessions, &r.SelfServiceSessions},
		{"dropOffSessions", &w.DropOffSessions, &r.DropOffSessions},
		{"agentTransferSessions", &w.AgentTransferSessions, &r.AgentTransferSessions},
	} {
		v, err := c.n.integer()
		if err == nil && v < 0 {
			err = fmt.Errorf("negative count: %d", v)
		}
		if err != nil {
			return &DecodeError{Field: c.name, Err: err}
		}
		*c.dst = v
	}
	return nil
}

// decodeErr turns an encoding/json error into a *DecodeError naming the
// field. encoding/json names struct fields but not map keys or array
// indexes, so an error inside tasksExecutionReport.data is located again,
// bucket by bucket and row by row (errors are rare; the common path stays
// one pass).
func decodeErr(ep Endpoint, data []byte, err error) *DecodeError {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &ute):
		// encoding/json names the embedded wireJob in the path; the JSON
		// has no such level.
		field := strings.TrimPrefix(ute.Field, "wireJob.")
		if strings.HasPrefix(field, "tasksExecutionReport.data") {
			if de := locateRowError(data); de != nil {
				de.Endpoint = ep
				return de
			}
		}
		return &DecodeError{Endpoint: ep, Field: field, Err: fmt.Errorf("got %s, want %s", ute.Value, typeName(ute.Type))}
	case errors.As(err, &se):
		if se.Offset >= int64(len(data)) {
			return &DecodeError{Endpoint: ep, Err: fmt.Errorf("truncated JSON: %w", err)}
		}
		return &DecodeError{Endpoint: ep, Err: fmt.Errorf("invalid JSON at offset %d: %w", se.Offset, err)}
	}
	return &DecodeError{Endpoint: ep, Err: err}
}

// locateRowError finds the first bucket or row of tasksExecutionReport.data
// (buckets in key order) that does not decode, and names it.
func locateRowError(data []byte) *DecodeError {
	var env struct {
		Report struct {
			Data map[string]json.RawMessage `json:"data"`
		} `json:"tasksExecutionReport"`
	}
	if json.Unmarshal(data, &env) != nil {
		return nil
	}
	located := func(path string, err error) *DecodeError {
		var ute *json.UnmarshalTypeError
		if !errors.As(err, &ute) {
			return &DecodeError{Field: path, Err: err}
		}
		if ute.Field != "" {
			path += "." + ute.Field
		}
		return &DecodeError{Field: path, Err: fmt.Errorf("got %s, want %s", ute.Value, typeName(ute.Type))}
	}
	for _, bucket := range slices.Sorted(maps.Keys(env.Report.Data)) {
		path := fmt.Sprintf("tasksExecutionReport.data[%s]", printable(bucket, maxNameInError))
		var rows []json.RawMessage
		if err := json.Unmarshal(env.Report.Data[bucket], &rows); err != nil {
			return located(path, err)
		}
		for i, raw := range rows {
			var w wireRow
			if err := json.Unmarshal(raw, &w); err != nil {
				return located(fmt.Sprintf("%s[%d]", path, i), err)
			}
		}
	}
	return nil
}

// Marker types for the messages of integers out of range (see typeName).
type (
	int64Range struct{}
	exactRange struct{}
)

var (
	typeInt64      = reflect.TypeFor[int64]()
	typeInt64Range = reflect.TypeFor[int64Range]()
	typeExactRange = reflect.TypeFor[exactRange]()
	typeNumber     = reflect.TypeFor[float64]()
	typeString     = reflect.TypeFor[string]()
	typeTime       = reflect.TypeFor[time.Time]()
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

// typeError is what the tolerant types return for a value they cannot
// take; encoding/json adds the field path to it.
func typeError(b []byte, t reflect.Type) error {
	return &json.UnmarshalTypeError{Value: describe(b), Type: t}
}

// describe names a JSON value for a message, quoting a short start of it.
func describe(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '"':
		return "string " + printable(string(b), 40)
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number " + printable(string(b), 40)
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
	if b[0] != '"' || json.Unmarshal(b, &s.v) != nil {
		return typeError(b, typeString)
	}
	s.set = true
	return nil
}

// number is a JSON number or a numeric string (" 14 ", "33.3%"); null and ""
// are absent (0). It keeps the text; integer and float read it.
type number struct {
	text   string // trimmed
	quoted bool   // sent as a JSON string
	set    bool
}

func (n *number) UnmarshalJSON(b []byte) error {
	switch c := b[0]; {
	case c == 'n':
		return nil
	case c == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return typeError(b, typeNumber)
		}
		if s = strings.TrimSpace(s); s == "" {
			return nil
		}
		n.text, n.quoted = s, true
	case c == '-' || (c >= '0' && c <= '9'):
		n.text = string(b)
	default:
		return typeError(b, typeNumber)
	}
	n.set = true
	return nil
}

// wrong says what n is and what was wanted instead.
func (n *number) wrong(want reflect.Type) error {
	got := "number " + printable(n.text, 40)
	if n.quoted {
		got = "string " + printable(strconv.Quote(n.text), 40)
	}
	return fmt.Errorf("got %s, want %s", got, typeName(want))
}

// integer returns the number as a count: a decimal integer in the int64
// range, or an integral number in decimal or exponent form (14.0, 1e3) of
// at most 2^53 in magnitude, the largest a float64 holds exactly. Absent is
// 0.
func (n *number) integer() (int64, error) {
	if !n.set {
		return 0, nil
	}
	v, err := strconv.ParseInt(n.text, 10, 64)
	if err == nil {
		return v, nil
	}
	want := typeInt64
	if errors.Is(err, strconv.ErrRange) {
		want = typeInt64Range
	} else if x, ferr := strconv.ParseFloat(n.text, 64); (ferr == nil || errors.Is(ferr, strconv.ErrRange)) && x == math.Trunc(x) {
		if !math.IsInf(x, 0) && math.Abs(x) <= 1<<53 {
			return int64(x), nil
		}
		if ferr != nil || !isNamedInf(n.text) {
			want = typeExactRange
		}
	}
	return 0, n.wrong(want)
}

// isNamedInf reports whether s spells infinity rather than a large number.
func isNamedInf(s string) bool {
	s = strings.TrimLeft(strings.ToLower(s), "+-")
	return s == "inf" || s == "infinity"
}

// float returns the number as a float64 (a trailing % is ignored). Absent
// is 0.
func (n *number) float() (float64, error) {
	if !n.set {
		return 0, nil
	}
	x, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(n.text, "%")), 64)
	if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
		return 0, n.wrong(typeNumber)
	}
	return x, nil
}

// flexTime is an RFC 3339 time string; null and "" are absent (zero).
type flexTime struct{ v time.Time }

func (t *flexTime) UnmarshalJSON(b []byte) error {
	if b[0] == 'n' {
		return nil
	}
	var s string
	if b[0] != '"' || json.Unmarshal(b, &s) != nil {
		return typeError(b, typeTime)
	}
	if s = strings.TrimSpace(s); s == "" {
		return nil
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return typeError(b, typeTime)
	}
	t.v = v.UTC()
	return nil
}
