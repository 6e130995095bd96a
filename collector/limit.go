package collector

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PerAddressShare returns how many requests one client address may have
// in flight at an endpoint that serves at most maxInFlight at once: a
// quarter of them, at least 1 (docs/configuration.md). A Prometheus
// server has one scrape of a target in flight at a time, so a quarter is
// far more than one server, or a pair of them, or a handful behind one
// address, needs; and a client that holds its slots without reading (or
// reconnects each time the write deadline cuts it) leaves three quarters
// to every other address.
func PerAddressShare(maxInFlight int) int { return max(1, maxInFlight/4) }

// Reasons a request is refused (the reason label of
// kore_exporter_http_requests_refused_total).
const (
	refusedLimit   = "limit"   // every slot of the endpoint is taken
	refusedAddress = "address" // the client's address holds its share
)

// limiter bounds the requests in flight at one endpoint: at most max in
// all, and at most share from one client address (share 0: no bound per
// address). A nil *limiter bounds nothing.
type limiter struct {
	max, share int

	mu     sync.Mutex
	total  int
	byAddr map[netip.Addr]int // only addresses with requests in flight
}

// newLimiter returns the limiter of maxInFlight requests in all and
// perAddress from one address (none if 0 or less), nil for no limit.
func newLimiter(maxInFlight, perAddress int) *limiter {
	if maxInFlight <= 0 {
		return nil
	}
	return &limiter{max: maxInFlight, share: min(max(perAddress, 0), maxInFlight), byAddr: map[netip.Addr]int{}}
}

// acquire takes a slot for a request from addr; it returns "" if it got
// one, which release gives back, else the reason it is refused.
func (l *limiter) acquire(addr netip.Addr) string {
	if l == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.total >= l.max:
		return refusedLimit
	case l.share > 0 && l.byAddr[addr] >= l.share:
		return refusedAddress
	}
	l.total++
	l.byAddr[addr]++
	return ""
}

func (l *limiter) release(addr netip.Addr) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if n := l.byAddr[addr] - 1; n > 0 {
		l.byAddr[addr] = n
	} else {
		delete(l.byAddr, addr)
	}
}

// refuse answers a request the limiter refused for reason.
func (l *limiter) refuse(w http.ResponseWriter, reason string) {
	msg := fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", l.max)
	if reason == refusedAddress {
		msg = fmt.Sprintf("Limit of concurrent requests from one address reached (%d of %d), try again later.", l.share, l.max)
	}
	http.Error(w, msg, http.StatusServiceUnavailable)
}

// clientAddr is the address a request's share is counted by: the IP of
// its connection's remote address, without port or zone, an IPv4-mapped
// IPv6 address as IPv4. Forwarding headers (X-Forwarded-For) are not
// read: any client can set them. A remote address that is no IP (a Unix
// socket's) counts as the zero Addr, one client.
func clientAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return a.Unmap().WithZone("")
	}
	return netip.Addr{}
}

// RefusedRequests counts the requests the exporter's endpoints answered
// with 503 because of their in-flight bound, by endpoint and reason:
// kore_exporter_http_requests_refused_total. It is a prometheus.Collector;
// the methods are safe for concurrent use and on a nil *RefusedRequests,
// which counts nothing.
type RefusedRequests struct {
	vec *prometheus.CounterVec
}

// NewRefusedRequests returns the counter, with no series until an
// endpoint is bounded (NewHandler, Bound), which creates its series at 0.
func NewRefusedRequests() *RefusedRequests {
	return &RefusedRequests{vec: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "http_requests_refused_total",
		Help: "HTTP requests answered 503 by the endpoint's in-flight bound: reason limit when all --web.max-requests slots of the endpoint were taken, " +
			"reason address when the client's IP address already held its share (a quarter of them).",
	}, []string{"endpoint", "reason"})}
}

// Describe sends the counter's descriptor.
func (c *RefusedRequests) Describe(ch chan<- *prometheus.Desc) { c.vec.Describe(ch) }

// Collect sends the counter's series.
func (c *RefusedRequests) Collect(ch chan<- prometheus.Metric) { c.vec.Collect(ch) }

// init creates the series of endpoint at 0.
func (c *RefusedRequests) init(endpoint string) {
	if c != nil {
		c.vec.WithLabelValues(endpoint, refusedLimit)
		c.vec.WithLabelValues(endpoint, refusedAddress)
	}
}

func (c *RefusedRequests) inc(endpoint, reason string) {
	if c != nil {
		c.vec.WithLabelValues(endpoint, reason).Inc()
	}
}

// EndpointOpts bound one of the exporter's endpoints other than /metrics
// (whose HandlerOpts bound it alike).
type EndpointOpts struct {
	// Name is the endpoint's value of the endpoint label of
	// kore_exporter_http_requests_refused_total.
	Name string
	// MaxRequestsInFlight limits the endpoint's concurrent requests; more
	// are answered 503. Zero or less means no limit.
	MaxRequestsInFlight int
	// MaxRequestsPerAddress limits, under MaxRequestsInFlight, the
	// concurrent requests of one client address (the exporter gives
	// PerAddressShare of it); more are answered 503. Zero or less means
	// no limit per address.
	MaxRequestsPerAddress int
	// WriteTimeout bounds the time to write one response, as
	// HandlerOpts.WriteTimeout: zero sizes it from the response's
	// Content-Length (WriteTimeoutFor; 0 bytes when it is not set),
	// negative means no deadline.
	WriteTimeout time.Duration
	// Refused, if set, counts the refused requests.
	Refused *RefusedRequests
}

// Bound returns h bounded as /metrics is: at most MaxRequestsInFlight
// requests in flight, at most MaxRequestsPerAddress of them from one
// client address (more are answered 503 and counted), and a write deadline on
// every answer, set when the answer begins (its status or first byte, or
// when h returns having written nothing), so that a client that stops
// reading is cut off, frees its slot and its connection is closed.
func Bound(h http.Handler, opts EndpointOpts) http.Handler {
	b := &bounded{h: h, opts: opts, limit: newLimiter(opts.MaxRequestsInFlight, opts.MaxRequestsPerAddress)}
	opts.Refused.init(opts.Name)
	return b
}

type bounded struct {
	h     http.Handler
	opts  EndpointOpts
	limit *limiter
}

func (b *bounded) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	dw := &deadlineWriter{ResponseWriter: w, timeout: b.opts.WriteTimeout}
	defer dw.arm() // an answer h left empty is written after it returns
	addr := clientAddr(r)
	if reason := b.limit.acquire(addr); reason != "" {
		b.opts.Refused.inc(b.opts.Name, reason)
		b.limit.refuse(dw, reason)
		return
	}
	defer b.limit.release(addr)
	b.h.ServeHTTP(dw, r)
}

// deadlineWriter sets the write deadline of its response when the answer
// begins. Unwrap lets http.ResponseController reach the response.
type deadlineWriter struct {
	http.ResponseWriter
	timeout time.Duration
	armed   bool
}

func (w *deadlineWriter) arm() {
	if w.armed {
		return
	}
	w.armed = true
	d := w.timeout
	if d < 0 {
		return
	}
	if d == 0 {
		n, _ := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64)
		d = WriteTimeoutFor(n)
	}
	// An error means w takes no deadlines (a test recorder).
	_ = http.NewResponseController(w.ResponseWriter).SetWriteDeadline(time.Now().Add(d))
}

func (w *deadlineWriter) WriteHeader(code int) {
	w.arm()
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.arm()
	return w.ResponseWriter.Write(p)
}

func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
