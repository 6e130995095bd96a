package koretest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// reportRequest is a validated POST: the window, the filters and the page.
type reportRequest struct {
	from, to time.Time
	agg      string
	filters  filterSpec
	skip     int
	limit    int // 0: every row
}

// Validation limits (kore/API.md §3).
const (
	maxRange      = 90 * 24 * time.Hour
	maxDailyRange = 30 * 24 * time.Hour
	defaultRange  = 7 * 24 * time.Hour
	maxBodyBytes  = 1 << 20
)

var (
	dateOnly     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	dateTimeMsZ  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)
	digitsOnly   = regexp.MustCompile(`^[0-9]+$`)
	validTagType = map[string]bool{"user": true, "session": true, "message": true}
)

// badRequest is a validation failure; its text names the field.
type badRequest string

func (e badRequest) Error() string { return string(e) }

func badf(format string, args ...any) badRequest { return badRequest(fmt.Sprintf(format, args...)) }

// parseReportRequest reads and validates a POST (kore/API.md §3, §7).
//
// Assumptions where the docs are silent:
//   - a missing or empty body, "null", a missing or null "filters" are the
//     defaults; keys beside "filters" are refused (400), as are unknown
//     filter keys; a null filter value is the same as an absent one;
//   - a non-empty body must be sent as application/json;
//   - dates are UTC, dateFrom inclusive, dateTo exclusive, never rounded;
//     with both absent the window is the 7 days up to now;
//   - AggregationType defaults to Cumulative; the 90-day and 30-day limits
//     are inclusive (exactly 90 days is allowed);
//   - limit=0 means no limit; skip and limit have no upper bound.
func parseReportRequest(r *http.Request, now time.Time) (*reportRequest, error) {
	req := &reportRequest{}
	q := r.URL.Query()
	for _, p := range []struct {
		name string
		dst  *int
	}{{"skip", &req.skip}, {"limit", &req.limit}} {
		if !q.Has(p.name) {
			continue
		}
		v := q.Get(p.name)
		n, err := strconv.Atoi(v)
		if !digitsOnly.MatchString(v) || err != nil {
			return nil, badf("%s must be a non-negative integer", p.name)
		}
		*p.dst = n
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, badf("request body could not be read")
	}
	if len(body) > maxBodyBytes {
		return nil, badf("request body is too large")
	}
	filters := map[string]json.RawMessage{}
	if body = bytes.TrimSpace(body); len(body) > 0 && !isNull(body) {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			return nil, badf("Content-Type must be application/json")
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(body, &top); err != nil {
			return nil, badf("request body must be a JSON object")
		}
		for k, v := range top {
			if k != "filters" {
				return nil, badf("%s is not a valid field", k)
			}
			if !isNull(v) {
				if err := json.Unmarshal(v, &filters); err != nil || filters == nil {
					return nil, badf("filters must be an object")
				}
			}
		}
	}

	var fromSet, toSet bool
	for _, k := range slices.Sorted(maps.Keys(filters)) { // deterministic first error
		v := filters[k]
		if isNull(v) {
			continue
		}
		var err error
		switch k {
		case "dateFrom":
			req.from, err = parseDate("filters."+k, v)
			fromSet = true
		case "dateTo":
			req.to, err = parseDate("filters."+k, v)
			toSet = true
		case "includeTaskName":
			if json.Unmarshal(v, &req.filters.include) != nil {
				err = badf("filters.includeTaskName must be an array of strings")
			}
		case "ConversationType":
			req.filters.convType, err = parseEnum(k, v, "Interactive", "Non-Interactive")
		case "ConversationStatus":
			req.filters.convStat, err = parseEnum(k, v, "Active", "Closed")
		case "AggregationType":
			req.agg, err = parseEnum(k, v, aggDaily, aggCumulative)
		case "tags":
			req.filters.channels, err = parseTags(v)
			req.filters.tagged = true
		default:
			err = badf("filters.%s is not a valid filter", k)
		}
		if err != nil {
			return nil, err
		}
	}
	if req.agg == "" {
		req.agg = aggCumulative
	}
	switch {
	case !fromSet && !toSet:
		req.to = now.UTC()
		req.from = req.to.Add(-defaultRange)
	case !fromSet:
		req.from = req.to.Add(-defaultRange)
	case !toSet:
		req.to = req.from.Add(defaultRange)
	}
	switch {
	case !req.from.Before(req.to):
		return nil, badf("filters.dateFrom must be before filters.dateTo")
	case req.to.Sub(req.from) > maxRange:
		return nil, badf("filters.dateFrom and filters.dateTo must be at most 90 days apart")
	case req.agg == aggDaily && req.to.Sub(req.from) > maxDailyRange:
		return nil, badf("filters.AggregationType Daily allows a date range of at most 30 days")
	}
	return req, nil
}

func isNull(b []byte) bool { return bytes.Equal(bytes.TrimSpace(b), []byte("null")) }

// parseDate accepts yyyy-mm-dd and yyyy-mm-ddThh:mm:ss.msZ (exactly three
// fraction digits), as UTC.
func parseDate(field string, v json.RawMessage) (time.Time, error) {
	bad := badf("%s must be a date in yyyy-mm-dd or yyyy-mm-ddThh:mm:ss.msZ format", field)
	var s string
	if json.Unmarshal(v, &s) != nil {
		return time.Time{}, bad
	}
	layout := ""
	switch {
	case dateOnly.MatchString(s):
		layout = dateLayout
	case dateTimeMsZ.MatchString(s):
		layout = "2006-01-02T15:04:05.000Z"
	default:
		return time.Time{}, bad
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, bad
	}
	return t.UTC(), nil
}

// parseEnum accepts exactly one of values (case-sensitive).
func parseEnum(field string, v json.RawMessage, values ...string) (string, error) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		for _, ok := range values {
			if s == ok {
				return s, nil
			}
		}
	}
	return "", badf("filters.%s must be one of %s", field, strings.Join(values, ", "))
}

// parseTags validates the tags filter, an array of {"name": string,
// "values": [string], "type": "user"|"session"|"message"}, and returns the
// channels it selects: the values of its ChannelTag elements whose type is
// session or absent (assumptions: type may be absent; several elements
// select the union; any other tag selects no session, since the simulated
// sessions carry no other tag).
func parseTags(v json.RawMessage) ([]string, error) {
	channels := []string{}
	if err := checkTags(v); err != nil {
		return nil, err
	}
	var tags []struct {
		Name   string   `json:"name"`
		Values []string `json:"values"`
		Type   string   `json:"type"`
	}
	_ = json.Unmarshal(v, &tags) // checkTags decoded it
	for _, t := range tags {
		if t.Name == ChannelTag && (t.Type == "" || t.Type == "session") {
			channels = append(channels, t.Values...)
		}
	}
	return channels, nil
}

// checkTags validates the shape of the tags filter.
func checkTags(v json.RawMessage) error {
	var tags []map[string]json.RawMessage
	if json.Unmarshal(v, &tags) != nil {
		return badf("filters.tags must be an array of objects")
	}
	for i, t := range tags {
		if t == nil {
			return badf("filters.tags[%d] must be an object", i)
		}
		var name string
		if json.Unmarshal(t["name"], &name) != nil || name == "" {
			return badf("filters.tags[%d].name must be a non-empty string", i)
		}
		var values []string
		if json.Unmarshal(t["values"], &values) != nil || values == nil {
			return badf("filters.tags[%d].values must be an array of strings", i)
		}
		if raw, ok := t["type"]; ok {
			var typ string
			if json.Unmarshal(raw, &typ) != nil || !validTagType[typ] {
				return badf("filters.tags[%d].type must be one of user, session, message", i)
			}
		}
		for k := range t {
			if k != "name" && k != "values" && k != "type" {
				return badf("filters.tags[%d].%s is not a valid tag field", i, k)
			}
		}
	}
	return nil
}
