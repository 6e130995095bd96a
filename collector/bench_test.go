package collector

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

// The benchmark deployment: 50 bots × 2 windows × 100 tasks × 2 statuses ×
// 5 metrics = 100,000 data series (plus 50 kore_bot_info); 10 tasks make
// 10,000.
const benchBots = 50

// benchSelf returns self-metrics as a deployment of benchBots bots would
// have them: every job has run, every bot has called the API. The Metrics
// hold them all (build_info too); the registry is what /metrics gathers
// live, in production the Go and process collectors, left out here: their
// values change under the benchmark's feet and they cost the same to every
// contender.
func benchSelf(b *testing.B) (*prometheus.Registry, *Metrics) {
	b.Helper()
	reg := prometheus.NewRegistry()
	m := NewMetrics()
	for i := range benchBots {
		bot := fmt.Sprintf("bot-%02d", i)
		for _, w := range []string{"24h", "7d"} {
			m.RunStarted(bot, w)
			m.RunEnded(bot, w, RunOutcome{Result: report.ResultSuccess, Duration: 42 * time.Second, At: t0, Rows: 200, Reruns: 0})
		}
		obs := m.Observer(bot)
		obs.RequestDone(bot, kore.EndpointSubmit, 200, time.Second)
		obs.RequestDone(bot, kore.EndpointStatus, 200, 100*time.Millisecond)
	}
	m.ConfigReloaded(true, t0)
	return reg, m
}

// gaugeVecRegistry returns the baseline: a registry of GaugeVecs holding
// the store's series, as a conventional exporter would keep them.
func gaugeVecRegistry(s *Store) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	sn := s.Load()
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: dataFamilies[famBotInfo].Name, Help: dataFamilies[famBotInfo].Help}, []string{"bot", "bot_id", "host"})
	reg.MustRegister(info)
	for _, bi := range sn.Bots() {
		info.WithLabelValues(bi.Name, bi.BotID, bi.Host).Set(1)
	}
	for i := range numTaskFamilies {
		spec := dataFamilies[firstTaskFamily+i]
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: spec.Name, Help: spec.Help}, taskLabels)
		reg.MustRegister(v)
		for _, p := range sn.Parts() {
			for r := range p.Rows {
				row := &p.Rows[r]
				v.WithLabelValues(p.Bot, p.Window, row.TaskName, row.TaskType, row.Status).Set(float64(taskValue(firstTaskFamily+i, row)))
			}
		}
	}
	return reg
}

// preencoded is the lower bound: a handler writing a complete response
// that was encoded (and compressed) before the benchmark.
type preencoded struct {
	contentType, encoding, length string
	body                          []byte
}

func (p *preencoded) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", p.contentType)
	if p.encoding != "" {
		h.Set("Content-Encoding", p.encoding)
	}
	h.Set("Content-Length", p.length)
	_, _ = w.Write(p.body)
}

// newPreencoded captures h's plain answer to req, gzipped if gz.
func newPreencoded(b *testing.B, h http.Handler, req *http.Request, gz bool) *preencoded {
	b.Helper()
	plain := req.Clone(req.Context())
	plain.Header.Del("Accept-Encoding")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, plain)
	p := &preencoded{contentType: rec.Header().Get("Content-Type"), body: rec.Body.Bytes()}
	if gz {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(p.body)
		_ = zw.Close()
		p.body, p.encoding = buf.Bytes(), "gzip"
	}
	p.length = strconv.Itoa(len(p.body))
	return p
}

// BenchmarkScrape serves /metrics for 100,000 (and 10,000) data series in
// OpenMetrics, as Prometheus negotiates it, plain and gzipped:
//   - exporter: NewHandler (pre-encoded data, the cached self-metrics block,
//     the Go and process metrics live);
//   - gaugevec_promhttp: the same series in GaugeVecs behind
//     promhttp.HandlerFor, with the same self-metrics gathered live;
//   - preencoded_limit: writing the whole response, encoded and
//     compressed beforehand;
//   - exporter_dataonly and preencoded_limit_dataonly: the same two
//     without self-metrics, to show the data path's own overhead.
//
// The ResponseWriter copies every byte once into a scratch buffer, as a
// socket write would, and keeps none.
func BenchmarkScrape(b *testing.B) {
	self, m := benchSelf(b)
	jobs := prometheus.NewRegistry()
	jobs.MustRegister(m)
	for _, size := range []struct {
		suffix string
		tasks  int
	}{{"", 100}, {"_10k", 10}} {
		store := bigStore(b, benchBots, size.tasks)
		if got, want := store.Load().Series(), benchBots*2*size.tasks*2*numTaskFamilies+benchBots; got != want {
			b.Fatalf("%d series, want %d", got, want)
		}
		exporter := NewHandler(store, self, HandlerOpts{Metrics: m})
		dataOnly := NewHandler(store, nil, HandlerOpts{})
		baseline := promhttp.HandlerFor(prometheus.Gatherers{gaugeVecRegistry(store), self, jobs}, promhttp.HandlerOpts{EnableOpenMetrics: true})
		for _, enc := range []string{"plain", "gzip"} {
			req := benchRequest(enc)
			limit := newPreencoded(b, exporter, req, enc == "gzip")
			limitData := newPreencoded(b, dataOnly, req, enc == "gzip")
			for _, impl := range []struct {
				name string
				h    http.Handler
			}{
				{"exporter", exporter},
				{"gaugevec_promhttp", baseline},
				{"preencoded_limit", limit},
				{"exporter_dataonly", dataOnly},
				{"preencoded_limit_dataonly", limitData},
			} {
				b.Run(impl.name+size.suffix+"/"+enc, func(b *testing.B) {
					w := newDiscardResponse()
					b.ReportAllocs()
					for b.Loop() {
						w.reset()
						impl.h.ServeHTTP(w, req)
					}
					if w.code != 0 && w.code != http.StatusOK {
						b.Fatalf("status %d", w.code)
					}
					b.ReportMetric(float64(w.n), "resp_bytes")
				})
			}
		}
	}
}

// BenchmarkPublish publishes one job's report (100 tasks × 2 statuses) into
// a store holding the other 99 jobs of the benchmark deployment: merging,
// pre-encoding (once, for both formats), compressing, and swapping the
// snapshot.
func BenchmarkPublish(b *testing.B) {
	store := bigStore(b, benchBots, 100)
	rows := syntheticRows(100, 7)
	b.ReportAllocs()
	for b.Loop() {
		store.Publish("bot-00", "24h", rows, t0, time.Time{})
	}
}

// BenchmarkMemoryPerRow reports the heap a 100,000-series snapshot holds,
// per row (one task × status of one job: five series) and per series.
func BenchmarkMemoryPerRow(b *testing.B) {
	var held uint64
	var rows, series int
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := bigStore(b, benchBots, 100)
		runtime.GC()
		runtime.ReadMemStats(&after)
		sn := s.Load()
		series = sn.Series()
		rows = 0
		for _, p := range sn.Parts() {
			rows += len(p.Rows)
		}
		held = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(s)
	}
	b.ReportMetric(float64(held)/float64(rows), "B/row")
	b.ReportMetric(float64(held)/float64(series), "B/series")
	b.ReportMetric(float64(held)/(1<<20), "MiB_held")
}

// benchRequest is a scrape as Prometheus sends it, with gzip when enc is
// "gzip".
func benchRequest(enc string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", acceptPrometheus)
	if enc == "gzip" {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	return req
}
