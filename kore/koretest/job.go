package koretest

import (
	"time"
)

// Job constants (kore/API.md §4).
const (
	jobType      = "TASK_EXECUTION_CONTAINMENT_REPORT"
	jobAction    = "QUERY"
	timeLayout   = "2006-01-02T15:04:05.000Z"
	progressStep = 10 // percentageComplete climbs in steps of this
	stallAt      = 90 // where a NeverFinish job stalls
)

// job is a submitted report job for one page.
type job struct {
	id, botID, userID   string
	createdOn, expireAt time.Time
	fail, never         bool // FailJobs, NeverFinish at submission
	rows                []bucketRow
	total               int
	calls               window // status calls, guarded by Server.mu
}

// progress returns the job's status and percentageComplete at now, and
// when it last changed (lMod). Assumption: a FAILED job reports 100.
func (j *job) progress(now time.Time, dur time.Duration) (status string, pct int, lmod time.Time) {
	elapsed := now.Sub(j.createdOn)
	if elapsed < 0 {
		elapsed = 0
	}
	if !j.never && elapsed >= dur {
		lmod = j.createdOn.Add(dur)
		if j.fail {
			return "FAILED", 100, lmod
		}
		return "SUCCESS", 100, lmod
	}
	steps := 100 / progressStep
	step := int(int64(elapsed) * int64(steps) / int64(max(dur, 1)))
	step = min(step, steps-1)
	pct = step * progressStep
	if j.never {
		pct = min(pct, stallAt)
		step = pct / progressStep
	}
	return "IN_PROGRESS", pct, j.createdOn.Add(time.Duration(int64(dur) * int64(step) / int64(steps)))
}

func ts(t time.Time) string { return t.UTC().Format(timeLayout) }

// envelope is the §4 job envelope (POST answer, running or failed GET).
type envelope struct {
	Status              string `json:"status"`
	PercentageComplete  int    `json:"percentageComplete"`
	StreamID            string `json:"streamId"`
	JobType             string `json:"jobType"`
	Action              string `json:"action"`
	CountOfDockStatuses int    `json:"countOfDockStatuses"`
	CreatedBy           string `json:"createdBy"`
	ExpireAt            string `json:"expireAt"`
	StatusLogs          []any  `json:"statusLogs"`
	ID                  string `json:"_id"`
	LMod                string `json:"lMod"`
	CreatedOn           string `json:"createdOn"`
	RequestedTime       string `json:"requestedTime"`
	V                   int    `json:"__v"`
}

func (j *job) envelope(status string, pct int, lmod time.Time, wrongTypes bool) any {
	e := envelope{
		Status:              status,
		PercentageComplete:  pct,
		StreamID:            j.botID,
		JobType:             jobType,
		Action:              jobAction,
		CountOfDockStatuses: 1,
		CreatedBy:           j.userID,
		ExpireAt:            ts(j.expireAt),
		StatusLogs:          []any{},
		ID:                  j.id,
		LMod:                ts(lmod),
		CreatedOn:           ts(j.createdOn),
		RequestedTime:       ts(j.createdOn),
	}
	if !wrongTypes {
		return e
	}
	return map[string]any{
		"status":              e.Status,
		"percentageComplete":  map[string]any{"$numberInt": pct},
		"streamId":            e.StreamID,
		"jobType":             e.JobType,
		"action":              e.Action,
		"countOfDockStatuses": true,
		"createdBy":           e.CreatedBy,
		"expireAt":            j.expireAt.UnixMilli(),
		"statusLogs":          e.StatusLogs,
		"_id":                 int64(hashString(j.id) >> 12),
		"lMod":                e.LMod,
		"createdOn":           e.CreatedOn,
		"requestedTime":       e.RequestedTime,
		"__v":                 0,
	}
}

// wireRow is a report row as the API sends it (kore/API.md §5).
type wireRow struct {
	TotalExecution        int64  `json:"totalExecution"`
	TotalSession          int64  `json:"totalSession"`
	SelfServiceSessions   int64  `json:"selfServiceSessions"`
	DropOffSessions       int64  `json:"dropOffSessions"`
	AgentTransferSessions int64  `json:"agentTransferSessions"`
	DateRange             string `json:"dateRange"`
	TaskType              string `json:"taskType"`
	TaskName              string `json:"taskName"`
	Status                string `json:"Status"`
	SelfServicePct        any    `json:"selfServiceSessionsInPercentage"`
	DropOffPct            any    `json:"dropOffSessionsInPercentage"`
	AgentTransferPct      any    `json:"agentTransferSessionsInPercentage"`
}

// percent renders part as a share of total: whole values as JSON numbers,
// others as strings with two decimals (kore/API.md §7 Numbers); 0 when total is 0.
func percent(part, total int64) any {
	if total == 0 {
		return 0
	}
	hundredths := (part*10000 + total/2) / total // rounded, half up
	if hundredths%100 == 0 {
		return hundredths / 100
	}
	return formatHundredths(hundredths)
}

func formatHundredths(h int64) string {
	frac := h % 100
	s := itoa(h/100) + "."
	if frac < 10 {
		s += "0"
	}
	return s + itoa(frac)
}

type reportBody struct {
	Report struct {
		Total any            `json:"total"`
		Data  map[string]any `json:"data"`
	} `json:"tasksExecutionReport"`
	Status string `json:"status"`
}

// report is the finished job's page: {"tasksExecutionReport":{"total":…,
// "data":{bucket:[rows]}},"status":"SUCCESS"}.
func (j *job) report(wrongTypes bool) reportBody {
	var b reportBody
	b.Status = "SUCCESS"
	b.Report.Total = j.total
	if wrongTypes {
		b.Report.Total = map[string]any{"$numberInt": itoa(int64(j.total))}
	}
	data := make(map[string][]any)
	for _, r := range j.rows {
		w := wireRow{
			TotalExecution:        r.TotalExecution,
			TotalSession:          r.TotalSession,
			SelfServiceSessions:   r.SelfServiceSessions,
			DropOffSessions:       r.DropOffSessions,
			AgentTransferSessions: r.AgentTransferSessions,
			DateRange:             r.Bucket,
			TaskType:              r.TaskType,
			TaskName:              r.TaskName,
			Status:                r.Status,
			SelfServicePct:        percent(r.SelfServiceSessions, r.TotalSession),
			DropOffPct:            percent(r.DropOffSessions, r.TotalSession),
			AgentTransferPct:      percent(r.AgentTransferSessions, r.TotalSession),
		}
		var v any = w
		if wrongTypes {
			v = map[string]any{
				"totalExecution":                    map[string]any{"$numberLong": itoa(w.TotalExecution)},
				"totalSession":                      w.TotalSession > 0,
				"selfServiceSessions":               map[string]any{"value": w.SelfServiceSessions},
				"dropOffSessions":                   w.DropOffSessions > 0,
				"agentTransferSessions":             []int64{w.AgentTransferSessions},
				"dateRange":                         w.DateRange,
				"taskType":                          w.TaskType,
				"taskName":                          w.TaskName,
				"Status":                            w.Status,
				"selfServiceSessionsInPercentage":   w.SelfServicePct,
				"dropOffSessionsInPercentage":       w.DropOffPct,
				"agentTransferSessionsInPercentage": w.AgentTransferPct,
			}
		}
		data[r.Bucket] = append(data[r.Bucket], v)
	}
	b.Report.Data = make(map[string]any, len(data))
	for k, v := range data {
		b.Report.Data[k] = v
	}
	return b
}
