package collector

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// wiredStatus is /status as the exporter serves it (newMux): bounded by
// the default --web.max-requests and the sized write deadline.
func wiredStatus(s *Scheduler) http.Handler {
	return Bound(StatusHandler(s, "/metrics"), EndpointOpts{Name: "status", MaxRequestsInFlight: 40, MaxRequestsPerAddress: PerAddressShare(40)})
}

// settleWriter reports, once, when its request's answer begins to be
// written (it may then block on a client that does not read).
type settleWriter struct {
	http.ResponseWriter
	once    *sync.Once
	settled chan<- struct{}
}

func (w settleWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { w.settled <- struct{}{} })
	return w.ResponseWriter.Write(p)
}

func (w settleWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// memSample is the heap in use after a garbage collection and the
// process's resident set.
type memSample struct{ heap, rss uint64 }

func sampleMemory(b *testing.B) memSample {
	b.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status for the resident set: %v", err)
	}
	var rss uint64
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("VmRSS %q: %v", v, err)
			}
			rss = kb << 10
		}
	}
	return memSample{ms.HeapAlloc, rss}
}

func mb(n uint64, base uint64) float64 { return (float64(n) - float64(base)) / (1 << 20) }

// BenchmarkStatusNonReaders: 200 clients ask for the JSON of /status at
// 15,000 jobs and never read it, from one address or from 200. It
// reports the heap (live, after a collection) and the resident set the
// stuck answers hold, and what is left once the clients are gone, as
// growth over the same process's baseline before they came:
//
//	go test -run '^$' -bench StatusNonReaders -benchtime 1x ./collector/
func BenchmarkStatusNonReaders(b *testing.B) {
	const (
		jobs    = 15000
		clients = 200
	)
	for _, tc := range []struct {
		name string
		ip   func(i int) string
	}{
		{"one-address", func(int) string { return "127.0.0.2" }},
		{"200-addresses", func(i int) string { return fmt.Sprintf("127.0.1.%d", i+1) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := schedulerWithJobs(jobs)
			settled, returned := make(chan struct{}, clients), make(chan struct{}, clients)
			status := wiredStatus(s)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var once sync.Once
				status.ServeHTTP(settleWriter{w, &once, settled}, r)
				once.Do(func() { settled <- struct{}{} })
				returned <- struct{}{}
			}))
			defer srv.Close()
			dialers := make([]*net.Dialer, clients)
			for i := range dialers {
				dialers[i] = loopbackDialer(b, tc.ip(i))
			}
			var held, left memSample
			for b.Loop() {
				base := sampleMemory(b)
				ctx, cancel := context.WithTimeout(b.Context(), time.Minute)
				conns := make([]net.Conn, 0, clients)
				for i := range clients {
					c, err := dialers[i].DialContext(ctx, "tcp", srv.Listener.Addr().String())
					if err != nil {
						b.Fatal(err)
					}
					conns = append(conns, c)
					if err := c.(*net.TCPConn).SetReadBuffer(4 << 10); err != nil {
						b.Fatal(err)
					}
					if _, err := fmt.Fprintf(c, "GET /status?format=json HTTP/1.1\r\nHost: exporter\r\n\r\n"); err != nil {
						b.Fatal(err)
					}
				}
				for range clients { // every answer stuck or done
					select {
					case <-settled:
					case <-ctx.Done():
						b.Fatal("the answers did not begin within a minute")
					}
				}
				held = sampleMemory(b)
				codes := map[int]int{}
				for _, c := range conns {
					// The status line only: what a bufio.Reader takes in.
					_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
					if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
						codes[resp.StatusCode]++
					} else {
						codes[0]++ // no answer
					}
					c.Close()
				}
				for range clients {
					select {
					case <-returned:
					case <-ctx.Done():
						b.Fatal("the handlers did not return within a minute of their clients' close")
					}
				}
				cancel()
				left = sampleMemory(b)
				b.Logf("%d clients: answers %v; heap %.1f MB and RSS %.1f MB before; held while stuck: heap +%.1f MB, RSS +%.1f MB; after the clients closed: heap %+.1f MB, RSS %+.1f MB",
					clients, codes, mb(base.heap, 0), mb(base.rss, 0), mb(held.heap, base.heap), mb(held.rss, base.rss), mb(left.heap, base.heap), mb(left.rss, base.rss))
				b.ReportMetric(mb(held.heap, base.heap), "heap-MB-held")
				b.ReportMetric(mb(held.rss, base.rss), "rss-MB-held")
				b.ReportMetric(mb(left.rss, base.rss), "rss-MB-left")
			}
		})
	}
}
