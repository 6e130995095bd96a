package main

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
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Bounds of TestHTTPAbuse. The counts are the abuse; the durations are
// generous bounds for a loaded 2-core machine, not timings.
const (
	abuseIdleConns   = 200 // keep-alive connections left idle
	abuseSlowConns   = 50  // slowloris: a header byte a second
	abuseNonReaders  = 40  // scrapers of /metrics that never read: --web.max-requests of them
	abusePipelined   = 16  // requests each non-reader sends at once
	scrapeEvery      = 200 * time.Millisecond
	scrapeDeadline   = 10 * time.Second // Prometheus's default scrape timeout; the whole body included
	abuseIOTimeout   = 10 * time.Second
	slowCutBound     = 25 * time.Second // the server's read-header timeout is 10s
	recoveryBound    = 15 * time.Second
	goroutineSlack   = 10 // above the baseline's highest sample
	fileDescSlack    = 10
	abusePhaseLength = 500 * time.Millisecond
	abusePause       = 250 * time.Millisecond // between the rounds of an abuse that repeats
)

// TestHTTPAbuse runs the real wiring (--demo) and abuses its HTTP server
// on loopback, each abuse in turn and then all together: idle keep-alive
// connections, slowloris connections, scrapers that never read, requests
// with huge headers, garbage methods, paths and protocol versions,
// HTTP/1.0 and pipelined requests. Meanwhile a well-behaved scraper
// scrapes /metrics every 200ms and must get HTTP 200 and a body that
// parses within 10s (Prometheus's default scrape timeout) each time. The
// slowloris connections of the last phase are left to the server, which
// must cut them (its read-header timeout); afterwards the process's
// goroutines and open file descriptors must come back to their baseline.
//
// The scraper, the non-reading scrapers and the other abusers are
// distinct clients at distinct loopback addresses (127.0.0.2, 127.0.0.3
// and 127.0.0.1): one address may hold only a quarter of an endpoint's
// --web.max-requests slots.
func TestHTTPAbuse(t *testing.T) {
	skipShort(t, "HTTP abuse on a real clock")
	e := startExporter(t, "--demo")
	a := &abuser{t: t, addr: strings.TrimPrefix(e.base, "http://"), nonReaderDialer: loopbackDialer(t, "127.0.0.3")}
	s := newGoodScraper(t, e.base+"/metrics", loopbackDialer(t, "127.0.0.2"))
	t.Cleanup(s.stop) // before the exporter stops (cleanups run last first)

	// Wait for the demo's first report rows, so the scrapes carry data.
	began := time.Now()
	deadline := began.Add(30 * time.Second)
	for s.scrape(true) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("no task data on /metrics within 30s; logs:\n%s", e.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("first task data after %v", time.Since(began).Round(100*time.Millisecond))
	mon := startResourceMonitor(t)
	s.start()
	time.Sleep(500 * time.Millisecond) // the scraper's connection is up
	base := mon.settle(time.Second)
	t.Logf("baseline: %d goroutines, %d open file descriptors (highest of 1s of samples)", base.goroutines, base.fds)

	inTurn := time.Now()
	s.setPhase("idle keep-alive")
	a.phase(abusePhaseLength, a.idleFlood)
	s.setPhase("slowloris")
	a.phase(3*time.Second, a.slowloris(false)) // long enough for a few header bytes
	s.setPhase("non-reading scrapers")
	a.phase(abusePhaseLength, a.nonReaders)
	s.setPhase("huge headers")
	a.phase(abusePhaseLength, a.hugeHeaders)
	s.setPhase("garbage requests")
	a.phase(abusePhaseLength, a.garbage)
	s.setPhase("HTTP/1.0 and pipelined")
	a.phase(abusePhaseLength, a.oldAndPipelined)
	t.Logf("the abuses in turn took %v", time.Since(inTurn).Round(100*time.Millisecond))
	s.setPhase("all together")
	mon.resetPeak()
	// Until the server has cut every slowloris connection.
	a.phase(0, a.slowloris(true), a.idleFlood, a.nonReaders, a.hugeHeaders, a.garbage, a.oldAndPipelined)
	peak := mon.peak()

	// Every abuser has closed its connections: the server's side must be
	// gone too.
	s.setPhase("recovery")
	start := time.Now()
	var now resources
	for {
		now = mon.sample()
		if now.goroutines <= base.goroutines+goroutineSlack && (base.fds < 0 || now.fds <= base.fds+fileDescSlack) {
			break
		}
		if time.Since(start) > recoveryBound {
			buf := make([]byte, 1<<20)
			t.Fatalf("%v after the abuse: %d goroutines, %d file descriptors; baseline %d, %d; goroutines:\n%s",
				recoveryBound, now.goroutines, now.fds, base.goroutines, base.fds, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(100 * time.Millisecond)
	}
	recovered := time.Since(start)
	time.Sleep(500 * time.Millisecond) // a few more real scrapes after the abuse
	s.stop()

	t.Logf("all together, at the peak: %d goroutines, %d open file descriptors", peak.goroutines, peak.fds)
	t.Logf("back to %d goroutines, %d open file descriptors %v after the abusers closed (bound: baseline + %d, + %d)",
		now.goroutines, now.fds, recovered.Round(time.Millisecond), goroutineSlack, fileDescSlack)
	for _, line := range a.summary() {
		t.Log(line)
	}
	for _, line := range s.summary() {
		t.Log(line)
	}
}

// goodScraper scrapes /metrics every scrapeEvery as Prometheus would (text
// format, gzip, one keep-alive connection) and fails the test on any
// scrape that is not a 200 with a body that parses within scrapeDeadline.
type goodScraper struct {
	t         *testing.T
	url       string
	transport *http.Transport
	client    *http.Client

	mu     sync.Mutex
	phase  string
	phases []string
	stats  map[string]*scrapeStats
	failed int

	stopOnce sync.Once
	quit     chan struct{}
	done     chan struct{}
}

type scrapeStats struct {
	n, failed    int
	total, worst time.Duration
	bytes        int
}

func newGoodScraper(t *testing.T, url string, d *net.Dialer) *goodScraper {
	tr := &http.Transport{DialContext: d.DialContext}
	return &goodScraper{
		t: t, url: url, transport: tr, client: &http.Client{Transport: tr, Timeout: scrapeDeadline},
		phase: "before the abuse", phases: []string{"before the abuse"}, stats: map[string]*scrapeStats{},
		quit: make(chan struct{}), done: make(chan struct{}),
	}
}

func (s *goodScraper) setPhase(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phase = p
	s.phases = append(s.phases, p)
}

// scrape scrapes once; with warmUp, it only returns what is wrong, else it
// records the scrape and fails the test if it is wrong.
func (s *goodScraper) scrape(warmUp bool) error {
	start := time.Now()
	err := func() error {
		req, err := http.NewRequest(http.MethodGet, s.url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "text/plain;version=0.0.4")
		resp, err := s.client.Do(req) // the transport asks for gzip and decodes it
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, body)
		}
		fams, err := parseText(body)
		if err != nil {
			return fmt.Errorf("the body does not parse: %w", err)
		}
		for _, name := range []string{"kore_exporter_build_info", "kore_task_sessions"} {
			if len(fams[name].GetMetric()) == 0 {
				return fmt.Errorf("no %s", name)
			}
		}
		if !warmUp {
			s.mu.Lock()
			s.current().bytes = len(body)
			s.mu.Unlock()
		}
		return nil
	}()
	elapsed := time.Since(start)
	if err == nil && elapsed > scrapeDeadline {
		err = fmt.Errorf("took %v, over the %v deadline", elapsed, scrapeDeadline)
	}
	if warmUp {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.current()
	st.n++
	st.total += elapsed
	st.worst = max(st.worst, elapsed)
	if err != nil {
		st.failed++
		s.failed++
		if s.failed <= 20 {
			s.t.Errorf("scrape during %q: %v", s.phase, err)
		}
	}
	return err
}

// current returns the stats of the current phase; s.mu is held.
func (s *goodScraper) current() *scrapeStats {
	st := s.stats[s.phase]
	if st == nil {
		st = &scrapeStats{}
		s.stats[s.phase] = st
	}
	return st
}

func (s *goodScraper) start() {
	go func() {
		defer close(s.done)
		tick := time.NewTicker(scrapeEvery)
		defer tick.Stop()
		for {
			_ = s.scrape(false)
			select {
			case <-s.quit:
				return
			case <-tick.C:
			}
		}
	}()
}

// stop stops the scraper (if started) and closes its connection.
func (s *goodScraper) stop() {
	s.stopOnce.Do(func() {
		close(s.quit)
		select {
		case <-s.done:
		case <-time.After(2 * scrapeDeadline):
			s.t.Error("the scraper did not stop")
		}
		s.transport.CloseIdleConnections()
	})
}

func (s *goodScraper) summary() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.phases {
		if st := s.stats[p]; st != nil && st.n > 0 {
			out = append(out, fmt.Sprintf("real scrapes during %s: %d, %d failed, mean %v, worst %v (%d bytes)",
				p, st.n, st.failed, (st.total/time.Duration(st.n)).Round(time.Millisecond), st.worst.Round(time.Millisecond), st.bytes))
		}
	}
	return out
}

// resources are the process's goroutines and open file descriptors (-1
// where /proc/self/fd cannot be read). run() is in-process, so both count
// the exporter's and the test's; the test's abusers are all gone when they
// are compared.
type resources struct{ goroutines, fds int }

type resourceMonitor struct {
	mu   sync.Mutex
	high resources
	quit chan struct{}
	done chan struct{}
}

func startResourceMonitor(t *testing.T) *resourceMonitor {
	m := &resourceMonitor{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			r := m.sample()
			m.mu.Lock()
			m.high = resources{max(m.high.goroutines, r.goroutines), max(m.high.fds, r.fds)}
			m.mu.Unlock()
			select {
			case <-m.quit:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { close(m.quit); <-m.done })
	return m
}

func (m *resourceMonitor) sample() resources {
	fds := -1
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		fds = len(ents)
	}
	// The monitor's own goroutine is not the process's load.
	return resources{runtime.NumGoroutine() - 1, fds}
}

func (m *resourceMonitor) resetPeak() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.high = resources{}
}

func (m *resourceMonitor) peak() resources {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.high
}

// settle returns the highest sample over d.
func (m *resourceMonitor) settle(d time.Duration) resources {
	m.resetPeak()
	time.Sleep(d)
	return m.peak()
}

// abuser runs the abuses against the exporter at addr; every abuse closes
// its connections before it returns.
type abuser struct {
	t    *testing.T
	addr string
	// nonReaderDialer dials the non-reading scrapers' connections, from
	// an address of their own.
	nonReaderDialer *net.Dialer

	mu    sync.Mutex
	notes map[string][]string // per abuse, the figures of each phase
	order []string
}

// phase runs lead and rest together: for d, or with d == 0 until lead
// returns by itself.
func (a *abuser) phase(d time.Duration, lead func(context.Context) string, rest ...func(context.Context) string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if d > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeout(ctx, d)
		defer stop()
	}
	var wg sync.WaitGroup
	for _, f := range rest {
		wg.Go(func() { a.note(f(ctx)) })
	}
	a.note(lead(ctx))
	cancel()
	wg.Wait()
}

func (a *abuser) note(s string) {
	name, figures, _ := strings.Cut(s, ": ")
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.notes == nil {
		a.notes = map[string][]string{}
	}
	if _, ok := a.notes[name]; !ok {
		a.order = append(a.order, name)
	}
	a.notes[name] = append(a.notes[name], figures)
}

func (a *abuser) summary() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, name := range a.order {
		out = append(out, fmt.Sprintf("%s: %s (in turn; all together)", name, strings.Join(a.notes[name], "; ")))
	}
	return out
}

func (a *abuser) dial() (net.Conn, error) { return a.dialWith(&net.Dialer{}) }

func (a *abuser) dialWith(d *net.Dialer) (net.Conn, error) {
	d.Timeout = abuseIOTimeout
	c, err := d.Dial("tcp", a.addr)
	if err != nil {
		return nil, err
	}
	if err := c.SetDeadline(time.Now().Add(abuseIOTimeout)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// idleFlood opens abuseIdleConns keep-alive connections, sends one request
// on each, and leaves them idle until ctx ends.
func (a *abuser) idleFlood(ctx context.Context) string {
	conns := make([]net.Conn, 0, abuseIdleConns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range abuseIdleConns {
		c, err := a.dial()
		if err != nil {
			a.t.Errorf("idle keep-alive: %v", err)
			return "idle keep-alive: dial failed"
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, "GET /-/healthy HTTP/1.1\r\nHost: exporter\r\n\r\n"); err != nil {
			a.t.Errorf("idle keep-alive: %v", err)
			return "idle keep-alive: write failed"
		}
	}
	for i, c := range conns {
		_ = c.SetDeadline(time.Now().Add(abuseIOTimeout))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			a.t.Errorf("idle keep-alive %d: %v", i, err)
			return "idle keep-alive: read failed"
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || resp.Close {
			a.t.Errorf("idle keep-alive %d: HTTP %d, close %v, %v; want 200 on a keep-alive connection", i, resp.StatusCode, resp.Close, err)
		}
		_ = c.SetDeadline(time.Time{})
	}
	<-ctx.Done()
	return fmt.Sprintf("idle keep-alive: %d connections held idle", len(conns))
}

// slowloris opens abuseSlowConns connections that send a request header
// one byte a second. With untilCut, it returns once the server has closed
// every one of them (failing the test if that takes over slowCutBound);
// else it closes them when ctx ends.
func (a *abuser) slowloris(untilCut bool) func(context.Context) string {
	return func(ctx context.Context) string {
		if untilCut {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(context.Background(), slowCutBound)
			defer cancel()
		}
		var wg sync.WaitGroup
		var cut, sent atomic.Int64
		var mu sync.Mutex
		var cutAfter []time.Duration
		for i := range abuseSlowConns {
			c, err := a.dial()
			if err != nil {
				a.t.Errorf("slowloris %d: %v", i, err)
				break
			}
			_ = c.SetDeadline(time.Time{})
			wg.Go(func() {
				defer c.Close()
				stopWatch := context.AfterFunc(ctx, func() { c.Close() })
				defer stopWatch()
				start := time.Now()
				if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: exporter\r\nX-Slow: "); err != nil {
					a.t.Errorf("slowloris %d: %v", i, err)
					return
				}
				buf := make([]byte, 512)
				for {
					_ = c.SetReadDeadline(time.Now().Add(time.Second))
					_, err := c.Read(buf)
					if ctx.Err() != nil {
						return // closed by us
					}
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						if _, err = c.Write([]byte{'z'}); err == nil {
							sent.Add(1)
							continue
						}
					}
					if err != nil { // the server closed the connection
						mu.Lock()
						cutAfter = append(cutAfter, time.Since(start))
						mu.Unlock()
						cut.Add(1)
						return
					}
					// The server answered something (a 408?): read on to
					// its close.
				}
			})
		}
		if !untilCut {
			<-ctx.Done()
		}
		wg.Wait()
		if untilCut && cut.Load() < abuseSlowConns {
			a.t.Errorf("slowloris: the server cut %d of %d connections within %v", cut.Load(), abuseSlowConns, slowCutBound)
		}
		note := fmt.Sprintf("slowloris: %d connections, %d header bytes sent, %d cut by the server", abuseSlowConns, sent.Load(), cut.Load())
		if len(cutAfter) > 0 {
			note += fmt.Sprintf(" %v to %v after connecting", slices.Min(cutAfter).Round(100*time.Millisecond), slices.Max(cutAfter).Round(100*time.Millisecond))
		}
		return note
	}
}

// nonReaders opens abuseNonReaders connections that each ask for
// /metrics abusePipelined times, uncompressed, with a small receive buffer,
// and never read; they are closed when ctx ends.
func (a *abuser) nonReaders(ctx context.Context) string {
	req := strings.Repeat("GET /metrics HTTP/1.1\r\nHost: exporter\r\nAccept-Encoding: identity\r\n\r\n", abusePipelined)
	conns := make([]net.Conn, 0, abuseNonReaders)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range abuseNonReaders {
		c, err := a.dialWith(a.nonReaderDialer)
		if err != nil {
			a.t.Errorf("non-reader %d: %v", i, err)
			break
		}
		conns = append(conns, c)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4 << 10)
		}
		if _, err := io.WriteString(c, req); err != nil {
			a.t.Errorf("non-reader %d: %v", i, err)
		}
	}
	<-ctx.Done()
	return fmt.Sprintf("non-reading scrapers: %d connections, %d requests each", len(conns), abusePipelined)
}

// Huge request headers: one over the server's limit (collector's
// MaxHeaderBytes, 64 KiB, plus net/http's 4 KiB of slack), one large value
// under it, and many small header fields.
var (
	hugeOver  = "GET /metrics HTTP/1.1\r\nHost: exporter\r\nX-Huge: " + strings.Repeat("a", 1<<20+8<<10) + "\r\n\r\n"
	hugeUnder = "GET /metrics HTTP/1.1\r\nHost: exporter\r\nX-Large: " + strings.Repeat("b", 48<<10) + "\r\n\r\n"
	hugeMany  = func() string {
		var b strings.Builder
		b.WriteString("GET /metrics HTTP/1.1\r\nHost: exporter\r\n")
		for i := range 2000 {
			fmt.Fprintf(&b, "X-Many-%d: v\r\n", i)
		}
		b.WriteString("\r\n")
		return b.String()
	}()
)

// hugeHeaders sends the three huge-header requests, again and again until
// ctx ends: over the limit is refused with 431, under it is answered.
func (a *abuser) hugeHeaders(ctx context.Context) string {
	rounds := 0
	for ctx.Err() == nil {
		for _, tc := range []struct {
			name, req string
			want      int
		}{
			{"1 MiB + 8 KiB header", hugeOver, http.StatusRequestHeaderFieldsTooLarge},
			{"48 KiB header", hugeUnder, http.StatusOK},
			{"2,000 header fields", hugeMany, http.StatusOK},
		} {
			if code, err := a.roundTrip(tc.req, http.MethodGet); err != nil || code != tc.want {
				a.t.Errorf("huge headers, %s: HTTP %d, %v; want %d", tc.name, code, err, tc.want)
			}
		}
		rounds++
		waitOrDone(ctx, abusePause)
	}
	return fmt.Sprintf("huge headers: %d rounds of 3 requests (%.1f MiB of header each round)", rounds,
		float64(len(hugeOver)+len(hugeUnder)+len(hugeMany))/(1<<20))
}

// roundTrip sends raw on a new connection, writing while it reads (the
// server may answer before it has read everything), and returns the
// status of the answer, whose body it reads in full (a /metrics body must
// parse).
func (a *abuser) roundTrip(raw, method string) (int, error) {
	c, err := a.dial()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		_, _ = io.WriteString(c, raw) // a refused request may not be read to its end
	}()
	defer func() { c.Close(); <-wrote }()
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		if _, err := parseText(body); err != nil {
			return resp.StatusCode, fmt.Errorf("the /metrics body does not parse: %w", err)
		}
	}
	return resp.StatusCode, nil
}

// garbageRequests are malformed or unwelcome requests and the status each
// must get. net/http answers the malformed ones itself; 501 and 505 are its
// answers to a transfer coding or protocol version it does not implement.
var garbageRequests = []struct {
	name, raw string
	want      int
}{
	{"unknown method", "FOO /metrics HTTP/1.1\r\nHost: exporter\r\n\r\n", http.StatusMethodNotAllowed},
	{"DELETE /metrics", "DELETE /metrics HTTP/1.1\r\nHost: exporter\r\n\r\n", http.StatusMethodNotAllowed},
	{"POST /metrics with a body", "POST /metrics HTTP/1.1\r\nHost: exporter\r\nContent-Length: 5\r\n\r\nhello", http.StatusMethodNotAllowed},
	{"POST /-/reload without --web.enable-lifecycle", "POST /-/reload HTTP/1.1\r\nHost: exporter\r\nContent-Length: 0\r\n\r\n", http.StatusForbidden},
	{"method with a bad character", "G@T /metrics HTTP/1.1\r\nHost: exporter\r\n\r\n", http.StatusBadRequest},
	{"bad escape in the path", "GET /%zz HTTP/1.1\r\nHost: exporter\r\n\r\n", http.StatusBadRequest},
	{"dot-dot path", "GET /../../../etc/passwd HTTP/1.1\r\nHost: exporter\r\n\r\n", http.StatusTemporaryRedirect},
	{"64 KiB path", "GET /" + strings.Repeat("p", 64<<10) + " HTTP/1.1\r\nHost: exporter\r\n\r\n", http.StatusNotFound},
	{"garbage query", "GET /metrics?%00%ff=<script>&&&;; HTTP/1.1\r\nHost: exporter\r\n\r\n", http.StatusOK},
	{"no Host", "GET /metrics HTTP/1.1\r\n\r\n", http.StatusBadRequest},
	{"no version", "GET /metrics\r\n\r\n", http.StatusBadRequest},
	{"HTTP/9.9", "GET /metrics HTTP/9.9\r\nHost: exporter\r\n\r\n", http.StatusHTTPVersionNotSupported},
	{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", http.StatusBadRequest},
	{"bad Content-Length", "GET /metrics HTTP/1.1\r\nHost: exporter\r\nContent-Length: -1\r\n\r\n", http.StatusBadRequest},
	{"two Content-Lengths", "GET /metrics HTTP/1.1\r\nHost: exporter\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx", http.StatusBadRequest},
	{"unknown Transfer-Encoding", "POST /metrics HTTP/1.1\r\nHost: exporter\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", http.StatusNotImplemented},
	{"binary header line", "GET /metrics HTTP/1.1\r\nHost: exporter\r\n\x00\x01\x02\xff: \xfe\r\n\r\n", http.StatusBadRequest},
}

// garbage sends every garbage request, each on its own connection, again
// and again until ctx ends.
func (a *abuser) garbage(ctx context.Context) string {
	rounds := 0
	for ctx.Err() == nil {
		for _, tc := range garbageRequests {
			if code, err := a.roundTrip(tc.raw, "GET"); err != nil || code != tc.want {
				a.t.Errorf("garbage, %s: HTTP %d, %v; want %d", tc.name, code, err, tc.want)
			}
		}
		rounds++
		waitOrDone(ctx, abusePause)
	}
	return fmt.Sprintf("garbage requests: %d rounds of %d", rounds, len(garbageRequests))
}

// oldAndPipelined sends, until ctx ends: an HTTP/1.0 request for /metrics
// (answered, then the connection closes) and abusePipelined requests
// written at once on one connection (answered in order, the last one
// closing the connection).
func (a *abuser) oldAndPipelined(ctx context.Context) string {
	rounds := 0
	for ctx.Err() == nil {
		if err := a.http10(); err != nil {
			a.t.Errorf("HTTP/1.0: %v", err)
		}
		if err := a.pipelined(); err != nil {
			a.t.Errorf("pipelined: %v", err)
		}
		rounds++
		waitOrDone(ctx, abusePause)
	}
	return fmt.Sprintf("HTTP/1.0 and pipelined: %d rounds of an HTTP/1.0 request and %d pipelined ones", rounds, abusePipelined)
}

func (a *abuser) http10() error {
	c, err := a.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /metrics HTTP/1.0\r\nAccept: text/plain;version=0.0.4\r\n\r\n"); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d, %v", resp.StatusCode, err)
	}
	if _, err := parseText(body); err != nil {
		return fmt.Errorf("the body does not parse: %w", err)
	}
	if n, err := io.Copy(io.Discard, br); err != nil || n != 0 {
		return fmt.Errorf("after the answer: %d more bytes, %v; want the connection closed", n, err)
	}
	return nil
}

func (a *abuser) pipelined() error {
	c, err := a.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	type request struct{ method, path string }
	var reqs []request
	var raw strings.Builder
	for i := range abusePipelined {
		r := []request{{"GET", "/metrics"}, {"HEAD", "/metrics"}, {"GET", "/-/healthy"}, {"GET", "/status?format=json"}}[i%4]
		reqs = append(reqs, r)
		fmt.Fprintf(&raw, "%s %s HTTP/1.1\r\nHost: exporter\r\nAccept: text/plain;version=0.0.4\r\n", r.method, r.path)
		if i == abusePipelined-1 {
			raw.WriteString("Connection: close\r\n")
		}
		raw.WriteString("\r\n")
	}
	if _, err := io.WriteString(c, raw.String()); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	for i, r := range reqs {
		resp, err := http.ReadResponse(br, &http.Request{Method: r.method})
		if err != nil {
			return fmt.Errorf("answer %d (%s %s): %w", i, r.method, r.path, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("answer %d (%s %s): HTTP %d, %v", i, r.method, r.path, resp.StatusCode, err)
		}
		if r.method == "GET" && r.path == "/metrics" {
			if _, err := parseText(body); err != nil {
				return fmt.Errorf("answer %d: the body does not parse: %w", i, err)
			}
		}
	}
	if n, err := io.Copy(io.Discard, br); err != nil || n != 0 {
		return fmt.Errorf("after the last answer: %d more bytes, %v; want the connection closed", n, err)
	}
	return nil
}

// loopbackDialer dials from the loopback address ip (127.0.0.0/8 is all
// loopback on Linux); the test is skipped where it cannot be bound.
func loopbackDialer(t testing.TB, ip string) *net.Dialer {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot bind the loopback address %s (needed for clients at distinct addresses): %v", ip, err)
	}
	l.Close()
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
}

// parseText parses a body in the Prometheus text format.
func parseText(body []byte) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(bytes.NewReader(body))
}

// waitOrDone sleeps for d or until ctx ends.
func waitOrDone(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// stuckWriter is a ResponseWriter whose client never reads (and whose
// connection buffers nothing): its first Write reports the answer's
// status on writing, then blocks until release is closed. It takes write
// deadlines (as http.ResponseController finds them) and records whether
// one was set before the answer began.
type stuckWriter struct {
	header        http.Header
	code          int
	deadline      time.Time // the last one set
	deadlineFirst bool      // a deadline was set before the status or the first byte
	once          sync.Once
	writing       chan<- int // nil: Write does not block
	release       <-chan struct{}
}

func newStuckWriter(writing chan<- int, release <-chan struct{}) *stuckWriter {
	return &stuckWriter{header: http.Header{}, writing: writing, release: release}
}

func (w *stuckWriter) Header() http.Header { return w.header }

func (w *stuckWriter) SetWriteDeadline(t time.Time) error {
	w.deadline = t
	return nil
}

func (w *stuckWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
		w.deadlineFirst = !w.deadline.IsZero()
	}
}

func (w *stuckWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if w.writing != nil {
		w.once.Do(func() { w.writing <- w.code })
		<-w.release
	}
	return len(p), nil
}

// exporterEndpoints are the exporter's endpoints as a client asks for them.
var exporterEndpoints = []struct{ method, target string }{
	{http.MethodGet, "/metrics"},
	{http.MethodGet, "/status"},
	{http.MethodGet, "/status?format=json"},
	{http.MethodGet, "/-/healthy"},
	{http.MethodGet, "/-/ready"},
	{http.MethodGet, "/-/reload"}, // 405: only POST and PUT reload
	{http.MethodGet, "/"},
}

// stuckClients sends h one request of ep from each of the remote
// addresses, with writers that never drain, and returns once each request
// is either stuck writing or has returned: how many are stuck answering
// other than 503, and how many were refused with 503. The stuck ones
// return once release is closed; wait waits for them.
func stuckClients(t *testing.T, h http.Handler, method, target string, remotes []string, release <-chan struct{}) (stuck, refused int, wait func()) {
	writing, returned := make(chan int), make(chan int)
	var wg sync.WaitGroup
	for _, remote := range remotes {
		wg.Go(func() {
			w := newStuckWriter(writing, release)
			r := httptest.NewRequest(method, target, nil)
			r.RemoteAddr = remote
			h.ServeHTTP(w, r)
			w.once.Do(func() { returned <- w.code })
		})
	}
	for range remotes {
		var code int
		select {
		case code = <-writing:
		case code = <-returned:
		}
		if code == http.StatusServiceUnavailable {
			refused++
		} else {
			stuck++
		}
	}
	return stuck, refused, wg.Wait
}

// TestEndpointBounds: every endpoint of the exporter (newMux with
// --web.max-requests=40) sets a write deadline before it answers, serves
// at most 40 requests at once, and at most a quarter of them from one
// client address: the requests of clients that never read beyond that are
// refused with 503, while a request from another address is answered.
func TestEndpointBounds(t *testing.T) {
	mux := fuzzMuxT(t)
	const (
		maxRequests = 40 // as fuzzMuxT's flags
		share       = maxRequests / 4
	)
	for _, ep := range exporterEndpoints {
		t.Run(ep.method+" "+ep.target, func(t *testing.T) {
			// One request alone: its code, and its deadline.
			alone := newStuckWriter(nil, nil)
			r := httptest.NewRequest(ep.method, ep.target, nil)
			r.RemoteAddr = "198.51.100.7:51000"
			before := time.Now()
			mux.ServeHTTP(alone, r)
			switch {
			case !alone.deadlineFirst:
				t.Errorf("answered HTTP %d without a write deadline set first", alone.code)
			case !alone.deadline.After(before) || alone.deadline.After(before.Add(time.Minute)):
				t.Errorf("write deadline %v after the request, want in (0, 1m]", alone.deadline.Sub(before))
			}
			if alone.code == http.StatusServiceUnavailable {
				t.Fatalf("a request alone: HTTP 503")
			}

			// share+5 requests from one address that never reads.
			var remotes []string
			for i := range share + 5 {
				remotes = append(remotes, fmt.Sprintf("192.0.2.1:%d", 40000+i))
			}
			release := make(chan struct{})
			stuck, refused, wait := stuckClients(t, mux, ep.method, ep.target, remotes, release)
			if stuck != share || refused != 5 {
				t.Errorf("%d requests from one address that never reads: %d answered and stuck, %d refused; want %d and 5",
					len(remotes), stuck, refused, share)
			}
			other := newStuckWriter(nil, nil)
			r = httptest.NewRequest(ep.method, ep.target, nil)
			r.RemoteAddr = "[2001:db8::7]:51001"
			mux.ServeHTTP(other, r)
			if other.code != alone.code {
				t.Errorf("a request from another address meanwhile: HTTP %d, want %d as alone", other.code, alone.code)
			}
			close(release)
			wait()

			// maxRequests+5 requests from as many addresses.
			remotes = remotes[:0]
			for i := range maxRequests + 5 {
				remotes = append(remotes, fmt.Sprintf("10.0.%d.%d:40000", i/200, 1+i%200))
			}
			release = make(chan struct{})
			stuck, refused, wait = stuckClients(t, mux, ep.method, ep.target, remotes, release)
			if stuck != maxRequests || refused != 5 {
				t.Errorf("%d requests from as many addresses that never read: %d answered and stuck, %d refused; want %d and 5",
					len(remotes), stuck, refused, maxRequests)
			}
			close(release)
			wait()
		})
	}
}
