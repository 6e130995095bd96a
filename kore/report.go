package kore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// reportFilters is the POST body's filters object (API.md §3): every
// key optional, casing exact (three keys start upper-case).
type reportFilters struct {
	DateFrom           string   `json:"dateFrom,omitempty"`
	DateTo             string   `json:"dateTo,omitempty"`
	IncludeTaskName    []string `json:"includeTaskName,omitempty"`
	ConversationType   string   `json:"ConversationType,omitempty"`
	ConversationStatus string   `json:"ConversationStatus,omitempty"`
	AggregationType    string   `json:"AggregationType"`
	Tags               []Tag    `json:"tags,omitempty"`
}

type reportBody struct {
	Filters reportFilters `json:"filters"`
}

// Body returns the JSON body of the submit call for r:
// {"filters":{…}}, dates in DateFormat (UTC), AggregationType Cumulative
// unless set. Enumerations are sent verbatim; the API validates them.
func (r *ReportRequest) Body() ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	f := reportFilters{
		IncludeTaskName:    r.IncludeTaskNames,
		ConversationType:   r.ConversationType,
		ConversationStatus: r.ConversationStatus,
		AggregationType:    r.AggregationType,
		Tags:               r.Tags,
	}
	if f.AggregationType == "" {
		f.AggregationType = AggregationCumulative
	}
	if !r.From.IsZero() {
		f.DateFrom = r.From.UTC().Format(DateFormat)
	}
	if !r.To.IsZero() {
		f.DateTo = r.To.UTC().Format(DateFormat)
	}
	return json.Marshal(reportBody{Filters: f})
}

func (r *ReportRequest) validate() error {
	switch {
	case !r.From.IsZero() && !r.To.IsZero() && !r.From.Before(r.To):
		return fmt.Errorf("kore: report request: From (%s) must be before To (%s)", r.From.UTC().Format(DateFormat), r.To.UTC().Format(DateFormat))
	case r.PageSize < 0:
		return fmt.Errorf("kore: report request: PageSize must not be negative, got %d", r.PageSize)
	}
	return nil
}

func reportPath(botID string) (string, error) {
	if strings.TrimSpace(botID) == "" {
		return "", errors.New("kore: bot id is empty")
	}
	return "/api/public/bot/" + url.PathEscape(botID) + "/taskContainmentReport", nil
}

// SubmitReport submits one report job for one page of rows (POST
// …/taskContainmentReport?skip=…&limit=…; limit 0 leaves both out, and the
// API returns every row). Most callers want RunContainmentReport.
func (c *Client) SubmitReport(ctx context.Context, botID string, req ReportRequest, skip, limit int) (*Job, error) {
	body, err := req.Body()
	if err != nil {
		return nil, err
	}
	return c.submit(ctx, botID, body, skip, limit)
}

func (c *Client) submit(ctx context.Context, botID string, body []byte, skip, limit int) (*Job, error) {
	path, err := reportPath(botID)
	if err != nil {
		return nil, err
	}
	if skip < 0 || limit < 0 {
		return nil, fmt.Errorf("kore: submit report: skip (%d) and limit (%d) must not be negative", skip, limit)
	}
	cl := &call{botID: botID, endpoint: EndpointSubmit, method: http.MethodPost, path: path, body: body, maxBody: maxSubmitBody}
	if limit > 0 {
		cl.query = "skip=" + strconv.Itoa(skip) + "&limit=" + strconv.Itoa(limit)
	}
	data, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return DecodeJob(data)
}

// ReportStatus asks once for a job's status (GET …/status/{_id}). A job the
// API no longer knows (404, 410, or 400 "not found") is a *JobError with
// Expired set (errors.Is(err, ErrJobExpired)).
func (c *Client) ReportStatus(ctx context.Context, botID, jobID string) (*JobStatus, error) {
	path, err := reportPath(botID)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(jobID) == "" {
		return nil, errors.New("kore: report status: job id is empty")
	}
	cl := &call{botID: botID, endpoint: EndpointStatus, method: http.MethodGet, path: path + "/status/" + url.PathEscape(jobID), maxBody: maxStatusBody}
	data, err := c.do(ctx, cl)
	if err != nil {
		if jobGone(err) {
			return nil, &JobError{JobID: jobID, Expired: true, Err: err}
		}
		return nil, err
	}
	return DecodeStatus(data)
}

// jobGone reports whether a status answer says the job does not exist
// (any more). [assume: API.md §7 Gone job]
func jobGone(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.StatusCode {
	case http.StatusNotFound, http.StatusGone:
		return true
	case http.StatusBadRequest:
		return strings.Contains(strings.ToLower(ae.Message), "not found")
	}
	return false
}

// RunContainmentReport submits a report job for the bot, polls it until it is
// done and fetches every page. ctx bounds the whole run; each HTTP exchange
// has the client's request timeout too.
//
// Pages: each page is a job of its own, submitted with skip=0&limit=PageSize,
// then skip += limit until the rows fetched reach the total the first page
// reported. Polls are spaced by the poll backoff (2 s, ×1.5, at most 30 s,
// with jitter); a job that reports FAILED is a *JobError (ErrJobFailed), one
// that passes its expireAt or vanishes is a *JobError (ErrJobExpired).
//
// Every row of every page is a distinct record: rows are summed per
// (taskName, taskType, Status) over every bucket and page, never dropped as
// repeats. A sum beyond the int64 range fails the run (ErrCountOverflow).
//
// Because each page is a separate job, the data may change between pages.
// The pages of one run are consistent when every page reports the same
// total, every page but the last holds exactly limit rows, and the rows add
// up to the total. An inconsistent set is thrown away and the whole report
// is run again from the first page, at most maxReruns times
// (Report.Reruns counts them); after that the run fails with
// ErrInconsistentPages. A total above ReportRequest.MaxRows fails the run
// after its first page (ErrReportTooLarge), so a server that overstates the
// total cannot make the client page on until its deadline.
//
// On error the returned Report, when not nil, holds the counts of the work
// done (Pages, Polls, Reruns, JobIDs) but no rows. When ctx is done, the
// error wraps ctx.Err().
func (c *Client) RunContainmentReport(ctx context.Context, botID string, req ReportRequest) (*Report, error) {
	body, err := req.Body()
	if err != nil {
		return nil, err
	}
	if _, err := reportPath(botID); err != nil {
		return nil, err
	}
	limit := req.PageSize
	if limit == 0 {
		limit = c.pageSize
	}
	maxRows := req.MaxRows
	if maxRows == 0 {
		maxRows = DefaultMaxReportRows
	}
	rep := &Report{}
	ctx, sent := countRequests(ctx)
	defer func() { rep.Requests = int(sent.Load()) }()
	for {
		rows, err := c.fetchPages(ctx, botID, body, limit, maxRows, req.OnProgress, rep)
		if err == nil {
			rep.Rows = rows
			return rep, nil
		}
		if !errors.Is(err, ErrInconsistentPages) || rep.Reruns >= maxReruns {
			return rep, err
		}
		rep.Reruns++
	}
}

// fetchPages runs one pass over every page of the report and returns the
// summed rows, sorted, or an error; see RunContainmentReport for the rules.
func (c *Client) fetchPages(ctx context.Context, botID string, body []byte, limit, maxRows int, onProgress func(int), rep *Report) ([]TaskRow, error) {
	var (
		index   = make(map[RowKey]int)
		rows    []TaskRow
		total   int
		fetched int
	)
	for skip, page := 0, 1; ; skip, page = skip+limit, page+1 {
		p, err := c.runJob(ctx, botID, body, skip, limit, onProgress, rep)
		if err != nil {
			return nil, err
		}
		rep.Pages++
		n := p.Rows()
		rep.RawRows += n
		fetched += n
		if page == 1 {
			total = p.Total
			rep.Total = total
			if total > maxRows {
				return nil, fmt.Errorf("kore: report: %w: the API reports a total of %d rows, more than the limit of %d", ErrReportTooLarge, total, maxRows)
			}
		}
		switch {
		case p.Total != total:
			return nil, inconsistent(page, "reports a total of %d rows, page 1 reported %d", p.Total, total)
		case n > limit:
			return nil, inconsistent(page, "holds %d rows, more than the limit of %d asked for", n, limit)
		case fetched > total:
			return nil, inconsistent(page, "brings the rows fetched to %d, more than the total of %d", fetched, total)
		case fetched < total && n < limit:
			return nil, inconsistent(page, "holds %d rows, fewer than the limit of %d, with %d of %d rows fetched", n, limit, fetched, total)
		}
		for _, bucket := range p.Data {
			for i := range bucket {
				r := &bucket[i]
				k := r.Key()
				j, ok := index[k]
				if !ok {
					index[k] = len(rows)
					rows = append(rows, TaskRow{TaskName: k.TaskName, TaskType: k.TaskType, Status: k.Status})
					j = len(rows) - 1
				}
				if err := rows[j].Add(r); err != nil {
					return nil, fmt.Errorf("kore: report: %w", err)
				}
			}
		}
		if fetched == total {
			break
		}
	}
	slices.SortFunc(rows, func(a, b TaskRow) int { return cmpKey(a.Key(), b.Key()) })
	return rows, nil
}

func inconsistent(page int, format string, args ...any) error {
	return fmt.Errorf("kore: report: %w: page %d %s", ErrInconsistentPages, page, fmt.Sprintf(format, args...))
}

func cmpKey(a, b RowKey) int {
	if c := strings.Compare(a.TaskName, b.TaskName); c != 0 {
		return c
	}
	if c := strings.Compare(a.TaskType, b.TaskType); c != 0 {
		return c
	}
	return strings.Compare(a.Status, b.Status)
}

// runJob submits one page's job and polls it until it is done.
func (c *Client) runJob(ctx context.Context, botID string, body []byte, skip, limit int, onProgress func(int), rep *Report) (*TasksExecutionReport, error) {
	submitted := time.Now()
	job, err := c.submit(ctx, botID, body, skip, limit)
	if err != nil {
		return nil, err
	}
	rep.JobIDs = append(rep.JobIDs, job.ID)
	progress := func(p int) {
		if onProgress != nil {
			onProgress(p)
		}
	}
	progress(job.PercentageComplete)
	expireAt := localExpiry(submitted, job)
	status := job.Status
	polls := c.pollBackoff.start()
	// A POST that already says SUCCESS is asked at once (the report comes
	// with the GET only); otherwise the first poll waits.
	immediate := job.State() == JobSucceeded
	for {
		if !immediate {
			if err := sleep(ctx, polls.next()); err != nil {
				return nil, fmt.Errorf("kore: report job %s: waiting to poll: %w", job.ID, err)
			}
		}
		immediate = false
		st, err := c.ReportStatus(ctx, botID, job.ID)
		rep.Polls++
		if err != nil {
			var je *JobError
			if errors.As(err, &je) && je.Status == "" {
				je.Status = status
			}
			return nil, err
		}
		if st.Status != "" {
			status = st.Status
		}
		if !st.ExpireAt.IsZero() {
			expireAt = localExpiry(submitted, &st.Job)
		}
		switch st.State() {
		case JobSucceeded:
			progress(100)
			return st.Report, nil
		case JobFailed:
			return nil, &JobError{JobID: job.ID, Status: status}
		}
		progress(st.PercentageComplete)
		// Running, or a status we do not know: poll on until expireAt.
		if now := time.Now(); now.After(expireAt) {
			return nil, &JobError{JobID: job.ID, Status: status, Expired: true,
				Err: fmt.Errorf("expireAt %s passed", expireAt.UTC().Format(time.RFC3339))}
		}
	}
}

// localExpiry returns when, on the local clock, the job expires. The job's
// lifetime is expireAt − createdOn (or requestedTime) on the server's clock,
// counted from when the client submitted it, so a skewed server clock (or a
// simulator's fake one) cannot expire a job early. Without createdOn,
// expireAt is taken as is; without expireAt, defaultJobTTL applies.
func localExpiry(submitted time.Time, j *Job) time.Time {
	created := j.CreatedOn
	if created.IsZero() {
		created = j.RequestedTime
	}
	switch {
	case j.ExpireAt.IsZero():
		return submitted.Add(defaultJobTTL)
	case created.IsZero():
		return j.ExpireAt
	}
	return submitted.Add(j.ExpireAt.Sub(created))
}
