package collector

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

// The fleet of the sizing question: bots × windows 1h and 24h × 20 tasks ×
// 2 statuses × 5 metrics; 1,000 bots make 400,000 data series (2,000
// reports), 250 bots 100,000.
var fleetWindows = []string{"1h", "24h"}

const fleetTasks = 20

// fleetShape is how a fleet's task names vary: fleetSame gives every bot
// the same 20 task names (a fleet of copies of one bot, the common case:
// the same names lie a few KB apart in the body, in the neighbouring
// window's and bot's lines), fleetDistinct every bot names of its own.
type fleetShape string

const (
	fleetSame     fleetShape = "same"
	fleetDistinct fleetShape = "distinct"
)

var fleetShapes = []fleetShape{fleetSame, fleetDistinct}

// fleetTaskNames are the tasks of every bot of fleetSame.
var fleetTaskNames = []string{"Book Flight", "Cancel Booking", "Check Flight Status", "Change Seat", "Baggage Allowance",
	"Reset Password", "Update Profile", "Talk to Agent", "Refund Request", "Loyalty Points Balance",
	"Find Nearest Airport", "Special Assistance", "Pet Travel Policy", "Upgrade Cabin", "Add Extra Baggage",
	"Travel Insurance", "Visa Requirements", "Lost and Found", "Meal Preferences", "Give Feedback"}

// fleetWords make up the task names of fleetDistinct.
var fleetWords = strings.Fields("account order payment card balance invoice delivery return refund address " +
	"profile password login store hours loan claim policy quote appointment schedule ticket booking flight " +
	"hotel room car rental upgrade cancel change check update report lost stolen block unblock activate " +
	"transfer limit statement branch atm fee rate plan bill usage roaming device repair warranty pickup " +
	"track status gift voucher points reward subscription renew trial demo agent human feedback complaint survey")

// fleetNames returns the task names of bot b of a fleet of shape.
func fleetNames(shape fleetShape, b int) []string {
	if shape == fleetSame {
		return fleetTaskNames
	}
	r := rand.New(rand.NewPCG(uint64(b), 99))
	names := make([]string, fleetTasks)
	for i := range names {
		words := make([]string, 2+r.IntN(3))
		for w := range words {
			words[w] = fleetWords[r.IntN(len(fleetWords))]
		}
		names[i] = fmt.Sprintf("%s %d", strings.Join(words, " "), r.IntN(100))
	}
	return names
}

// fleetRows returns a report of bot b of a fleet of shape: every task ×
// success and failtask, with counts drawn from seed.
func fleetRows(shape fleetShape, b int, seed uint64) []kore.TaskRow {
	rows := syntheticRows(fleetTasks, seed)
	for i := range rows {
		rows[i].TaskName = fleetNames(shape, b)[i/2]
	}
	return rows
}

// fleetStore returns the data of a fleet of bots.
func fleetStore(tb testing.TB, bots int, shape fleetShape) *Store {
	tb.Helper()
	s := NewStore()
	infos := make([]BotInfo, bots)
	for b := range bots {
		infos[b] = BotInfo{Name: fmt.Sprintf("bot-%04d", b), BotID: fmt.Sprintf("st-%08x", b), Host: "https://platform.kore.ai"}
		for w, win := range fleetWindows {
			if _, err := s.Publish(infos[b].Name, win, fleetRows(shape, b, uint64(b*2+w)), t0, time.Time{}); err != nil {
				tb.Fatal(err)
			}
		}
	}
	s.SetBots(infos)
	return s
}

// fleetSelf returns the self-metrics of a fleet of bots: every job has run
// and every bot has called the API (two request series each); the Go and
// process collectors are left out of the registry, as in benchSelf.
func fleetSelf(tb testing.TB, bots int) (*prometheus.Registry, *Metrics) {
	tb.Helper()
	reg := prometheus.NewRegistry()
	m := NewMetrics()
	for i := range bots {
		bot := fmt.Sprintf("bot-%04d", i)
		for _, w := range fleetWindows {
			m.RunStarted(bot, w)
			m.RunEnded(bot, w, RunOutcome{Result: report.ResultSuccess, Duration: 42 * time.Second, At: t0, Rows: 2 * fleetTasks})
		}
		obs := m.Observer(bot)
		obs.RequestDone(bot, kore.EndpointSubmit, 200, time.Second)
		obs.RequestDone(bot, kore.EndpointStatus, 200, 100*time.Millisecond)
	}
	m.ConfigReloaded(true, t0)
	return reg, m
}

// fleetScrapers is the number of concurrent scrapers of BenchmarkScrapeFleet.
const fleetScrapers = 8

// BenchmarkScrapeFleet serves /metrics of the fleet (100,000 and 400,000
// data series, with the fleet's self-metrics; both shapes of task names)
// to 8 concurrent scrapers, in OpenMetrics as Prometheus negotiates it,
// plain and gzipped:
//   - preencoded_limit: a handler writing one []byte holding the
//     exporter's plain answer, gzipped as a whole (compress/gzip, default
//     level) for the gzip case;
//   - exporter: NewHandler. It reports its time over the limit's, run just
//     before it (x-limit), and with gzip its body's size over the limit's
//     (the same text compressed whole) as gzip-bytes/whole-gzip-bytes.
func BenchmarkScrapeFleet(b *testing.B) {
	for _, bots := range []int{250, 1000} {
		for _, shape := range fleetShapes {
			store := fleetStore(b, bots, shape)
			self, m := fleetSelf(b, bots)
			exporter := NewHandler(store, self, HandlerOpts{Metrics: m})
			for _, enc := range []string{"plain", "gzip"} {
				req := benchRequest(enc)
				limit := newPreencoded(b, exporter, req, enc == "gzip")
				var limitNs float64
				for _, impl := range []struct {
					name string
					h    http.Handler
				}{
					{"preencoded_limit", limit},
					{"exporter", exporter},
				} {
					name := fmt.Sprintf("%s_%dk_%s/%s", impl.name, bots*len(fleetWindows)*fleetTasks*2*numTaskFamilies/1000, shape, enc)
					b.Run(name, func(b *testing.B) {
						b.SetParallelism((fleetScrapers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
						b.ReportAllocs()
						var n atomic.Int64
						b.RunParallel(func(pb *testing.PB) {
							w := newDiscardResponse()
							for pb.Next() {
								w.reset()
								impl.h.ServeHTTP(w, req)
								if w.code != 0 && w.code != http.StatusOK {
									panic(fmt.Sprintf("status %d", w.code))
								}
							}
							if w.n > 0 {
								n.Store(w.n)
							}
						})
						ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
						b.ReportMetric(float64(n.Load()), "resp_bytes")
						if impl.h == limit {
							limitNs = ns
							return
						}
						b.ReportMetric(ns/limitNs, "x-limit")
						if enc == "gzip" {
							b.ReportMetric(float64(n.Load())/float64(len(limit.body)), "gzip-bytes/whole-gzip-bytes")
						}
					})
				}
			}
		}
	}
}

// BenchmarkMemoryPerSeries reports the heap the fleet of 1,000 bots
// (400,000 data series) holds once every format and encoding has been
// scraped: heap in use after a GC, less the same before building it,
// per exported series; and the peak resident set of the process (Linux
// only), which is the exporter's with the default GOGC when the benchmark
// runs alone (-bench MemoryPerSeries).
func BenchmarkMemoryPerSeries(b *testing.B) {
	var held uint64
	var series int
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := fleetStore(b, 1000, fleetSame)
		h := NewHandler(s, nil, HandlerOpts{})
		for _, accept := range []string{acceptText, acceptPrometheus} {
			for _, enc := range []string{"", "gzip"} {
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				req.Header.Set("Accept", accept)
				req.Header.Set("Accept-Encoding", enc)
				h.ServeHTTP(newDiscardResponse(), req)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		series = s.Load().Series()
		held = after.HeapInuse - before.HeapInuse
		runtime.KeepAlive(s)
		runtime.KeepAlive(h)
	}
	b.ReportMetric(float64(held)/float64(series), "B/series")
	b.ReportMetric(float64(held)/(1<<20), "MiB_held")
	if kb, ok := peakRSS(); ok {
		b.ReportMetric(float64(kb)/(1<<10), "MiB_peak_rss")
	}
}

// peakRSS returns the process's peak resident set size in KiB (VmHWM), if
// the system tells it.
func peakRSS() (int64, bool) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}

// fleetJob returns the bot and window of the i-th job of a fleet of bots,
// round and round.
func fleetJob(i, bots int) (bot, window string) {
	job := i % (bots * len(fleetWindows))
	return fmt.Sprintf("bot-%04d", job/len(fleetWindows)), fleetWindows[job%len(fleetWindows)]
}

// BenchmarkPublishFleet publishes the next report of the fleet's jobs in
// turn, as a fleet of 1,000 bots × 2 windows does 2,000 times a minute at
// interval 1m, into the 400,000-series store (every bot the same task
// names): encoding, compressing its pieces and its successors', and laying
// the snapshot out.
func BenchmarkPublishFleet(b *testing.B) {
	const bots = 1000
	store := fleetStore(b, bots, fleetSame)
	rows := make([][]kore.TaskRow, 8)
	for i := range rows {
		rows[i] = fleetRows(fleetSame, 0, uint64(1000+i))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		bot, win := fleetJob(i, bots)
		if _, err := store.Publish(bot, win, rows[i%len(rows)], t0, time.Time{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkScrapeFleetChanged scrapes the 400,000-series fleet, one
// scraper, after the changes that come between two scrapes in production:
// a report published, a run started and its progress reported, an API
// call. So every scrape finds new data and self-metric blocks, and pays
// what the first scrape after a change pays (joining the compressed data
// block, encoding the self-metrics block); the changes themselves are
// not timed.
func BenchmarkScrapeFleetChanged(b *testing.B) {
	const bots = 1000
	store := fleetStore(b, bots, fleetSame)
	self, m := fleetSelf(b, bots)
	h := NewHandler(store, self, HandlerOpts{Metrics: m})
	rows := fleetRows(fleetSame, 0, 4242)
	for _, enc := range []string{"plain", "gzip"} {
		req := benchRequest(enc)
		b.Run(enc, func(b *testing.B) {
			w := newDiscardResponse()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				b.StopTimer()
				bot, win := fleetJob(i, bots)
				if _, err := store.Publish(bot, win, rows, t0, time.Time{}); err != nil {
					b.Fatal(err)
				}
				m.RunStarted(bot, win)
				m.Progress(bot, win, 50)
				m.Observer(bot).RequestDone(bot, kore.EndpointStatus, 200, time.Second)
				i++
				w.reset()
				b.StartTimer()
				h.ServeHTTP(w, req)
			}
			if w.code != 0 && w.code != http.StatusOK {
				b.Fatalf("status %d", w.code)
			}
		})
	}
}

// BenchmarkSelfBlockRebuild measures what the first scrape after a change
// of a self-metric pays for the self-metrics of the fleet of 1,000 bots
// (2,000 jobs): gathering them from the registry and encoding the block
// with expfmt in the scrape's format, and, with gzip, compressing it.
func BenchmarkSelfBlockRebuild(b *testing.B) {
	const bots = 1000
	_, m := fleetSelf(b, bots)
	for _, tc := range []struct {
		name string
		f    format
		gz   bool
	}{{"text", fmtText, false}, {"openmetrics", fmtOpenMetrics, false}, {"openmetrics_gzip", fmtOpenMetrics, true}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			var size int64
			for b.Loop() {
				bot, win := fleetJob(i, bots)
				m.Progress(bot, win, i%100)
				i++
				body, err := m.block(tc.f)
				if err != nil {
					b.Fatal(err)
				}
				if tc.gz {
					body.Compressed()
				}
				size = body.Size()
			}
			b.ReportMetric(float64(size), "block_bytes")
		})
	}
}
