package kore

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// DateFormat is the layout the client sends dateFrom and dateTo in: UTC with
// milliseconds, one of the two formats the Kore.ai docs accept
// (yyyy-mm-ddThh:mm:ss.msZ).
const DateFormat = "2006-01-02T15:04:05.000Z"

// MaxRange is the longest report range the API accepts: dateFrom and dateTo
// at most 90 days apart (API.md §3).
const MaxRange = 90 * 24 * time.Hour

// Endpoint names one of the calls the client makes: the two of the Task
// Execution-Based Containment Report API and getSessions. It is the value
// of the endpoint label of the exporter's self-metrics.
type Endpoint string

// The endpoints of the report API.
const (
	// EndpointSubmit is POST /api/public/bot/{botId}/taskContainmentReport.
	EndpointSubmit Endpoint = "submit"
	// EndpointStatus is GET /api/public/bot/{botId}/taskContainmentReport/status/{_id}.
	EndpointStatus Endpoint = "status"
	// EndpointSessions is POST /api/public/bot/{botId}/getSessions, the
	// Sessions History API.
	EndpointSessions Endpoint = "sessions"
)

// Enumerations of the report filters, verbatim as the API wants them
// (case-sensitive).
const (
	ConversationTypeInteractive    = "Interactive"
	ConversationTypeNonInteractive = "Non-Interactive"
	ConversationStatusActive       = "Active"
	ConversationStatusClosed       = "Closed"
	AggregationDaily               = "Daily"
	AggregationCumulative          = "Cumulative"
)

// Tag is one element of the tags filter. The Kore.ai docs leave its shape
// undocumented; this is the element of the Get Analytics API
// (API.md §7 tags), passed through verbatim.
type Tag struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
	Type   string   `json:"type,omitempty"` // user, session or message
}

// ReportRequest is what one report job asks for. The zero value asks for the
// API's defaults (the last 7 days, all tasks).
type ReportRequest struct {
	// From and To bound the window: From inclusive, To exclusive. Zero
	// values are left out of the body, so the API applies its defaults.
	From, To time.Time
	// IncludeTaskNames limits the report to these tasks (includeTaskName).
	IncludeTaskNames []string
	// ConversationType is "", Interactive or Non-Interactive.
	ConversationType string
	// ConversationStatus is "", Active or Closed.
	ConversationStatus string
	// AggregationType is "", Daily or Cumulative. The client sends
	// Cumulative when it is empty.
	AggregationType string
	// Tags filters by emitted custom tags.
	Tags []Tag
	// PageSize is the limit of each page (skip/limit query); 0 means the
	// client's default.
	PageSize int
	// MaxRows is the most rows the report may hold over all its pages; a
	// larger total fails the run after its first page (ErrReportTooLarge).
	// 0 means DefaultMaxReportRows.
	MaxRows int
	// OnProgress, when set, is called with the job's percentageComplete
	// each time a poll reports it. It must not block.
	OnProgress func(percent int)
}

// TaskRow is one row of a finished report: one task and one outcome
// (Status) within one bucket, or, in a Report, summed over every bucket.
// The percentages the API sends beside the counts are not kept: they follow
// from the counts, and summed rows need them computed again anyway.
type TaskRow struct {
	TaskName              string
	TaskType              string
	Status                string // success or failtask, verbatim
	TotalExecution        int64
	TotalSession          int64
	SelfServiceSessions   int64
	DropOffSessions       int64
	AgentTransferSessions int64
	// DateRange is the row's dateRange (its bucket); empty in a Report's
	// summed rows.
	DateRange string
}

// RowKey identifies a task row across buckets.
type RowKey struct {
	TaskName, TaskType, Status string
}

// Key returns the row's identity.
func (r TaskRow) Key() RowKey { return RowKey{r.TaskName, r.TaskType, r.Status} }

// rowCount is one count of a TaskRow: its API field name and where it is.
type rowCount struct {
	field string
	p     *int64
}

// counts returns r's counts.
func (r *TaskRow) counts() [5]rowCount {
	return [5]rowCount{
		{"totalExecution", &r.TotalExecution},
		{"totalSession", &r.TotalSession},
		{"selfServiceSessions", &r.SelfServiceSessions},
		{"dropOffSessions", &r.DropOffSessions},
		{"agentTransferSessions", &r.AgentTransferSessions},
	}
}

// Count returns r's count named by its API field: totalExecution,
// totalSession, selfServiceSessions, dropOffSessions or
// agentTransferSessions; 0 for any other name.
func (r *TaskRow) Count(field string) int64 {
	for _, c := range r.counts() {
		if c.field == field {
			return *c.p
		}
	}
	return 0
}

// Add adds o's counts to r's. Counts are never negative (the decoder refuses
// negative ones); a sum beyond the int64 range leaves r unchanged and returns
// an error that matches ErrCountOverflow and names the count and the task.
func (r *TaskRow) Add(o *TaskRow) error {
	dst, add := r.counts(), o.counts()
	for i, c := range dst {
		if inc := *add[i].p; inc < 0 || *c.p > math.MaxInt64-inc {
			return fmt.Errorf("%w: %s of task %q (%s, %s): %d + %d", ErrCountOverflow, c.field,
				printable(r.TaskName, maxNameInError), printable(r.TaskType, maxNameInError), printable(r.Status, maxNameInError), *c.p, inc)
		}
	}
	for i, c := range dst {
		*c.p += *add[i].p
	}
	return nil
}

// Report is the result of one finished report run.
type Report struct {
	// JobIDs are the ids of the jobs the run submitted (one per page).
	JobIDs []string
	// Rows holds one row per (taskName, taskType, Status), summed over
	// every bucket and page, sorted by task name, type and status.
	Rows []TaskRow
	// RawRows is how many rows the API returned before summing, over
	// every pass.
	RawRows int
	// Reruns is how many times the report was run again from its first
	// page because its pages were inconsistent.
	Reruns int
	// Pages is the number of pages fetched; Polls the number of status
	// calls made.
	Pages, Polls int
	// Requests is every HTTP request the run sent: submits, polls and
	// their retries, whatever their answer.
	Requests int
	// Total is the row total the API reported.
	Total int
}

// Job is the envelope of a report job as the POST and a running GET return it
// (API.md §4).
type Job struct {
	ID                  string          `json:"_id"`
	Status              string          `json:"status"`
	PercentageComplete  int             `json:"percentageComplete"`
	StreamID            string          `json:"streamId,omitempty"`
	JobType             string          `json:"jobType,omitempty"`
	Action              string          `json:"action,omitempty"`
	CountOfDockStatuses int             `json:"countOfDockStatuses,omitempty"`
	CreatedBy           string          `json:"createdBy,omitempty"`
	ExpireAt            time.Time       `json:"expireAt"`
	StatusLogs          json.RawMessage `json:"statusLogs,omitempty"`
	LMod                time.Time       `json:"lMod"`
	CreatedOn           time.Time       `json:"createdOn"`
	RequestedTime       time.Time       `json:"requestedTime"`
	// V is the document version (__v), internal to Kore.ai.
	V int `json:"__v"`
}
