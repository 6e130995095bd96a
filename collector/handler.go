package collector

import (
	"bytes"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/kore-exporter/kore_exporter/collector/internal/expo"
)

// HandlerOpts configures the /metrics handler. The zero value serves
// pre-encoded data with gzip when the client accepts it and no in-flight
// limit. An error gathering or encoding the self-metrics is answered with
// HTTP 500, as promhttp's HTTPErrorOnError does.
type HandlerOpts struct {
	// ErrorLog, if set, is told about errors gathering, encoding or
	// writing metrics. A *slog.Logger will do.
	ErrorLog ErrorLogger
	// MaxRequestsInFlight limits concurrent scrapes; more are answered 503.
	// Zero or less means no limit.
	MaxRequestsInFlight int
	// MaxRequestsPerAddress limits, under MaxRequestsInFlight, the
	// concurrent scrapes of one client address (the exporter gives
	// PerAddressShare of it, a quarter), so that clients at one address
	// that never read cannot hold every slot; more are answered 503.
	// Zero or less means no limit per address.
	MaxRequestsPerAddress int
	// WriteTimeout bounds the time to write one response, so a client
	// that stops reading is cut off (its connection closed) and frees its
	// in-flight slot. Zero sizes it from the body as sent:
	// WriteTimeoutFor(length); an answer without the body (HEAD, an error)
	// gets WriteTimeoutFor(0). Negative means no deadline.
	WriteTimeout time.Duration
	// Refused, if set, counts the scrapes refused by the in-flight bound,
	// as endpoint "metrics".
	Refused *RefusedRequests
	// Metrics, if set, are the self-metrics, which the handler serves
	// from their cached block. The self Gatherer must not gather those families too
	// (the handler refuses them); the registry of NewRegistry does not.
	Metrics *Metrics
}

// reservedPaths are the paths the exporter serves besides the telemetry
// path; the telemetry path may be none of them.
var reservedPaths = [...]string{"/", "/-/healthy", "/-/ready", "/-/reload", "/status"}

// CheckTelemetryPath reports why p cannot be the path of /metrics: it must
// start with "/", be clean (no "//", ".", ".." or trailing "/"), hold only
// letters, digits and "/-._~", and be none of the exporter's other paths:
// /, /-/healthy, /-/ready, /-/reload, /status.
func CheckTelemetryPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("telemetry path %q: must start with \"/\"", p)
	}
	for _, c := range p {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("/-._~", c)) {
			return fmt.Errorf("telemetry path %q: character %q not allowed (letters, digits and /-._~ only)", p, c)
		}
	}
	if clean := path.Clean(p); clean != p {
		return fmt.Errorf("telemetry path %q: not a clean path (did you mean %q?)", p, clean)
	}
	if slices.Contains(reservedPaths[:], p) {
		return fmt.Errorf("telemetry path %q: clashes with the exporter's own endpoint %s", p, p)
	}
	return nil
}

// ErrorLogger receives the handler's errors; *slog.Logger implements it.
type ErrorLogger interface {
	Error(msg string, args ...any)
}

// acceptedFormats are the formats the handler negotiates, in promhttp's
// order of preference with OpenMetrics enabled, minus protobuf: the data
// is pre-encoded in the two text formats only. Clients that accept only
// protobuf get the text format, as promhttp answers when nothing matches
// (Prometheus always lists the text formats in its Accept header).
var acceptedFormats = []expfmt.Format{
	expfmt.FmtOpenMetrics_1_0_0,
	expfmt.FmtOpenMetrics_0_0_1,
	expfmt.FmtText,
}

// Write deadline sizing: writeTimeoutBase plus the time the body takes at
// minWriteThroughput (8 Mbit/s, far slower than any useful scrape: a
// Prometheus scrape times out after its scrape interval at most).
const (
	writeTimeoutBase   = 10 * time.Second
	minWriteThroughput = 1 << 20 // bytes per second
)

// WriteTimeoutFor returns the default write deadline of a response of
// length bytes: 10 s plus one second per MiB.
func WriteTimeoutFor(length int64) time.Duration {
	return writeTimeoutBase + time.Duration(float64(max(length, 0))/minWriteThroughput*float64(time.Second))
}

// maxPooledBuffer bounds the buffers kept for reuse between scrapes.
const maxPooledBuffer = 4 << 20

// NewHandler returns the /metrics handler: it serves the data metrics of
// store's current snapshot and the self-metrics of opts.Metrics, already
// encoded (docs/performance.md), and self, gathered at scrape time (the
// Go runtime and process collectors of NewRegistry). self and opts.Metrics
// may be nil.
//
// The response negotiates like promhttp with OpenMetrics enabled: the
// format from the Accept header (OpenMetrics 1.0.0 or 0.0.1, else the text
// format 0.0.4; Content-Type is the negotiated format including its
// escaping term), and gzip when Accept-Encoding allows it. The body is the
// data block, then the block of the self-metrics (encoded by the first
// scrape after a change, Metrics), then what self gathers, then, in
// OpenMetrics, one "# EOF".
//
// With gzip, the response is one gzip member: the pre-compressed DEFLATE
// blocks, then what self gathers compressed as the final block, then a
// trailer whose CRC-32 is combined arithmetically (package expo). Only
// the few kilobytes that self gathers are compressed by every scrape (the
// self-metrics block by the first gzip scrape after a change), and
// every gzip decoder reads the result (a second
// gzip member would be cheaper by a few lines but is lost on decoders that
// stop after the first member).
//
// Only GET and HEAD are allowed. A scrape's allocations do not depend on
// the number of data series or jobs (only on the series self gathers),
// but for the first scrape after a change of a self-metric, which
// rebuilds their block.
func NewHandler(store *Store, self prometheus.Gatherer, opts HandlerOpts) http.Handler {
	h := &handler{store: store, self: self, opts: opts, limit: newLimiter(opts.MaxRequestsInFlight, opts.MaxRequestsPerAddress)}
	opts.Refused.init(metricsEndpoint)
	h.buffers.New = func() any { return new(bytes.Buffer) }
	h.answers.New = func() any { return expo.NewAnswer() }
	return h
}

// metricsEndpoint is the endpoint label of the /metrics handler's refused
// requests, whatever the telemetry path.
const metricsEndpoint = "metrics"

type handler struct {
	store *Store
	self  prometheus.Gatherer
	opts  HandlerOpts
	limit *limiter

	buffers sync.Pool // *bytes.Buffer: live exposition
	answers sync.Pool // *expo.Answer
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Every answer is written under a deadline, the body's sized below:
	// a client that reads nothing cannot keep even a short answer (or the
	// goroutine and connection writing it) for ever.
	h.setWriteDeadline(w, 0)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method not allowed; use GET or HEAD.", http.StatusMethodNotAllowed)
		return
	}
	addr := clientAddr(r)
	if reason := h.limit.acquire(addr); reason != "" {
		h.opts.Refused.inc(metricsEndpoint, reason)
		h.limit.refuse(w, reason)
		return
	}
	defer h.limit.release(addr)

	contentType := expfmt.NegotiateAccept(r.Header, acceptedFormats...)
	f, _ := expo.FormatOf(contentType) // every accepted format has one
	gz := acceptsGzip(r.Header)

	// Encode everything live before the first byte goes out, so an error
	// can still become an HTTP 500.
	live := h.buffers.Get().(*bytes.Buffer)
	defer h.putBuffer(live)
	live.Reset()
	if !h.encodeLive(w, live, contentType) {
		return
	}

	// The pre-encoded blocks: the data, then the self-metrics.
	blocks := [2]*expo.Body{&h.store.Load().bodies[f]}
	if m := h.opts.Metrics; m != nil {
		var err error
		if blocks[1], err = m.block(f); err != nil {
			h.fail(w, "error encoding metrics", err)
			return
		}
	}
	a := h.answers.Get().(*expo.Answer)
	defer func() {
		a.Reset(false, nil)
		h.answers.Put(a)
	}()
	a.Reset(gz, live.Bytes(), blocks[:]...)
	length := a.Len()

	hdr := w.Header()
	hdr.Add("Vary", "Accept")
	hdr.Add("Vary", "Accept-Encoding")
	hdr.Set("Content-Type", string(contentType))
	if gz {
		hdr.Set("Content-Encoding", "gzip")
	}
	hdr.Set("Content-Length", strconv.FormatInt(length, 10))
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}

	// A client that stops reading is cut off at the deadline: the write
	// fails, the handler returns and frees its slot, and the server
	// closes the connection. net/http lifts the deadline once the
	// response is done, so a keep-alive connection's next request starts
	// afresh.
	h.setWriteDeadline(w, length)
	if _, err := a.WriteTo(w); err != nil {
		h.logError("error writing metrics", err)
	}
}

// setWriteDeadline sets the deadline of an answer of length bytes:
// opts.WriteTimeout, or sized from length when it is 0. An error means w
// takes no deadlines (a test recorder).
func (h *handler) setWriteDeadline(w http.ResponseWriter, length int64) {
	if d := h.opts.WriteTimeout; d >= 0 {
		if d == 0 {
			d = WriteTimeoutFor(length)
		}
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
	}
}

// encodeLive encodes into buf what is gathered at scrape time: the
// self-metrics and the OpenMetrics "# EOF". A family named like a data
// metric, or like a family of opts.Metrics, is refused: it would repeat a
// family served from the pre-encoded blocks. It reports false if it
// answered the request with an error.
func (h *handler) encodeLive(w http.ResponseWriter, buf *bytes.Buffer, contentType expfmt.Format) bool {
	enc := expfmt.NewEncoder(buf, contentType)
	var mfs []*dto.MetricFamily
	if h.self != nil {
		var err error
		if mfs, err = h.self.Gather(); err != nil {
			h.fail(w, "error gathering metrics", err)
			return false
		}
	}
	for _, mf := range mfs {
		if h.preEncoded(mf.GetName()) {
			h.fail(w, "error encoding metrics", fmt.Errorf("collector: self-metric %q collides with a data metric", mf.GetName()))
			return false
		}
		if err := enc.Encode(mf); err != nil {
			h.fail(w, "error encoding metrics", err)
			return false
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		if err := c.Close(); err != nil {
			h.fail(w, "error encoding metrics", err)
			return false
		}
	}
	return true
}

// preEncoded reports whether the family name is served other than by the
// self Gatherer: a data family, or a family of opts.Metrics.
func (h *handler) preEncoded(name string) bool {
	if inFamilies(dataFamilies, name) {
		return true
	}
	if h.opts.Metrics == nil {
		return false
	}
	return h.opts.Metrics.serves(name)
}

// fail logs err and answers HTTP 500 (nothing has been written yet).
func (h *handler) fail(w http.ResponseWriter, msg string, err error) {
	h.logError(msg, err)
	w.Header().Del("Content-Encoding")
	http.Error(w, "An error has occurred while serving metrics:\n\n"+err.Error(), http.StatusInternalServerError)
}

func (h *handler) logError(msg string, err error) {
	if h.opts.ErrorLog != nil {
		h.opts.ErrorLog.Error(msg, "err", err)
	}
}

func (h *handler) putBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuffer {
		h.buffers.Put(b)
	}
}

// acceptsGzip negotiates the content encoding as promhttp does (the gddo
// NegotiateContentEncoding algorithm over the offers identity and gzip):
// the offer matched with the highest q-value wins, identity on ties, and a
// best q of 0 means identity too.
func acceptsGzip(h http.Header) bool {
	best, bestQ := "identity", -1.0
	for _, offer := range [...]string{"identity", "gzip"} {
		for _, line := range h["Accept-Encoding"] {
			for s := line; ; {
				var value string
				var q float64
				var ok bool
				if value, q, s, ok = nextAcceptSpec(s); !ok {
					break
				}
				if q > bestQ && (value == "*" || value == offer) {
					best, bestQ = offer, q
				}
			}
		}
	}
	return best == "gzip" && bestQ > 0
}

// nextAcceptSpec parses one element of an Accept-Encoding list: a token
// and an optional ";q=" weight. Like gddo's header.ParseAccept, a malformed
// element ends the line.
func nextAcceptSpec(s string) (value string, q float64, rest string, ok bool) {
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	if i == 0 {
		return "", 0, "", false
	}
	value, s, q = s[:i], skipSpace(s[i:]), 1
	if len(s) > 0 && s[0] == ';' {
		s = skipSpace(s[1:])
		if len(s) < 2 || s[:2] != "q=" {
			return "", 0, "", false
		}
		if q, s = parseQuality(s[2:]); q < 0 {
			return "", 0, "", false
		}
	}
	s = skipSpace(s)
	if len(s) == 0 || s[0] != ',' {
		return value, q, "", true // last element: the next call ends the line
	}
	return value, q, skipSpace(s[1:]), true
}

// parseQuality parses a q-value: 0 or 1 with up to three decimals.
func parseQuality(s string) (float64, string) {
	var q float64
	switch {
	case len(s) == 0:
		return -1, ""
	case s[0] == '0':
		q = 0
	case s[0] == '1':
		q = 1
	default:
		return -1, ""
	}
	s = s[1:]
	if len(s) == 0 || s[0] != '.' {
		return q, s
	}
	s = s[1:]
	n, d := 0, 1
	i := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int(s[i]-'0')
		d *= 10
	}
	return q + float64(n)/float64(d), s[i:]
}

func skipSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}

// isTokenChar reports whether c may appear in an RFC 7230 token (or is a
// slash, which gddo accepts too).
func isTokenChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '[', ']', '?', '=', '{', '}':
		return false
	}
	return true
}

// Default server timeouts (ServerOpts).
const (
	// DefaultIdleTimeout closes a keep-alive connection idle this long:
	// longer than the 1-2 minute scrape interval docs/metrics.md advises, so
	// scrapes reuse their connection.
	DefaultIdleTimeout = 3 * time.Minute
	// DefaultReadHeaderTimeout bounds the time to send a request's header.
	DefaultReadHeaderTimeout = 10 * time.Second
	// MaxHeaderBytes bounds a request's header (net/http adds 4 KiB of
	// slack): a scraper sends a few hundred bytes, a bearer token a few
	// KiB, while net/http's default of 1 MiB let each unfinished header
	// hold a megabyte until the read-header timeout.
	MaxHeaderBytes = 64 << 10
)

// ServerOpts are the timeouts of NewServer; zero fields take the defaults.
type ServerOpts struct {
	// IdleTimeout closes a keep-alive connection that has waited this
	// long for its next request. Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// ReadHeaderTimeout closes a connection whose request header has not
	// arrived in full this long after the connection (or, on a keep-alive
	// connection, the first byte of the request). Default
	// DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
}

// NewServer returns the exporter's HTTP server for h: idle keep-alive
// connections and slow request headers are cut off, so clients cannot
// hold connections, goroutines and file descriptors for ever. There is no
// server-wide write timeout: the /metrics handler sets its own, sized from
// its answer (HandlerOpts.WriteTimeout), and so does every endpoint that
// Bound wraps (EndpointOpts.WriteTimeout).
func NewServer(h http.Handler, opts ServerOpts) *http.Server {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	return &http.Server{Handler: h, IdleTimeout: opts.IdleTimeout, ReadHeaderTimeout: opts.ReadHeaderTimeout,
		MaxHeaderBytes: MaxHeaderBytes}
}
