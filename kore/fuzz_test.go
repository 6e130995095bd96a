package kore

import (
	"errors"
	"testing"
)

// fuzzSeeds are realistic bodies: the samples of API.md §4 and §5, and the
// shapes the tolerance and reject tests use.
var fuzzSeeds = []string{
	sampleJob,
	sampleStatus,
	okJob,
	okStatus,
	`{"status":"in-progress","percentageComplete":"42.4","expireAt":null}`,
	`{"status":"FAILED","_id":"ds-1"}`,
	`{"tasksExecutionReport":{"total":"2","data":{"b":[{"taskName":"T","Status":"success","totalSession":"9","dropOffSessionsInPercentage":"33.33%"}]}}}`,
	`{"status":"SUCCESS","tasksExecutionReport":{"total":1,"data":{"x":[{"taskName":"B","Status":"s","dropOffSessions":-3}]}}}`,
	`{"errors":[{"msg":"Request not found","code":404}]}`,
	`{"status":"SUCCESS","tasksExecutionReport":{"total":1,"data":{"d":[{"taskName":`,
}

// checkStatus asserts the decoder's contract on any input.
func checkStatus(t *testing.T, st *JobStatus, err error) {
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) || !errors.Is(err, ErrInvalidResponse) || st != nil {
			t.Fatalf("error %v (%T) is not a lone *DecodeError", err, err)
		}
		return
	}
	if st.PercentageComplete < 0 || st.PercentageComplete > 100 || st.CountOfDockStatuses < 0 || st.V < 0 {
		t.Fatalf("envelope out of range: %+v", st.Job)
	}
	if st.State() == JobSucceeded && st.Report == nil {
		t.Fatal("a finished job without a report")
	}
	if st.Report == nil {
		return
	}
	if st.Report.Total < 0 {
		t.Fatalf("negative total %d", st.Report.Total)
	}
	for b, rows := range st.Report.Data {
		for i, r := range rows {
			if r.TotalExecution < 0 || r.TotalSession < 0 || r.SelfServiceSessions < 0 || r.DropOffSessions < 0 || r.AgentTransferSessions < 0 {
				t.Fatalf("row %s[%d] has a negative count: %+v", b, i, r)
			}
		}
	}
}

func FuzzDecodeStatus(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := DecodeStatus(data)
		checkStatus(t, st, err)
	})
}

func FuzzDecodeJob(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := DecodeJob(data)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || j != nil {
				t.Fatalf("error %v (%T) is not a lone *DecodeError", err, err)
			}
			return
		}
		if j.ID == "" || j.PercentageComplete < 0 || j.PercentageComplete > 100 || j.CountOfDockStatuses < 0 || j.V < 0 {
			t.Fatalf("invalid job accepted: %+v", j)
		}
	})
}
