package collector

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"go.uber.org/goleak"

	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

// liveRegistry returns a registry of metrics gathered at scrape time whose
// values do not change between gathers, in place of the Go and process
// collectors of production; their label values need escaping.
func liveRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	live := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "test_live_info", Help: "A live \\ metric."}, []string{"value"})
	live.WithLabelValues("quote \" backslash \\ newline \n").Set(1)
	live.WithLabelValues("plain").Set(2.5)
	reg.MustRegister(live)
	return reg
}

// selfRegistry returns self-metrics whose values do not change between
// gathers: a live registry (liveRegistry) and the Metrics. A job with a
// troublesome name, a running job and a job configured but not run yet are
// among them.
func selfRegistry(t testing.TB) (*prometheus.Registry, *Metrics) {
	t.Helper()
	reg := liveRegistry()
	m := NewMetrics()
	m.JobConfigured("support", "24h", 5*time.Minute, 15*time.Minute)
	m.JobConfigured(`we"ird\bot`, "7d", 90*time.Second, 4500*time.Millisecond)
	m.JobConfigured("support", "1h", 5*time.Minute, 15*time.Minute)
	m.JobConfigured("idle", "1h", time.Hour, 3*time.Hour)
	m.RunStarted("support", "24h")
	m.RunEnded("support", "24h", RunOutcome{Result: report.ResultSuccess, Duration: time.Second, At: t0, Rows: 5, Reruns: 0})
	m.RunStarted(`we"ird\bot`, "7d")
	m.RunEnded(`we"ird\bot`, "7d", RunOutcome{Result: report.ResultTimeout, Duration: 1234567 * time.Microsecond, At: t0, Rows: 0, Reruns: 3})
	m.RunSkipped(`we"ird\bot`, "7d")
	m.RunStarted("support", "1h")
	m.Progress("support", "1h", 37)
	m.Observer("support").RequestDone("st-1", kore.EndpointSubmit, 200, time.Second)
	m.ConfigReloaded(true, t0)
	return reg, m
}

// reference returns promhttp's handler over the data, the self registry
// and the self-metrics of m (if not nil), with OpenMetrics enabled:
// what the exporter's /metrics must be equivalent to.
func reference(t testing.TB, s *Store, self prometheus.Gatherer, m *Metrics) http.Handler {
	t.Helper()
	data := prometheus.NewRegistry()
	data.MustRegister(NewDataCollector(s))
	if m != nil {
		data.MustRegister(m)
	}
	return promhttp.HandlerFor(prometheus.Gatherers{data, self}, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// TestHandlerNegotiation compares headers and parsed bodies with promhttp's
// answer to the same request.
func TestHandlerNegotiation(t *testing.T) {
	t.Parallel()
	s := trickyStore(t)
	self, m := selfRegistry(t)
	ours := NewHandler(s, self, HandlerOpts{Metrics: m})
	ref := reference(t, s, self, m)
	for _, tc := range []struct {
		name, accept, acceptEncoding string
		om                           bool
	}{
		{"none", "", "", false},
		{"text", acceptText, "", false},
		{"text gzip", acceptText, "gzip", false},
		{"prometheus", acceptPrometheus, "gzip", true},
		{"openmetrics 0.0.1", "application/openmetrics-text;version=0.0.1", "", true},
		{"openmetrics utf-8", "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8", "identity", true},
		{"browser", "text/html,application/xhtml+xml,*/*;q=0.8", "gzip, deflate, br", false},
		{"gzip refused", acceptText, "gzip;q=0", false},
		{"wildcard", acceptText, "*", false},
		{"gzip preferred", acceptText, "identity;q=0.5, gzip", false},
		{"gzip weighted", acceptText, "gzip;q=0.5, identity;q=0.4", false},
		{"gzip tie", acceptText, "gzip, identity", false},
		{"gzip upper case", acceptText, "GZIP", false},
		{"malformed parameter", acceptText, "gzip;level=1", false},
		{"deflate only", acceptText, "deflate", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec, body := scrape(t, ours, http.MethodGet, tc.accept, tc.acceptEncoding)
			refRec, refBody := scrape(t, ref, http.MethodGet, tc.accept, tc.acceptEncoding)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, body)
			}
			for _, h := range []string{"Content-Type", "Content-Encoding"} {
				if got, want := rec.Header().Get(h), refRec.Header().Get(h); got != want {
					t.Errorf("%s %q, promhttp says %q", h, got, want)
				}
			}
			if got, want := rec.Header().Values("Vary"), refRec.Header().Values("Vary"); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("Vary %q, promhttp says %q", got, want)
			}
			if got, want := rec.Header().Get("Content-Length"), strconv.Itoa(rec.Body.Len()); got != want {
				t.Errorf("Content-Length %s, body has %s bytes", got, want)
			}
			f := expfmt.Format(rec.Header().Get("Content-Type"))
			if tc.om {
				if c := bytes.Count(body, []byte("# EOF")); c != 1 || !bytes.HasSuffix(body, []byte("\n# EOF\n")) {
					t.Errorf("%d # EOF lines; body ends %q", c, body[max(0, len(body)-40):])
				}
			}
			// The same lines as promhttp's, only ordered differently within
			// families; in OpenMetrics the pre-encoded data writes whole
			// numbers without ".0", so the answers are compared with whole
			// numbers written so.
			want := strings.Join(sortedLines(wholeNumbersAsText(refBody)), "\n")
			if got := strings.Join(sortedLines(wholeNumbersAsText(body)), "\n"); got != want {
				t.Errorf("lines differ from promhttp's:\n--- got\n%s\n--- want\n%s", got, want)
			}
			if !tc.om && !bytes.Equal(wholeNumbersAsText(body), body) {
				t.Error("the text format has whole numbers written as OpenMetrics writes them")
			}
			// And the format's parser agrees (the OpenMetrics parser is
			// slow: once).
			if !tc.om || tc.name == "prometheus" {
				equalFamilies(t, decodeAll(t, body, f), decodeAll(t, refBody, f))
			}
		})
	}
}

// TestHandlerGzipEqualsPlain checks the gzip answer is one member that
// decodes to exactly the plain answer, for empty and large stores.
func TestHandlerGzipEqualsPlain(t *testing.T) {
	t.Parallel()
	for name, s := range map[string]*Store{"empty": NewStore(), "big": bigStore(t, 5, 50), "tricky": trickyStore(t)} {
		reg, m := selfRegistry(t)
		for _, opts := range []struct {
			self prometheus.Gatherer
			m    *Metrics
		}{{nil, nil}, {reg, nil}, {nil, m}, {reg, m}} {
			h := NewHandler(s, opts.self, HandlerOpts{Metrics: opts.m})
			for _, accept := range []string{acceptText, acceptPrometheus} {
				_, plain := scrape(t, h, http.MethodGet, accept, "")
				rec, unzipped := scrape(t, h, http.MethodGet, accept, "gzip")
				if rec.Header().Get("Content-Encoding") != "gzip" {
					t.Fatalf("%s: not gzipped", name)
				}
				if !bytes.Equal(plain, unzipped) {
					t.Errorf("%s, %s: gzip decodes to %d bytes, plain is %d", name, accept, len(unzipped), len(plain))
				}
				if name == "big" && rec.Body.Len()*5 > len(plain) {
					t.Errorf("%s: gzip %d bytes for %d plain: poor compression", name, rec.Body.Len(), len(plain))
				}
			}
		}
	}
}

func TestHandlerMethods(t *testing.T) {
	t.Parallel()
	self, m := selfRegistry(t)
	h := NewHandler(bigStore(t, 2, 2), self, HandlerOpts{Metrics: m})
	get, body := scrape(t, h, http.MethodGet, acceptPrometheus, "gzip")
	head, _ := scrape(t, h, http.MethodHead, acceptPrometheus, "gzip")
	if head.Code != http.StatusOK || head.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d body bytes", head.Code, head.Body.Len())
	}
	for _, k := range []string{"Content-Type", "Content-Encoding", "Content-Length"} {
		if head.Header().Get(k) != get.Header().Get(k) {
			t.Errorf("HEAD %s %q, GET %q", k, head.Header().Get(k), get.Header().Get(k))
		}
	}
	if len(body) == 0 {
		t.Error("GET: empty body")
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		rec, _ := scrape(t, h, m, "", "")
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d, Allow %q", m, rec.Code, rec.Header().Get("Allow"))
		}
	}
}

// errLog records ErrorLog calls.
type errLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *errLog) Error(msg string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, msg)
}

func (l *errLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.msgs)
}

func TestHandlerErrors(t *testing.T) {
	t.Parallel()
	s := bigStore(t, 1, 1)
	failing := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		return nil, errors.New("boom")
	})
	colliding := prometheus.NewRegistry()
	colliding.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "kore_task_executions", Help: "impostor"}))

	for _, tc := range []struct {
		name string
		self prometheus.Gatherer
	}{
		{"gather error", failing},
		{"collision", colliding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log := &errLog{}
			h := NewHandler(s, tc.self, HandlerOpts{ErrorLog: log})
			rec, body := scrape(t, h, http.MethodGet, acceptText, "gzip")
			if rec.Code != http.StatusInternalServerError {
				t.Fatalf("status %d, want 500: %s", rec.Code, body)
			}
			if log.count() == 0 {
				t.Error("error not logged")
			}
			if rec.Header().Get("Content-Encoding") != "" {
				t.Error("error answer claims an encoding")
			}
		})
	}
}

func TestHandlerMaxRequestsInFlight(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	blocking := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		entered <- struct{}{}
		<-release
		return nil, nil
	})
	h := NewHandler(NewStore(), blocking, HandlerOpts{MaxRequestsInFlight: 1})
	done := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		done <- rec.Code
	}()
	<-entered
	rec, _ := scrape(t, h, http.MethodGet, "", "")
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("second scrape: %d, want 503", rec.Code)
	}
	close(release)
	if code := <-done; code != http.StatusOK {
		t.Errorf("first scrape: %d", code)
	}
}

// TestHandlerOverHTTP serves /metrics from a real server to a real client
// (which asks for gzip and checks Content-Length), and checks no goroutine
// outlives it.
func TestHandlerOverHTTP(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := bigStore(t, 3, 30)
	reg, m, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	m.RunStarted("bot-00", "24h")
	m.RunEnded("bot-00", "24h", RunOutcome{Result: report.ResultSuccess, Duration: time.Second, At: t0, Rows: 60, Reruns: 0})
	srv := httptest.NewServer(NewHandler(s, reg, HandlerOpts{Metrics: m}))
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()

	for _, accept := range []string{acceptPrometheus, acceptText} {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", accept)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if !resp.Uncompressed {
			t.Error("the transport did not negotiate gzip")
		}
		f := expfmt.ResponseFormat(resp.Header)
		if f.FormatType() == expfmt.TypeOpenMetrics {
			// The OpenMetrics parser is slow; its equivalence is tested
			// on small stores. Check the framing here.
			if !bytes.HasSuffix(body, []byte("\n# EOF\n")) || bytes.Count(body, []byte("# EOF")) != 1 {
				t.Error("OpenMetrics body must end with one # EOF")
			}
			continue
		}
		fams := decodeAll(t, body, f)
		if got := len(fams["kore_task_executions"].GetMetric()); got != 3*2*30*2 {
			t.Errorf("%d kore_task_executions series", got)
		}
		if fams["go_goroutines"] == nil || fams["kore_exporter_build_info"] == nil || fams["kore_exporter_report_runs_total"] == nil {
			t.Error("self-metrics missing")
		}
	}
}

// findPromtool returns the promtool to run: $PROMTOOL_BIN if set, else
// promtool on $PATH.
func findPromtool(getenv func(string) string, lookPath func(string) (string, error)) (string, error) {
	if bin := getenv("PROMTOOL_BIN"); bin != "" {
		return bin, nil
	}
	bin, err := lookPath("promtool")
	if err != nil {
		return "", fmt.Errorf("find promtool: PROMTOOL_BIN is not set and promtool is not on PATH: %w", err)
	}
	return bin, nil
}

func TestFindPromtool(t *testing.T) {
	t.Parallel()
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "PROMTOOL_BIN" {
				return v
			}
			return ""
		}
	}
	onPath := func(string) (string, error) { return "/usr/bin/promtool", nil }
	notOnPath := func(string) (string, error) { return "", exec.ErrNotFound }
	for _, tc := range []struct {
		name     string
		getenv   func(string) string
		lookPath func(string) (string, error)
		want     string
	}{
		{"env wins", env("/opt/promtool"), onPath, "/opt/promtool"},
		{"env only", env("/opt/promtool"), notOnPath, "/opt/promtool"},
		{"path", env(""), onPath, "/usr/bin/promtool"},
		{"none", env(""), notOnPath, ""},
	} {
		got, err := findPromtool(tc.getenv, tc.lookPath)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("%s: findPromtool = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

// TestExpositionPassesPromtool: `promtool check metrics` finds nothing
// wrong with /metrics in the text format, served over HTTP. Without
// promtool it skips, except under CI=true, where it fails (.ci/run
// installs promtool).
func TestExpositionPassesPromtool(t *testing.T) {
	if testing.Short() {
		t.Skip("starts promtool: skipped with -short")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	bin, err := findPromtool(os.Getenv, exec.LookPath)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	reg, m, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	m.RunStarted("bot-00", "24h")
	m.RunEnded("bot-00", "24h", RunOutcome{Result: report.ResultSuccess, Duration: time.Second, At: t0, Rows: 60})
	srv := httptest.NewServer(NewHandler(bigStore(t, 3, 30), reg, HandlerOpts{Metrics: m}))
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", acceptText)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: HTTP %d, %v", resp.StatusCode, err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// discardResponse is an http.ResponseWriter that copies what it is given
// into a fixed scratch buffer, as a socket write copies into the kernel,
// and keeps nothing.
type discardResponse struct {
	header  http.Header
	scratch [32 << 10]byte
	n       int64
	code    int
}

func newDiscardResponse() *discardResponse { return &discardResponse{header: http.Header{}} }

func (d *discardResponse) Header() http.Header  { return d.header }
func (d *discardResponse) WriteHeader(code int) { d.code = code }
func (d *discardResponse) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		p = p[copy(d.scratch[:], p):]
	}
	d.n += int64(n)
	return n, nil
}

func (d *discardResponse) reset() {
	clear(d.header)
	d.n, d.code = 0, 0
}

// jobMetricsFor returns self-metrics with jobs finished jobs (and one
// skipped run each) but the same live series whatever jobs is.
func jobMetricsFor(t testing.TB, jobs int) (*prometheus.Registry, *Metrics) {
	t.Helper()
	reg := liveRegistry()
	m := NewMetrics()
	for i := range jobs {
		bot := fmt.Sprintf("bot-%03d", i/2)
		w := []string{"24h", "7d"}[i%2]
		m.JobConfigured(bot, w, 5*time.Minute, 15*time.Minute)
		m.RunStarted(bot, w)
		m.RunEnded(bot, w, RunOutcome{Result: report.ResultSuccess, Duration: 42 * time.Second, At: t0, Rows: 200, Reruns: 1})
		m.RunSkipped(bot, w)
	}
	m.Observer("bot-000").RequestDone("st-1", kore.EndpointSubmit, 200, time.Second)
	m.ConfigReloaded(true, t0)
	return reg, m
}

func TestCheckTelemetryPath(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"/metrics", "/kore/metrics", "/metrics.txt", "/-/metrics", "/status2", "/a_b~c"} {
		if err := CheckTelemetryPath(p); err != nil {
			t.Errorf("CheckTelemetryPath(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range append([]string{"", "metrics", "./metrics", "/metrics/", "//metrics", "/a/./b", "/a/../metrics",
		"/metrics?x=1", "/metrics#x", "/{name}", "GET /metrics", "/métriques", "/metrics\n"}, reservedPaths[:]...) {
		if err := CheckTelemetryPath(p); err == nil {
			t.Errorf("CheckTelemetryPath(%q) = nil, want an error", p)
		} else if !strings.Contains(err.Error(), "telemetry path") {
			t.Errorf("CheckTelemetryPath(%q) = %q, want it to name the telemetry path", p, err)
		}
	}
}

// TestHandlerStuckReadersAreCutOff: 40 clients that ask for /metrics and
// never read hold every slot of the default --web.max-requests only until
// their write deadline: then their connections are closed, and a real
// scrape gets the whole answer while they are still connected.
func TestHandlerStuckReadersAreCutOff(t *testing.T) {
	if testing.Short() {
		t.Skip("write deadlines on real sockets and a real clock: skipped with -short")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const stuck = 40          // the default of --web.max-requests
	s := bigStore(t, 64, 100) // about 16 MB of plain text: more than socket buffers hold
	var log errLog
	srv := httptest.NewServer(NewHandler(s, nil, HandlerOpts{MaxRequestsInFlight: stuck, WriteTimeout: time.Second, ErrorLog: &log}))
	defer srv.Close()

	// Each stuck reader at an address of its own, so that together they
	// can take every slot (one address holds a quarter of them).
	conns := make([]net.Conn, stuck)
	for i := range conns {
		c, err := loopbackDialer(t, fmt.Sprintf("127.0.0.%d", 10+i)).Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A fixed receive buffer: the kernel would otherwise grow it to
		// take in the whole body.
		if err := c.(*net.TCPConn).SetReadBuffer(256 << 10); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: exporter\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	// Every stuck reader holds a slot once its answer has begun: read the
	// header (and what one bufio.Reader takes in), then stop reading.
	stuckResps := make([]*http.Response, stuck)
	for i, c := range conns {
		if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("stuck reader %d: %v", i, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stuck reader %d: HTTP %d, want 200 (it should hold a slot)", i, resp.StatusCode)
		}
		stuckResps[i] = resp
	}
	// Every handler set its deadline before its header was sent, so all
	// deadlines have passed a second after the last header arrived. On a
	// busy machine the headers can take a while: a reader drained before
	// its own deadline would rightly get its whole body.
	allDeadlinesPassed := time.Now().Add(time.Second + 100*time.Millisecond)

	client := srv.Client()
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept-Encoding", "identity") // the whole plain body, as the stuck readers asked
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("real scrape: %v", err)
		}
		if resp.StatusCode == http.StatusOK {
			if int64(len(body)) != resp.ContentLength || len(body) < 8<<20 {
				t.Fatalf("real scrape: %d bytes, Content-Length %d", len(body), resp.ContentLength)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("real scrape still HTTP %d after 30s with %d stuck readers connected: %s", resp.StatusCode, stuck, body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Each stuck reader got part of the body, then its connection closed.
	time.Sleep(time.Until(allDeadlinesPassed))
	for i, c := range conns {
		if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		resp := stuckResps[i]
		n, err := io.Copy(io.Discard, resp.Body)
		var ne net.Error
		switch {
		case err == nil:
			t.Errorf("stuck reader %d: got the whole body (%d bytes), want it cut off", i, n)
		case errors.As(err, &ne) && ne.Timeout():
			t.Errorf("stuck reader %d: connection still open after %d of %d bytes", i, n, resp.ContentLength)
		}
	}
	if log.count() == 0 {
		t.Error("cut-off writes were not logged")
	}
}

// TestHandlerWriteDeadlineLifted: the deadline of one response does not
// outlive it: the next request on the same keep-alive connection, after
// that deadline has passed, is answered.
func TestHandlerWriteDeadlineLifted(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := httptest.NewServer(NewHandler(trickyStore(t), nil, HandlerOpts{WriteTimeout: 200 * time.Millisecond}))
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i := range 2 {
		if i == 1 {
			time.Sleep(400 * time.Millisecond) // past the first response's deadline
		}
		if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: exporter\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d on one connection: %v", i, err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || n != resp.ContentLength {
			t.Fatalf("request %d on one connection: HTTP %d, %d of %d bytes, %v", i, resp.StatusCode, n, resp.ContentLength, err)
		}
	}
}

func TestWriteTimeoutFor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		length int64
		want   time.Duration
	}{
		{0, 10 * time.Second},
		{-1, 10 * time.Second},
		{1 << 20, 11 * time.Second},
		{12 << 20, 22 * time.Second},
		{62 << 20, 72 * time.Second},
	} {
		if got := WriteTimeoutFor(tc.length); got != tc.want {
			t.Errorf("WriteTimeoutFor(%d) = %v, want %v", tc.length, got, tc.want)
		}
	}
}

// TestServerClosesIdleAndSlowConnections: a keep-alive connection left idle
// and a connection whose request header never ends are both closed by the
// server.
func TestServerClosesIdleAndSlowConnections(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	h := NewHandler(trickyStore(t), nil, HandlerOpts{})
	srv := httptest.NewUnstartedServer(h)
	srv.Config = NewServer(h, ServerOpts{IdleTimeout: 200 * time.Millisecond, ReadHeaderTimeout: 200 * time.Millisecond})
	srv.Start()
	defer srv.Close()

	for _, tc := range []struct {
		name string
		send string
		full bool // send is a whole request, answered before the wait
	}{
		{"idle keep-alive", "GET /metrics HTTP/1.1\r\nHost: exporter\r\n\r\n", true},
		{"slow header", "GET /metrics HTTP/1.1\r\nHost: exp", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(c, tc.send); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			if tc.full {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || resp.Close {
					t.Fatalf("first request: HTTP %d, close %v, %v; want 200 on a keep-alive connection", resp.StatusCode, resp.Close, err)
				}
			}
			// Now wait: the server must close the connection (a slow
			// header may first get a 408 answer).
			_, err = io.Copy(io.Discard, br)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("connection still open after 30s")
			}
		})
	}
}

func TestNewServerDefaults(t *testing.T) {
	t.Parallel()
	srv := NewServer(http.NotFoundHandler(), ServerOpts{})
	if srv.IdleTimeout != DefaultIdleTimeout || srv.ReadHeaderTimeout != DefaultReadHeaderTimeout || srv.WriteTimeout != 0 {
		t.Errorf("NewServer: idle %v, read header %v, write %v; want %v, %v, 0",
			srv.IdleTimeout, srv.ReadHeaderTimeout, srv.WriteTimeout, DefaultIdleTimeout, DefaultReadHeaderTimeout)
	}
}
