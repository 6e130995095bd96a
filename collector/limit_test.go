package collector

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// stuckWriter is a ResponseWriter whose client never reads (and whose
// connection buffers nothing): its first Write reports the answer's
// status on writing, then blocks until release is closed.
type stuckWriter struct {
	header  http.Header
	code    int
	once    sync.Once
	writing chan<- int
	release <-chan struct{}
}

func (w *stuckWriter) Header() http.Header { return w.header }
func (w *stuckWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *stuckWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.once.Do(func() { w.writing <- w.code })
	<-w.release
	return len(p), nil
}

// stuckRequests serves n requests from remoteIP (the port differs per
// request) with writers that never drain, and returns once each has
// either begun writing (and is stuck) or returned. It reports how many are
// stuck answering other than 503, and the codes of the others; the stuck
// ones return when release is closed, and wait waits for them.
func stuckRequests(h http.Handler, method, target, remoteIP string, n int, release <-chan struct{}) (stuck int, codes []int, wait func()) {
	writing := make(chan int)
	returned := make(chan int)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			w := &stuckWriter{header: http.Header{}, writing: writing, release: release}
			r := httptest.NewRequest(method, target, nil)
			r.RemoteAddr = net.JoinHostPort(remoteIP, fmt.Sprint(40000+i))
			h.ServeHTTP(w, r)
			w.once.Do(func() { returned <- w.code })
		})
	}
	for range n {
		var code int
		select {
		case code = <-writing:
		case code = <-returned:
		}
		if code == http.StatusServiceUnavailable {
			codes = append(codes, code)
		} else {
			stuck++
		}
	}
	return stuck, codes, wg.Wait
}

// TestHandlerPerAddressShare: clients at one address that never read hold
// at most a quarter of the --web.max-requests slots; the rest of their
// requests are refused, and a scrape from another address is served.
func TestHandlerPerAddressShare(t *testing.T) {
	t.Parallel()
	const limit = 40
	h := NewHandler(bigStore(t, 1, 10), nil, HandlerOpts{MaxRequestsInFlight: limit, MaxRequestsPerAddress: PerAddressShare(limit)})
	release := make(chan struct{})
	stuck, codes, wait := stuckRequests(h, http.MethodGet, "/metrics", "192.0.2.1", limit, release)
	defer wait()
	defer close(release)
	if want := limit / 4; stuck != want {
		t.Errorf("%d requests from one address that never read: %d hold a slot, want %d (a quarter of %d)", limit, stuck, want, limit)
	}
	for _, c := range codes {
		if c != http.StatusServiceUnavailable {
			t.Errorf("a request over the address's share: HTTP %d, want 503", c)
		}
	}
	rec, _ := scrape(t, h, http.MethodGet, "", "") // from httptest's 192.0.2.1 too
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("one more scrape from the same address: HTTP %d, want 503", rec.Code)
	}
	other := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	other.RemoteAddr = "198.51.100.7:51000"
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, other)
	if rec.Code != http.StatusOK {
		t.Errorf("a scrape from another address while one address holds its share: HTTP %d, want 200: %s", rec.Code, rec.Body)
	}
}

// loopbackDialer dials from the loopback address ip (127.0.0.0/8 is all
// loopback on Linux); the test is skipped where it cannot be bound.
func loopbackDialer(t testing.TB, ip string) *net.Dialer {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot bind the loopback address %s (needed to scrape from distinct addresses): %v", ip, err)
	}
	l.Close()
	return d
}

// slowReaderAttack runs n clients at the loopback address ip that ask
// for the plain /metrics at url and never read the body: each holds its
// answer until the write deadline (timeout) has cut it, then reconnects at
// once; a 503 is read and retried after a short pause. It returns once
// every client has had its first answer, and a stop function that ends
// the attack and reports how many answers were 200 and 503.
func slowReaderAttack(t *testing.T, ip, addr string, n int, timeout time.Duration) (stop func() (held, refused int64)) {
	t.Helper()
	d := loopbackDialer(t, ip)
	ctx, cancel := context.WithCancel(t.Context())
	var held, refused atomic.Int64
	var first sync.WaitGroup
	first.Add(n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			answered := false
			once := func() {
				if !answered {
					answered = true
					first.Done()
				}
			}
			defer once()
			for ctx.Err() == nil {
				code, err := holdOnce(ctx, d, addr, timeout)
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("slow reader %d: %v", i, err)
					}
					return
				}
				once()
				if code == http.StatusOK {
					held.Add(1)
					continue // cut: reconnect at once
				}
				refused.Add(1)
				waitOrDone(ctx, 50*time.Millisecond)
			}
		})
	}
	first.Wait()
	return func() (int64, int64) {
		cancel()
		wg.Wait()
		return held.Load(), refused.Load()
	}
}

// holdOnce asks for /metrics on a new connection with a small receive
// buffer and reads the header only. A 200 is held, unread, until the
// server's write deadline has passed (the server has cut it by then); a
// refusal is read in full. It returns the status code.
func holdOnce(ctx context.Context, d *net.Dialer, addr string, timeout time.Duration) (int, error) {
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := c.(*net.TCPConn).SetReadBuffer(4 << 10); err != nil {
		return 0, err
	}
	if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: exporter\r\nAccept-Encoding: identity\r\n\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}
	// Not resp.Body.Close, which would read the body to its end: the
	// connection is closed unread.
	waitOrDone(ctx, timeout+50*time.Millisecond)
	return resp.StatusCode, nil
}

func waitOrDone(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// TestHandlerReconnectingSlowReaders: 40 clients at one address that never
// read and reconnect each time the write deadline cuts them (the default
// --web.max-requests of them) do not keep a scraper at another address
// from being served.
func TestHandlerReconnectingSlowReaders(t *testing.T) {
	if testing.Short() {
		t.Skip("write deadlines on real sockets and a real clock: skipped with -short")
	}
	const (
		limit   = 40
		timeout = 3 * time.Second // long enough for a real scrape on a loaded machine
		scrapes = 20
	)
	s := bigStore(t, 32, 100) // about 8 MB of plain text: more than socket buffers hold
	srv := httptest.NewUnstartedServer(NewHandler(s, nil, HandlerOpts{
		MaxRequestsInFlight: limit, MaxRequestsPerAddress: PerAddressShare(limit), WriteTimeout: timeout,
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	addr := l.Addr().String()

	stop := slowReaderAttack(t, "127.0.0.2", addr, limit, timeout)
	scraper := loopbackDialer(t, "127.0.0.3")
	tr := &http.Transport{DialContext: scraper.DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	served, refused := 0, 0
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for range scrapes {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		// The plain body, as the slow readers ask: gzip would only add
		// the client's decompression to each scrape.
		req.Header.Set("Accept-Encoding", "identity")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			t.Fatalf("scrape from another address: %v", err)
		case resp.StatusCode == http.StatusOK && int64(len(body)) == resp.ContentLength && bytes.Contains(body, []byte("kore_task_sessions")):
			served++
		case resp.StatusCode == http.StatusServiceUnavailable:
			refused++
		default:
			t.Fatalf("scrape from another address: HTTP %d, %d bytes", resp.StatusCode, len(body))
		}
		<-tick.C
	}
	held, attackRefused := stop()
	t.Logf("%d slow readers at 127.0.0.2 (write deadline %v): %d answers held until cut, %d refused; scrapes from 127.0.0.3: %d of %d served, %d refused",
		limit, timeout, held, attackRefused, served, scrapes, refused)
	if served != scrapes {
		t.Errorf("%d of %d scrapes from another address served during the attack, want all", served, scrapes)
	}
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ remote, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"192.0.2.1:5678", "192.0.2.1"},
		{"[2001:db8::1]:1234", "2001:db8::1"},
		{"[::ffff:192.0.2.1]:1234", "192.0.2.1"}, // IPv4-mapped: the same client as 192.0.2.1
		{"[fe80::1%eth0]:1234", "fe80::1"},
		{"192.0.2.9", "192.0.2.9"},
		{"@", "invalid IP"}, // a Unix socket: one client
		{"", "invalid IP"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tc.remote
		if got := clientAddr(r).String(); got != tc.want {
			t.Errorf("clientAddr(%q) = %s, want %s", tc.remote, got, tc.want)
		}
	}
}

func TestPerAddressShare(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ max, want int }{{1, 1}, {3, 1}, {4, 1}, {7, 1}, {8, 2}, {40, 10}, {10000, 2500}} {
		if got := PerAddressShare(tc.max); got != tc.want {
			t.Errorf("PerAddressShare(%d) = %d, want %d", tc.max, got, tc.want)
		}
	}
}

// deadlineRecorder is an httptest.ResponseRecorder that takes write
// deadlines and records whether one was set before the answer began.
type deadlineRecorder struct {
	*httptest.ResponseRecorder
	deadline      time.Time
	deadlineFirst bool
	began         bool
}

func (w *deadlineRecorder) SetWriteDeadline(t time.Time) error {
	w.deadline = t
	return nil
}

func (w *deadlineRecorder) WriteHeader(code int) {
	if !w.began {
		w.began, w.deadlineFirst = true, !w.deadline.IsZero()
	}
	w.ResponseRecorder.WriteHeader(code)
}

func (w *deadlineRecorder) Write(p []byte) (int, error) {
	if !w.began {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseRecorder.Write(p)
}

// TestBoundWriteDeadline: Bound sets the deadline before the answer
// begins: the configured one, or one sized from Content-Length, and one
// for an answer its handler left empty (net/http writes it after the
// handler returns).
func TestBoundWriteDeadline(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("x"), 3<<20)
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		h       http.HandlerFunc
		want    time.Duration
	}{
		{"sized", 0, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			_, _ = w.Write(body)
		}, WriteTimeoutFor(int64(len(body)))},
		{"no length", 0, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }, WriteTimeoutFor(0)},
		{"configured", 2 * time.Second, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }, 2 * time.Second},
		{"empty answer", 0, func(http.ResponseWriter, *http.Request) {}, WriteTimeoutFor(0)},
	} {
		w := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
		before := time.Now()
		Bound(tc.h, EndpointOpts{Name: "test", WriteTimeout: tc.timeout}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		after := time.Now()
		if w.began && !w.deadlineFirst || w.deadline.Before(before.Add(tc.want)) || w.deadline.After(after.Add(tc.want)) {
			t.Errorf("%s: deadline %v after the request (set first: %v), want %v", tc.name, w.deadline.Sub(before), w.deadlineFirst, tc.want)
		}
	}
	w := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
	Bound(http.NotFoundHandler(), EndpointOpts{WriteTimeout: -1}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if !w.deadline.IsZero() {
		t.Errorf("WriteTimeout -1: deadline %v set, want none", w.deadline)
	}
}

// TestBoundRefusedCounted: the requests Bound refuses are answered 503
// and counted by reason; a slot is given back when its request ends.
func TestBoundRefusedCounted(t *testing.T) {
	t.Parallel()
	refused := NewRefusedRequests()
	h := Bound(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "answer") }),
		EndpointOpts{Name: "status", MaxRequestsInFlight: 4, MaxRequestsPerAddress: PerAddressShare(4), Refused: refused})
	count := func(reason string) float64 { return testutil.ToFloat64(refused.vec.WithLabelValues("status", reason)) }
	if n := testutil.CollectAndCount(refused); n != 2 {
		t.Errorf("%d series before any request, want 2 (both reasons at 0)", n)
	}

	release := make(chan struct{})
	stuck, codes, wait := stuckRequests(h, http.MethodGet, "/status", "192.0.2.1", 3, release)
	if stuck != 1 || len(codes) != 2 || count(refusedAddress) != 2 {
		t.Errorf("3 requests from one address at a limit of 4: %d stuck, refused %v, counted %v; want 1, two 503s, 2", stuck, codes, count(refusedAddress))
	}
	for i := range 3 { // the other three slots
		s, c, w := stuckRequests(h, http.MethodGet, "/status", fmt.Sprintf("192.0.2.%d", 10+i), 1, release)
		defer w()
		if s != 1 || len(c) != 0 {
			t.Fatalf("the request of address %d: %d stuck, refused %v; want it stuck", i, s, c)
		}
	}
	_, codes, w := stuckRequests(h, http.MethodGet, "/status", "192.0.2.99", 1, release)
	if len(codes) != 1 || count(refusedLimit) != 1 {
		t.Errorf("a fifth address at a limit of 4: refused %v, counted %v; want one 503, 1", codes, count(refusedLimit))
	}
	close(release)
	wait()
	w()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/status", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("once the requests ended: HTTP %d, want 200", rec.Code)
	}
}
