package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/kore-exporter/kore_exporter/collector"
	"github.com/kore-exporter/kore_exporter/collector/report"
)

// FuzzEndpoints sends arbitrary methods, paths, queries, headers and
// bodies to the exporter's HTTP endpoints, wired as run wires them, over
// the fast demo's data and jobs: no answer is a server error or a panic,
// every /metrics answer parses, /status JSON is JSON, and no HTML answer
// reflects markup from the request.
func FuzzEndpoints(f *testing.F) {
	for _, seed := range []struct{ method, target, accept, encoding, body string }{
		{"GET", "/metrics", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", "gzip", ""},
		{"HEAD", "/metrics", "text/plain;version=0.0.4", "", ""},
		{"GET", "/status", "", "", ""},
		{"GET", "/status?format=json", "", "", ""},
		{"GET", "/status", "application/json", "", ""},
		{"POST", "/-/reload", "", "", "x"},
		{"GET", "/-/reload", "", "", ""},
		{"GET", "/-/ready", "", "", ""},
		{"GET", "/-/healthy", "", "", ""},
		{"GET", "/", "text/html", "gzip, deflate, br", ""},
		{"GET", "/<script>alert(1)</script>", "", "", ""},
		{"DELETE", "/metrics?x=<b>", "*/*", "*", ""},
		{"GET", "/metrics/../status", "application/openmetrics-text;version=0.0.1;q=0.5,*/*;q=0", "gzip;q=0.5, identity;q=0.4", ""},
		{"PROPFIND", "//%2e%2e/-/reload", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", "br", ""},
	} {
		f.Add(seed.method, seed.target, seed.accept, seed.encoding, []byte(seed.body))
	}
	mux := fuzzMux(f)
	f.Fuzz(func(t *testing.T, method, target, accept, encoding string, body []byte) {
		req, err := http.NewRequest(method, "http://exporter.test"+target, bytes.NewReader(body))
		if err != nil || req.URL.Host != "exporter.test" {
			return // not a request a client could send
		}
		req.Header.Set("Accept", accept)
		req.Header.Set("Accept-Encoding", encoding)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", method, target, rec.Code, rec.Body)
		}
		ct := rec.Header().Get("Content-Type")
		out := rec.Body.Bytes()
		if strings.HasPrefix(ct, "text/html") && strings.Contains(target, "<") {
			if bytes.Contains(out, []byte("<script>")) || bytes.Contains(bytes.ToLower(out), []byte(strings.ToLower(target))) {
				t.Fatalf("%s %q: the HTML answer reflects the request's markup", method, target)
			}
		}
		if req.URL.Path == "/metrics" && rec.Code == http.StatusOK && method == http.MethodGet {
			if rec.Header().Get("Content-Encoding") == "gzip" {
				if out, err = gunzip(out); err != nil {
					t.Fatalf("%s %q: %v", method, target, err)
				}
			}
			format := expfmt.Format(ct)
			switch format.FormatType() {
			case expfmt.TypeTextPlain:
				dec := expfmt.NewDecoder(bytes.NewReader(out), format)
				for {
					var mf dto.MetricFamily
					if err := dec.Decode(&mf); err == io.EOF {
						break
					} else if err != nil {
						t.Fatalf("%s %q (Accept %q): the answer does not parse: %v", method, target, accept, err)
					}
				}
			case expfmt.TypeOpenMetrics:
				if !bytes.HasSuffix(out, []byte("# EOF\n")) {
					t.Fatalf("%s %q (Accept %q): an OpenMetrics answer without # EOF", method, target, accept)
				}
			default:
				t.Fatalf("%s %q (Accept %q): /metrics answered %q", method, target, accept, ct)
			}
		}
		if strings.HasPrefix(ct, "application/json") && method == http.MethodGet && !json.Valid(out) {
			t.Fatalf("%s %q: invalid JSON: %s", method, target, out)
		}
	})
}

// fuzzMux returns the exporter's endpoints over the fast demo, once every
// job has run; the demo stops when the fuzz test ends.
func fuzzMux(f *testing.F) http.Handler { return fuzzMuxT(f) }

func fuzzMuxT(f testing.TB) http.Handler {
	f.Helper()
	logger := log.NewNopLogger()
	stop, load, err := startDemo(logger, false, true)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(stop)
	cfg, err := load()
	if err != nil {
		f.Fatal(err)
	}
	reg, metrics, err := collector.NewRegistry()
	if err != nil {
		f.Fatal(err)
	}
	store := collector.NewStore()
	sched := collector.NewScheduler(collector.SchedulerOpts{Logger: logger, Store: store, Metrics: metrics, NewClient: report.NewKoreClients().New,
		MaxStartSpread: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	f.Cleanup(func() { cancel(); sched.Stop() })
	rl := &reloader{logger: logger, source: "demo", sched: sched, metrics: metrics, load: load, ctx: ctx}
	if err := rl.apply(cfg); err != nil {
		f.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); !sched.Ready(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			f.Fatal("the demo's jobs did not run within 30s")
		}
	}
	fl := &flags{metricsPath: "/metrics", lifecycle: true, maxRequests: 40, writeTimeout: 10 * time.Second}
	mux, err := newMux(fl, store, reg, sched, rl, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	return mux
}

// gunzip decodes one gzip member.
func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}
