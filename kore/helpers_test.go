package kore

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testBot    = "st-1a2b3c4d-0000-5000-8000-00000000a001"
	testApp    = "cs-5e6f7a8b-0000-5000-8000-00000000b002"
	testSecret = "c2VjcmV0LW5vdC1kZWNvZGVk+/=" // looks like base64; used as-is
)

// handlerTransport serves requests in memory with an http.Handler: no
// sockets, so it works inside a synctest bubble and leaks no goroutine.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	if r.Body != nil {
		r.Body.Close()
	}
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	return rec.Result(), nil
}

// rtFunc is a RoundTripper from a function, for transport failures.
type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// newTestClient returns a client that talks to h in memory, with the
// default policy unless opts override it.
func newTestClient(t testing.TB, h http.Handler, opts ...Option) *Client {
	t.Helper()
	base := []Option{
		WithHost("https://kore.test"),
		WithCredentials(Credentials{ClientID: testApp, ClientSecret: testSecret}),
		WithHTTPClient(&http.Client{Transport: handlerTransport{h}}),
	}
	c, err := NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

// recObserver records what the client reports.
type recObserver struct {
	mu       sync.Mutex
	requests []string // "endpoint code"
	retries  []string // "endpoint reason"
}

func (o *recObserver) RequestDone(bot string, ep Endpoint, code int, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests = append(o.requests, fmt.Sprintf("%s %d", ep, code))
}

func (o *recObserver) Retry(bot string, ep Endpoint, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retries = append(o.retries, fmt.Sprintf("%s %s", ep, reason))
}

func (o *recObserver) snapshot() (req, ret []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.requests...), append([]string(nil), o.retries...)
}

// answer is one scripted HTTP answer.
type answer struct {
	code   int
	body   string
	header map[string]string
	// hang blocks until the request's context is done.
	hang bool
}

// script answers the calls in order (the last answer repeats) and records
// every request's method, path and token.
type script struct {
	mu      sync.Mutex
	answers []answer
	calls   []string // "METHOD path?query"
	tokens  []string
	at      []time.Time
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	i := min(len(s.calls), len(s.answers)-1)
	s.calls = append(s.calls, r.Method+" "+r.URL.RequestURI())
	s.tokens = append(s.tokens, r.Header.Get("auth"))
	s.at = append(s.at, time.Now())
	a := s.answers[i]
	s.mu.Unlock()
	if a.hang {
		<-r.Context().Done()
		return
	}
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(a.code)
	io.WriteString(w, a.body)
}

func (s *script) n() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

func koreErr(code int, msg string) string {
	b, _ := json.Marshal(map[string]any{"errors": []map[string]any{{"msg": msg, "code": code}}})
	return string(b)
}

// parseToken verifies a token as Kore.ai would (HS256 with the secret's
// bytes) and returns its claims.
func parseToken(tok string, key any, method string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{method}), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	return claims, err
}

// fakeKore is a small hand-written Kore.ai: jobs that take jobDuration,
// pages of rows, JWT checks. Tests that need faults use script instead.
type fakeKore struct {
	t           testing.TB
	jobDuration time.Duration
	rows        map[string][]map[string]any // bucket → rows, in the API's shape
	failJobs    bool
	status      string // the running status; IN_PROGRESS when empty
	// pageHook, when set, may change the finished page of the n-th job
	// submitted (from 1) before it is sent.
	pageHook func(n int, page map[string]any)

	mu    sync.Mutex
	jobs  map[string]*fakeJob
	posts int
	gets  int
	jtis  map[string]bool
	mux   *http.ServeMux
}

type fakeJob struct {
	n           int // submission order, from 1
	created     time.Time
	skip, limit int
}

func newFakeKore(t testing.TB, d time.Duration, rows map[string][]map[string]any) *fakeKore {
	f := &fakeKore{t: t, jobDuration: d, rows: rows, jobs: map[string]*fakeJob{}, jtis: map[string]bool{}, mux: http.NewServeMux()}
	f.mux.HandleFunc("POST /api/public/bot/{bot}/taskContainmentReport", f.submit)
	f.mux.HandleFunc("GET /api/public/bot/{bot}/taskContainmentReport/status/{id}", f.poll)
	return f
}

func (f *fakeKore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	claims, err := parseToken(r.Header.Get("auth"), []byte(testSecret), "HS256")
	if err != nil || claims["appId"] != testApp {
		f.t.Errorf("bad token: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, koreErr(4002, "Invalid SDK credentials"))
		return
	}
	jti, _ := claims["jti"].(string)
	f.mu.Lock()
	dup := f.jtis[jti]
	f.jtis[jti] = true
	f.mu.Unlock()
	if dup {
		f.t.Errorf("jti %q reused", jti)
	}
	f.mux.ServeHTTP(w, r)
}

func (f *fakeKore) submit(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Filters map[string]any `json:"filters"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Filters == nil {
		f.t.Errorf("submit body: %v", err)
	}
	skip, _ := strconv.Atoi(r.URL.Query().Get("skip"))
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	f.mu.Lock()
	f.posts++
	id := fmt.Sprintf("ds-%08d-0000-5000-8000-00000000c003", len(f.jobs)+1)
	now := time.Now()
	f.jobs[id] = &fakeJob{n: len(f.jobs) + 1, created: now, skip: skip, limit: limit}
	f.mu.Unlock()
	writeJSON(w, f.envelope(id, now, 0, "IN_PROGRESS"))
}

func (f *fakeKore) envelope(id string, created time.Time, pct int, status string) map[string]any {
	return map[string]any{
		"status": status, "percentageComplete": pct, "streamId": testBot,
		"jobType": "TASK_EXECUTION_CONTAINMENT_REPORT", "action": "QUERY", "countOfDockStatuses": 1,
		"createdBy": "u-5e6f7a8b-0000-5000-8000-00000000b002",
		"expireAt":  created.Add(15 * time.Minute).UTC().Format(DateFormat), "statusLogs": []any{},
		"_id": id, "lMod": created.UTC().Format(DateFormat), "createdOn": created.UTC().Format(DateFormat),
		"requestedTime": created.UTC().Format(DateFormat), "__v": 0,
	}
}

func (f *fakeKore) poll(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f.mu.Lock()
	f.gets++
	j := f.jobs[id]
	f.mu.Unlock()
	if j == nil {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, koreErr(404, "Request not found"))
		return
	}
	elapsed := time.Since(j.created)
	if elapsed < f.jobDuration {
		st := f.status
		if st == "" {
			st = "IN_PROGRESS"
		}
		writeJSON(w, f.envelope(id, j.created, int(100*elapsed/f.jobDuration), st))
		return
	}
	if f.failJobs {
		writeJSON(w, f.envelope(id, j.created, 100, "FAILED"))
		return
	}
	page := f.page(j.skip, j.limit)
	if f.pageHook != nil {
		f.pageHook(j.n, page)
	}
	writeJSON(w, map[string]any{"status": "SUCCESS", "tasksExecutionReport": page})
}

// page returns rows skip…skip+limit, sorted by bucket, task name, Status.
func (f *fakeKore) page(skip, limit int) map[string]any {
	type br struct {
		bucket string
		row    map[string]any
	}
	var all []br
	for b, rows := range f.rows {
		for _, r := range rows {
			all = append(all, br{b, r})
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.bucket != b.bucket {
			return a.bucket < b.bucket
		}
		an, bn := fmt.Sprint(a.row["taskName"]), fmt.Sprint(b.row["taskName"])
		if an != bn {
			return an < bn
		}
		return fmt.Sprint(a.row["Status"]) < fmt.Sprint(b.row["Status"])
	})
	data := map[string][]map[string]any{}
	end := len(all)
	if limit > 0 {
		end = min(skip+limit, len(all))
	}
	for i := min(skip, len(all)); i < end; i++ {
		data[all[i].bucket] = append(data[all[i].bucket], all[i].row)
	}
	return map[string]any{"total": len(all), "data": data}
}

func (f *fakeKore) counts() (posts, gets int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.posts, f.gets
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// apiRow builds a row in the API's shape.
func apiRow(bucket, name, typ, status string, exec, sess, self, drop, agent int) map[string]any {
	pct := func(n int) any {
		if sess == 0 {
			return 0
		}
		p := 100 * float64(n) / float64(sess)
		if p == float64(int(p)) {
			return int(p)
		}
		return strconv.FormatFloat(p, 'f', 2, 64)
	}
	return map[string]any{
		"totalExecution": exec, "totalSession": sess, "selfServiceSessions": self,
		"dropOffSessions": drop, "agentTransferSessions": agent, "dateRange": bucket,
		"taskType": typ, "taskName": name, "Status": status,
		"selfServiceSessionsInPercentage": pct(self), "dropOffSessionsInPercentage": pct(drop),
		"agentTransferSessionsInPercentage": pct(agent),
	}
}

// manyRows makes n rows over days buckets, tasks named task-000….
func manyRows(n, days int) map[string][]map[string]any {
	rows := map[string][]map[string]any{}
	for i := range n {
		b := time.Date(2025, 6, 1+i%days, 0, 0, 0, 0, time.UTC).Format("2006-01-02")
		st := "success"
		if i%3 == 0 {
			st = "failtask"
		}
		rows[b] = append(rows[b], apiRow(b, fmt.Sprintf("task-%03d", i/days), "dialog", st, 5+i%7, 4, 2, 1, 1))
	}
	return rows
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if x != "" && strings.Contains(s, x) {
			return true
		}
	}
	return false
}
