package koretest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// t0 is the tests' "now": a Monday morning.
var t0 = time.Date(2025, 6, 2, 10, 5, 1, 517e6, time.UTC)

const (
	testBotID    = "st-1a2b3c4d-0000-5000-8000-00000000a001"
	testClientID = "cs-5e6f7a8b-0000-5000-8000-00000000b002"
	testSecret   = "c2VjcmV0LXRoYXQtbG9va3MtbGlrZS1iYXNlNjQ=" // used as raw bytes
)

func testBot() Bot {
	return Bot{ID: testBotID, ClientID: testClientID, ClientSecret: testSecret, Tasks: 30, Seed: 42}
}

// harness is a simulator on a ManualClock with one bot, used in memory.
type harness struct {
	t     testing.TB
	s     *Server
	clock *ManualClock
	bot   Bot
	hc    *http.Client
	jti   atomic.Int64
}

func newHarness(t testing.TB, opts ...Option) *harness {
	t.Helper()
	clock := NewManualClock(t0)
	s := NewInMemory(append([]Option{WithClock(clock)}, opts...)...)
	t.Cleanup(s.Close)
	h := &harness{t: t, s: s, clock: clock, bot: testBot(), hc: s.Client()}
	s.AddBot(h.bot)
	return h
}

// sign signs claims with HS256 and secret.
func sign(t testing.TB, claims jwt.MapClaims, secret string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// claims returns the claims the exporter sends: sub, appId, iat, exp = iat
// + 5m and a fresh jti.
func (h *harness) claims() jwt.MapClaims {
	now := h.clock.Now()
	return jwt.MapClaims{
		"sub":   "kore_exporter",
		"appId": h.bot.ClientID,
		"iat":   now.Unix(),
		"exp":   now.Add(5 * time.Minute).Unix(),
		"jti":   "jti-" + strconv.FormatInt(h.jti.Add(1), 10),
	}
}

func (h *harness) token() string { return sign(h.t, h.claims(), h.bot.ClientSecret) }

func pathSubmit(botID string) string { return "/api/public/bot/" + botID + "/taskContainmentReport" }

func pathStatus(botID, id string) string { return pathSubmit(botID) + "/status/" + id }

// do sends a request with token tok (none if empty) and returns the status,
// the headers and the body.
func (h *harness) do(method, path, body, tok string) (int, http.Header, []byte) {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.s.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header["auth"] = []string{tok} // lower case, as Kore.ai's docs write it
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// apiResp is the union of the API's answers.
type apiResp struct {
	Status             string `json:"status"`
	PercentageComplete int    `json:"percentageComplete"`
	ID                 string `json:"_id"`
	ExpireAt           string `json:"expireAt"`
	Report             *struct {
		Total int                  `json:"total"`
		Data  map[string][]wireRow `json:"data"`
	} `json:"tasksExecutionReport"`
	Errors []apiErrorItem `json:"errors"`
}

func decode(t testing.TB, b []byte) apiResp {
	t.Helper()
	var r apiResp
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return r
}

// submit POSTs body with query and expects 200.
func (h *harness) submit(body, query string) apiResp {
	h.t.Helper()
	code, _, b := h.do(http.MethodPost, pathSubmit(h.bot.ID)+query, body, h.token())
	if code != http.StatusOK {
		h.t.Fatalf("submit: HTTP %d: %s", code, b)
	}
	return decode(h.t, b)
}

func (h *harness) poll(id string) (int, apiResp) {
	h.t.Helper()
	code, _, b := h.do(http.MethodGet, pathStatus(h.bot.ID, id), "", h.token())
	if code != http.StatusOK {
		return code, apiResp{}
	}
	return code, decode(h.t, b)
}

// filtersBody renders {"filters":…} for a window and extra filter keys.
func filtersBody(from, to time.Time, extra map[string]any) string {
	f := map[string]any{
		"dateFrom": from.UTC().Format(timeLayout),
		"dateTo":   to.UTC().Format(timeLayout),
	}
	for k, v := range extra {
		f[k] = v
	}
	b, _ := json.Marshal(map[string]any{"filters": f})
	return string(b)
}

// fetch runs a whole report the way the exporter does: pages of pageSize
// (0: one unpaged job), each submitted, polled until done (advancing the
// clock) and fetched. It returns every row in order and the total.
func (h *harness) fetch(body string, pageSize int) ([]wireRow, int) {
	h.t.Helper()
	var rows []wireRow
	total := -1
	for skip := 0; total < 0 || skip < total; skip += pageSize {
		q := ""
		if pageSize > 0 {
			q = fmt.Sprintf("?skip=%d&limit=%d", skip, pageSize)
		}
		job := h.submit(body, q)
		r := h.await(job.ID)
		if total >= 0 && r.Report.Total != total {
			h.t.Fatalf("total changed between pages: %d then %d", total, r.Report.Total)
		}
		total = r.Report.Total
		keys := make([]string, 0, len(r.Report.Data))
		for k := range r.Report.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			rows = append(rows, r.Report.Data[k]...)
		}
		if pageSize == 0 {
			break
		}
	}
	return rows, total
}

// await polls job id until it is done, advancing the clock by 1s a poll.
func (h *harness) await(id string) apiResp {
	h.t.Helper()
	for range 100 {
		code, r := h.poll(id)
		if code != http.StatusOK {
			h.t.Fatalf("poll %s: HTTP %d", id, code)
		}
		if r.Status != "IN_PROGRESS" {
			if r.Status != "SUCCESS" || r.Report == nil {
				h.t.Fatalf("job %s ended %q", id, r.Status)
			}
			return r
		}
		h.clock.Advance(time.Second)
	}
	h.t.Fatalf("job %s never finished", id)
	return apiResp{}
}

// sumRows sums wire rows per (taskName, taskType, Status), sorted.
func sumRows(rows []wireRow) []Row {
	m := map[[3]string]*Row{}
	var keys [][3]string
	for _, w := range rows {
		k := [3]string{w.TaskName, w.TaskType, w.Status}
		r := m[k]
		if r == nil {
			r = &Row{TaskName: w.TaskName, TaskType: w.TaskType, Status: w.Status}
			m[k] = r
			keys = append(keys, k)
		}
		r.TotalExecution += w.TotalExecution
		r.TotalSession += w.TotalSession
		r.SelfServiceSessions += w.SelfServiceSessions
		r.DropOffSessions += w.DropOffSessions
		r.AgentTransferSessions += w.AgentTransferSessions
	}
	sort.Slice(keys, func(i, j int) bool {
		for x := range 3 {
			if keys[i][x] != keys[j][x] {
				return keys[i][x] < keys[j][x]
			}
		}
		return false
	})
	out := make([]Row, len(keys))
	for i, k := range keys {
		out[i] = *m[k]
	}
	return out
}

// sumExpected adds b's rows into a (both summed rows), by key.
func addRows(a, b []Row) []Row {
	var w []wireRow
	for _, rs := range [][]Row{a, b} {
		for _, r := range rs {
			w = append(w, wireRow{TaskName: r.TaskName, TaskType: r.TaskType, Status: r.Status,
				TotalExecution: r.TotalExecution, TotalSession: r.TotalSession,
				SelfServiceSessions: r.SelfServiceSessions, DropOffSessions: r.DropOffSessions,
				AgentTransferSessions: r.AgentTransferSessions})
		}
	}
	return sumRows(w)
}

func rowsEqual(t testing.TB, what string, got, want []Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d\ngot  %v\nwant %v", what, len(got), len(want), got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: row %d = %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

// doAPI sends req with hc and returns the HTTP status and the decoded
// Kore-style answer.
func doAPI(t *testing.T, hc *http.Client, req *http.Request) (int, apiResp) {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r apiResp
	if err := jsonDecode(resp, &r); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, r
}

func sortStrings(s []string) { sort.Strings(s) }
