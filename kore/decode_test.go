package kore

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The samples of API.md §4 and §5, verbatim.
const (
	sampleJob = `{"status":"IN_PROGRESS","percentageComplete":0,"streamId":"st-1a2b3c4d-0000-5000-8000-00000000a001",
 "jobType":"TASK_EXECUTION_CONTAINMENT_REPORT","action":"QUERY","countOfDockStatuses":1,
 "createdBy":"u-5e6f7a8b-0000-5000-8000-00000000b002","expireAt":"2025-06-02T10:20:01.512Z","statusLogs":[],
 "_id":"ds-9c8d7e6f-0000-5000-8000-00000000c003","lMod":"2025-06-02T10:05:01.000Z",
 "createdOn":"2025-06-02T10:05:01.517Z","requestedTime":"2025-06-02T10:05:01.517Z","__v":0}`

	sampleStatus = `{"tasksExecutionReport":{"total":3,"data":{
 "2025-06-01":[
  {"totalExecution":14,"totalSession":9,"selfServiceSessions":6,"dropOffSessions":2,"agentTransferSessions":1,
   "dateRange":"2025-06-01","taskType":"dialog","taskName":"Book Flight","Status":"success",
   "selfServiceSessionsInPercentage":"66.67","dropOffSessionsInPercentage":"22.22","agentTransferSessionsInPercentage":"11.11"},
  {"totalExecution":3,"totalSession":3,"selfServiceSessions":0,"dropOffSessions":3,"agentTransferSessions":0,
   "dateRange":"2025-06-01","taskType":"dialog","taskName":"Book Flight","Status":"failtask",
   "selfServiceSessionsInPercentage":0,"dropOffSessionsInPercentage":100,"agentTransferSessionsInPercentage":0}],
 "2025-06-02":[
  {"totalExecution":4,"totalSession":4,"selfServiceSessions":2,"dropOffSessions":0,"agentTransferSessions":2,
   "dateRange":"2025-06-02","taskType":"faq","taskName":"Baggage Allowance","Status":"success",
   "selfServiceSessionsInPercentage":50,"dropOffSessionsInPercentage":0,"agentTransferSessionsInPercentage":50}]}},
 "status":"SUCCESS"}`
)

func TestDecodeJobSample(t *testing.T) {
	t.Parallel()
	j, err := DecodeJob([]byte(sampleJob))
	if err != nil {
		t.Fatal(err)
	}
	ts := func(s string) time.Time { v, _ := time.Parse(time.RFC3339Nano, s); return v }
	want := Job{
		ID: "ds-9c8d7e6f-0000-5000-8000-00000000c003", Status: "IN_PROGRESS", StreamID: "st-1a2b3c4d-0000-5000-8000-00000000a001",
		JobType: "TASK_EXECUTION_CONTAINMENT_REPORT", Action: "QUERY", CountOfDockStatuses: 1,
		CreatedBy: "u-5e6f7a8b-0000-5000-8000-00000000b002", ExpireAt: ts("2025-06-02T10:20:01.512Z"),
		StatusLogs: json.RawMessage("[]"), LMod: ts("2025-06-02T10:05:01.000Z"),
		CreatedOn: ts("2025-06-02T10:05:01.517Z"), RequestedTime: ts("2025-06-02T10:05:01.517Z"),
	}
	if !reflect.DeepEqual(*j, want) {
		t.Errorf("job\n got %+v\nwant %+v", *j, want)
	}
	if j.State() != JobRunning {
		t.Errorf("state %s", j.State())
	}
}

func TestDecodeStatusSample(t *testing.T) {
	t.Parallel()
	st, err := DecodeStatus([]byte(sampleStatus))
	if err != nil {
		t.Fatal(err)
	}
	if st.State() != JobSucceeded || st.Report == nil || st.Report.Total != 3 || st.Report.Rows() != 3 {
		t.Fatalf("status %+v", st)
	}
	want := TaskRow{TaskName: "Book Flight", TaskType: "dialog", Status: "success", TotalExecution: 14, TotalSession: 9,
		SelfServiceSessions: 6, DropOffSessions: 2, AgentTransferSessions: 1, DateRange: "2025-06-01"}
	if got := st.Report.Data["2025-06-01"][0]; got != want {
		t.Errorf("row\n got %+v\nwant %+v", got, want)
	}
	if got := st.Report.Data["2025-06-02"][0]; got.AgentTransferSessions != 2 || got.TaskType != "faq" {
		t.Errorf("row %+v", got)
	}
}

// TestDecodeTolerance: what real APIs send and the client must take.
func TestDecodeTolerance(t *testing.T) {
	t.Parallel()
	row := func(extra string) string {
		return `{"status":"SUCCESS","tasksExecutionReport":{"total":1,"data":{"b":[{"taskName":"T","Status":"success",` + extra + `}]}}}`
	}
	tests := []struct {
		name  string
		body  string
		check func(*JobStatus) bool
	}{
		{"unknown fields", `{"status":"IN_PROGRESS","x":{"y":[1,2]},"_id":"ds-1","extra":null}`, func(s *JobStatus) bool { return s.State() == JobRunning }},
		{"status lower-case with dash", `{"status":"in-progress"}`, func(s *JobStatus) bool { return s.State() == JobRunning }},
		{"status Success", `{"status":"Success","tasksExecutionReport":{"total":0,"data":{}}}`, func(s *JobStatus) bool { return s.State() == JobSucceeded }},
		{"status unknown", `{"status":"WARMING_UP"}`, func(s *JobStatus) bool { return s.State() == JobUnknown }},
		{"report without status", `{"tasksExecutionReport":{"total":0}}`, func(s *JobStatus) bool { return s.State() == JobSucceeded && s.Report.Rows() == 0 }},
		{"counts as strings", row(`"totalExecution":"14","totalSession":" 9 ","dropOffSessions":2.0`), func(s *JobStatus) bool {
			r := s.Report.Data["b"][0]
			return r.TotalExecution == 14 && r.TotalSession == 9 && r.DropOffSessions == 2
		}},
		{"percentages are not read, whatever they hold", row(`"selfServiceSessionsInPercentage":"n/a","dropOffSessionsInPercentage":{},"agentTransferSessionsInPercentage":"","totalSession":3`),
			func(s *JobStatus) bool { return s.Report.Data["b"][0].TotalSession == 3 }},
		{"counts null or empty are 0", row(`"totalExecution":null,"totalSession":""`), func(s *JobStatus) bool {
			r := s.Report.Data["b"][0]
			return r.TotalExecution == 0 && r.TotalSession == 0
		}},
		{"percentageComplete with a percent sign", `{"status":"IN_PROGRESS","percentageComplete":"50%"}`, func(s *JobStatus) bool { return s.PercentageComplete == 50 }},
		{"total as string", `{"status":"SUCCESS","tasksExecutionReport":{"total":"2","data":null}}`, func(s *JobStatus) bool { return s.Report.Total == 2 }},
		{"escaped task name", row(`"taskName":"Book \"Flight\" \u00e9"`), func(s *JobStatus) bool { return s.Report.Data["b"][0].TaskName == `Book "Flight" é` }},
		{"percentageComplete as string", `{"status":"IN_PROGRESS","percentageComplete":"42.4"}`, func(s *JobStatus) bool { return s.PercentageComplete == 42 }},
		{"null times", `{"status":"IN_PROGRESS","expireAt":null,"lMod":""}`, func(s *JobStatus) bool { return s.ExpireAt.IsZero() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, err := DecodeStatus([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(st) {
				t.Errorf("decoded %+v (report %+v)", st, st.Report)
			}
		})
	}
}

// TestDecodeRejects: what is wrong, and the field the error names.
func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	done := func(rows string) string {
		return `{"status":"SUCCESS","tasksExecutionReport":{"total":2,"data":{"2025-06-01":[{"taskName":"A","Status":"success"}],"2025-06-02":[` + rows + `]}}}`
	}
	tests := []struct {
		name   string
		job    bool // DecodeJob, else DecodeStatus
		body   string
		field  string
		errHas string
	}{
		{"job without _id", true, `{"status":"IN_PROGRESS","percentageComplete":0}`, "_id", "missing"},
		{"job with empty _id", true, `{"_id":"","status":"IN_PROGRESS"}`, "_id", "missing"},
		{"job _id a number", true, `{"_id":5,"status":"IN_PROGRESS"}`, "_id", "got number 5, want a string"},
		{"job without status", true, `{"_id":"ds-1"}`, "status", "missing"},
		{"job truncated", true, sampleJob[:80], "", "truncated JSON"},
		{"job not an object", true, `[1,2]`, "", "got array"},
		{"job garbage", true, `<html>`, "", "invalid JSON"},
		{"job bad expireAt", true, `{"_id":"ds-1","status":"X","expireAt":"tomorrow"}`, "expireAt", "RFC 3339"},
		{"job negative dock count", true, `{"_id":"ds-1","status":"X","countOfDockStatuses":-1}`, "countOfDockStatuses", "out of range"},
		{"percent over 100", false, `{"status":"IN_PROGRESS","percentageComplete":101}`, "percentageComplete", "out of range"},
		{"percent bool", false, `{"status":"IN_PROGRESS","percentageComplete":true}`, "percentageComplete", "got bool"},
		{"no status no report", false, `{"percentageComplete":10}`, "status", "missing"},
		{"success without report", false, `{"status":"SUCCESS"}`, "tasksExecutionReport", "missing"},
		{"report without total", false, `{"status":"SUCCESS","tasksExecutionReport":{"data":{}}}`, "tasksExecutionReport.total", "missing"},
		{"negative total", false, `{"status":"SUCCESS","tasksExecutionReport":{"total":-1}}`, "tasksExecutionReport.total", "out of range"},
		{"data an array", false, `{"status":"SUCCESS","tasksExecutionReport":{"total":1,"data":[]}}`, "tasksExecutionReport.data", "got array"},
		{"bucket an object", false, `{"status":"SUCCESS","tasksExecutionReport":{"total":1,"data":{"x":{}}}}`, "tasksExecutionReport.data[x]", "got object, want an array"},
		{"negative count", false, done(`{"taskName":"B","Status":"success","dropOffSessions":-3}`), "tasksExecutionReport.data[2025-06-02][0].dropOffSessions", "negative count: -3"},
		{"negative count as string", false, done(`{},{"taskName":"B","Status":"x","totalSession":"-1"}`), "tasksExecutionReport.data[2025-06-02][0].taskName", "missing"},
		{"count a word", false, done(`{"taskName":"B","Status":"success"},{"taskName":"C","Status":"success","totalSession":"many"}`), "tasksExecutionReport.data[2025-06-02][1].totalSession", `got string "many", want an integer`},
		{"count fractional", false, done(`{"taskName":"B","Status":"success","totalExecution":1.5}`), "tasksExecutionReport.data[2025-06-02][0].totalExecution", "want an integer"},
		{"count above int64", false, done(`{"taskName":"B","Status":"success","totalSession":9223372036854775808}`), "tasksExecutionReport.data[2025-06-02][0].totalSession", "got number 9223372036854775808, want an integer within the int64 range"},
		{"count above 2^53 in exponent form", false, done(`{"taskName":"B","Status":"success","totalSession":"1e19"}`), "tasksExecutionReport.data[2025-06-02][0].totalSession", "at most 2^53"},
		{"count an object", false, done(`{"taskName":"B","Status":"success","totalExecution":{}}`), "tasksExecutionReport.data[2025-06-02][0].totalExecution", "got object"},
		{"taskType a number", false, done(`{"taskName":"B","Status":"success","taskType":7}`), "tasksExecutionReport.data[2025-06-02][0].taskType", "want a string"},
		{"row without Status", false, done(`{"taskName":"B"}`), "tasksExecutionReport.data[2025-06-02][0].Status", "missing"},
		{"percentageComplete a word", false, `{"status":"IN_PROGRESS","percentageComplete":"soon"}`, "percentageComplete", `got string "soon", want a number`},
		{"row not an object", false, done(`7`), "tasksExecutionReport.data[2025-06-02][0]", "got number, want an object"},
		{"broken JSON inside a bucket is a syntax error of the body", false, `{"status":"SUCCESS","tasksExecutionReport":{"total":1,"data":{"b":[{"taskName":}]}}}`, "", "invalid JSON"},
		{"truncated report", false, sampleStatus[:len(sampleStatus)-40], "", "truncated JSON"},
		{"empty body", false, ``, "", "truncated JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var err error
			ep := EndpointStatus
			if tt.job {
				_, err = DecodeJob([]byte(tt.body))
				ep = EndpointSubmit
			} else {
				_, err = DecodeStatus([]byte(tt.body))
			}
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, ErrInvalidResponse) {
				t.Fatalf("err = %v, want a DecodeError", err)
			}
			if de.Field != tt.field || de.Endpoint != ep || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("err = %v (field %q), want field %q and %q", err, de.Field, tt.field, tt.errHas)
			}
		})
	}
}

func TestParseJobState(t *testing.T) {
	t.Parallel()
	tests := map[string]JobState{
		"IN_PROGRESS": JobRunning, "in_progress": JobRunning, "In-Progress": JobRunning, "INPROGRESS": JobRunning, "queued": JobRunning,
		"SUCCESS": JobSucceeded, "success": JobSucceeded, "SUCCESSFUL": JobSucceeded, " Succeeded ": JobSucceeded,
		"FAILED": JobFailed, "failure": JobFailed,
		"": JobUnknown, "EXPIRED?": JobUnknown, "DONE": JobUnknown,
	}
	for s, want := range tests {
		if got := ParseJobState(s); got != want {
			t.Errorf("ParseJobState(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestNumberInteger(t *testing.T) {
	t.Parallel()
	num := func(lit string) *number {
		var n number
		if err := json.Unmarshal([]byte(lit), &n); err != nil {
			t.Fatalf("unmarshal %s: %v", lit, err)
		}
		return &n
	}
	ints := map[string]int64{"0": 0, "14": 14, "-3": -3, "14.0": 14, "1e3": 1000, `"14"`: 14, `" 9 "`: 9, "null": 0, `""`: 0,
		"123456789012345678": 123456789012345678, "9223372036854775807": math.MaxInt64, "-9223372036854775808": math.MinInt64,
		"9007199254740992.0": 1 << 53}
	for lit, want := range ints {
		if got, err := num(lit).integer(); err != nil || got != want {
			t.Errorf("integer(%s) = %v, %v; want %d", lit, got, err, want)
		}
	}
	bad := map[string]string{
		"1.5": "want an integer", `"x"`: `got string "x", want an integer`, `"Inf"`: "want an integer", `"NaN"`: "want an integer", `"-"`: "want an integer",
		"9223372036854775808":  "got number 9223372036854775808, want an integer within the int64 range",
		"-9223372036854775809": "within the int64 range",
		"99999999999999999999": "within the int64 range",
		"9007199254740994.0":   "at most 2^53",
		"1e19":                 "at most 2^53",
		"1e400":                "at most 2^53",
	}
	for lit, want := range bad {
		if _, err := num(lit).integer(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("integer(%s) = %v, want an error saying %q", lit, err, want)
		}
	}
	for _, lit := range []string{"{}", "[]", "true"} {
		var n number
		if err := json.Unmarshal([]byte(lit), &n); err == nil {
			t.Errorf("unmarshal %s: no error", lit)
		}
	}
	floats := map[string]float64{"0": 0, "66.67": 66.67, `"33.33%"`: 33.33, "1e1": 10, `" 42.4 "`: 42.4}
	for lit, want := range floats {
		if got, err := num(lit).float(); err != nil || got != want {
			t.Errorf("float(%s) = %v, %v; want %v", lit, got, err, want)
		}
	}
	for _, lit := range []string{`"abc"`, `"NaN"`, `"Inf"`, "1e999"} {
		if _, err := num(lit).float(); err == nil {
			t.Errorf("float(%s) ok", lit)
		}
	}
}
