package koretest

import (
	"net/http"
	"strings"
	"testing"
)

func TestValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithRateLimits(0, 0))
	f := func(inner string) string { return `{"filters":{` + inner + `}}` }
	tests := []struct {
		name    string
		query   string
		body    string
		ctype   string // "" → application/json
		wantMsg string // "" → 200; else a substring of the 400 msg
	}{
		{name: "no body", body: ""},
		{name: "empty object", body: `{}`},
		{name: "null body", body: `null`},
		{name: "null filters", body: `{"filters":null}`},
		{name: "empty filters", body: f(``)},
		{name: "date only", body: f(`"dateFrom":"2025-05-01","dateTo":"2025-05-08"`)},
		{name: "date with ms", body: f(`"dateFrom":"2024-04-30T00:00:00.000Z","dateTo":"2024-05-01T00:00:00.000Z"`)},
		{name: "mixed formats", body: f(`"dateFrom":"2025-05-01","dateTo":"2025-05-01T12:30:00.250Z"`)},
		{name: "exactly 90 days", body: f(`"dateFrom":"2025-03-01","dateTo":"2025-05-30"`)},
		{name: "91 days", body: f(`"dateFrom":"2025-03-01","dateTo":"2025-05-31"`), wantMsg: "90 days"},
		{name: "90 days plus 1ms", body: f(`"dateFrom":"2025-03-01T00:00:00.000Z","dateTo":"2025-05-30T00:00:00.001Z"`), wantMsg: "90 days"},
		{name: "Daily 30 days", body: f(`"dateFrom":"2025-05-01","dateTo":"2025-05-31","AggregationType":"Daily"`)},
		{name: "Daily 31 days", body: f(`"dateFrom":"2025-05-01","dateTo":"2025-06-01","AggregationType":"Daily"`), wantMsg: "AggregationType"},
		{name: "Cumulative 60 days", body: f(`"dateFrom":"2025-04-01","dateTo":"2025-05-31","AggregationType":"Cumulative"`)},
		{name: "from equals to", body: f(`"dateFrom":"2025-05-01","dateTo":"2025-05-01"`), wantMsg: "dateFrom"},
		{name: "from after to", body: f(`"dateFrom":"2025-05-02","dateTo":"2025-05-01"`), wantMsg: "dateFrom"},
		{name: "bad date format slash", body: f(`"dateFrom":"2025/05/01"`), wantMsg: "dateFrom"},
		{name: "bad date no ms", body: f(`"dateTo":"2025-05-01T00:00:00Z"`), wantMsg: "dateTo"},
		{name: "bad date offset", body: f(`"dateTo":"2025-05-01T00:00:00.000+02:00"`), wantMsg: "dateTo"},
		{name: "bad date 6 digits", body: f(`"dateTo":"2025-05-01T00:00:00.000000Z"`), wantMsg: "dateTo"},
		{name: "impossible date", body: f(`"dateFrom":"2025-02-30"`), wantMsg: "dateFrom"},
		{name: "date as number", body: f(`"dateFrom":20250501`), wantMsg: "dateFrom"},
		{name: "ConversationType ok", body: f(`"ConversationType":"Non-Interactive"`)},
		{name: "ConversationType case", body: f(`"ConversationType":"interactive"`), wantMsg: "ConversationType"},
		{name: "ConversationType bad", body: f(`"ConversationType":"Voice"`), wantMsg: "ConversationType"},
		{name: "ConversationStatus ok", body: f(`"ConversationStatus":"Closed"`)},
		{name: "ConversationStatus case", body: f(`"ConversationStatus":"closed"`), wantMsg: "ConversationStatus"},
		{name: "AggregationType case", body: f(`"AggregationType":"daily"`), wantMsg: "AggregationType"},
		{name: "AggregationType bad", body: f(`"AggregationType":"Weekly"`), wantMsg: "AggregationType"},
		{name: "lower-case key", body: f(`"conversationType":"Interactive"`), wantMsg: "conversationType"},
		{name: "unknown filter", body: f(`"channel":"web"`), wantMsg: "channel"},
		{name: "unknown top-level key", body: `{"filter":{}}`, wantMsg: "filter"},
		{name: "filters not object", body: `{"filters":[]}`, wantMsg: "filters"},
		{name: "body not JSON", body: `dateFrom=2025-05-01`, wantMsg: "JSON"},
		{name: "body array", body: `[]`, wantMsg: "JSON"},
		{name: "trailing garbage", body: `{} {}`, wantMsg: "JSON"},
		{name: "not application/json", body: `{}`, ctype: "text/plain", wantMsg: "Content-Type"},
		{name: "json with charset", body: `{}`, ctype: "application/json; charset=utf-8"},
		{name: "includeTaskName ok", body: f(`"includeTaskName":["Book Flight","Nope"]`)},
		{name: "includeTaskName string", body: f(`"includeTaskName":"Book Flight"`), wantMsg: "includeTaskName"},
		{name: "includeTaskName numbers", body: f(`"includeTaskName":[1]`), wantMsg: "includeTaskName"},
		{name: "tags ok", body: f(`"tags":[{"name":"region","values":["eu","us"],"type":"user"},{"name":"x","values":[]}]`)},
		{name: "tags not array", body: f(`"tags":{"name":"x"}`), wantMsg: "tags"},
		{name: "tag without name", body: f(`"tags":[{"values":["a"]}]`), wantMsg: "tags[0].name"},
		{name: "tag values string", body: f(`"tags":[{"name":"a","values":"b"}]`), wantMsg: "tags[0].values"},
		{name: "tag bad type", body: f(`"tags":[{"name":"a","values":["b"],"type":"bot"}]`), wantMsg: "tags[0].type"},
		{name: "tag unknown key", body: f(`"tags":[{"name":"a","values":["b"],"op":"eq"}]`), wantMsg: "tags[0].op"},
		{name: "null filter value", body: f(`"ConversationType":null`)},
		{name: "skip limit ok", query: "?skip=0&limit=100"},
		{name: "skip negative", query: "?skip=-1", wantMsg: "skip"},
		{name: "limit not a number", query: "?limit=ten", wantMsg: "limit"},
		{name: "limit fraction", query: "?limit=1.5", wantMsg: "limit"},
		{name: "limit empty", query: "?limit=", wantMsg: "limit"},
		{name: "skip plus sign", query: "?skip=+5", wantMsg: "skip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body *strings.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			var req *http.Request
			if body != nil {
				req, _ = http.NewRequest(http.MethodPost, h.s.URL+pathSubmit(testBotID)+tt.query, body)
				ct := tt.ctype
				if ct == "" {
					ct = "application/json"
				}
				req.Header.Set("Content-Type", ct)
			} else {
				req, _ = http.NewRequest(http.MethodPost, h.s.URL+pathSubmit(testBotID)+tt.query, nil)
			}
			req.Header.Set("auth", h.token())
			code, r := doAPI(t, h.hc, req)
			if tt.wantMsg == "" {
				if code != 200 || r.Status != "IN_PROGRESS" {
					t.Fatalf("HTTP %d %+v, want 200 IN_PROGRESS", code, r.Errors)
				}
				return
			}
			if code != 400 || len(r.Errors) != 1 || r.Errors[0].Code != 400 {
				t.Fatalf("HTTP %d %+v, want 400 code 400", code, r.Errors)
			}
			if !strings.Contains(r.Errors[0].Msg, tt.wantMsg) {
				t.Fatalf("msg %q does not name %q", r.Errors[0].Msg, tt.wantMsg)
			}
		})
	}
	if h.s.Stats(testBotID).BadRequests == 0 {
		t.Error("Stats.BadRequests = 0")
	}
}

// TestDefaults checks the default window through the Cumulative bucket key.
func TestDefaults(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithJobDuration(0))
	tests := []struct {
		name, body, wantKey string
	}{
		{"only dateTo", `{"filters":{"dateTo":"2025-06-01"}}`, "2025-05-25 - 2025-06-01"},
		{"only dateFrom", `{"filters":{"dateFrom":"2025-05-01"}}`, "2025-05-01 - 2025-05-08"},
		{"neither", `{"filters":{}}`, "2025-05-26 - 2025-06-02"},
		{"no body", ``, "2025-05-26 - 2025-06-02"},
		{"Daily keys are days", `{"filters":{"dateFrom":"2025-05-30T12:00:00.000Z","dateTo":"2025-06-01T00:00:00.000Z","AggregationType":"Daily"}}`, "2025-05-30,2025-05-31"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := h.submit(tt.body, "")
			_, r := h.poll(job.ID)
			var keys []string
			for k, rows := range r.Report.Data {
				keys = append(keys, k)
				for _, row := range rows {
					if row.DateRange != k {
						t.Errorf("row dateRange %q in bucket %q", row.DateRange, k)
					}
				}
			}
			sortStrings(keys)
			if got := strings.Join(keys, ","); got != tt.wantKey {
				t.Fatalf("buckets %q, want %q", got, tt.wantKey)
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, pathSubmit(testBotID)},
		{http.MethodPut, pathSubmit(testBotID)},
		{http.MethodPost, pathStatus(testBotID, "ds-x")},
		{http.MethodDelete, pathStatus(testBotID, "ds-x")},
	} {
		code, hdr, b := h.do(c.method, c.path, "", h.token())
		r := decode(t, b)
		if code != 405 || len(r.Errors) != 1 || r.Errors[0].Code != 405 || r.Errors[0].Msg != "Method Not Allowed" || hdr.Get("Allow") == "" {
			t.Errorf("%s %s: HTTP %d %s", c.method, c.path, code, b)
		}
	}
	code, _, b := h.do(http.MethodGet, "/api/public/bot/"+testBotID+"/somethingElse", "", h.token())
	if r := decode(t, b); code != 404 || r.Errors[0].Code != 404 {
		t.Errorf("unknown path: HTTP %d %s", code, b)
	}
}
