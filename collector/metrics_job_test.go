package collector

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

// trickyJobs returns self-metrics whose per-job label values and values
// exercise every escaping and number-formatting rule of both formats.
func trickyJobs(t testing.TB) *Metrics {
	t.Helper()
	m := NewMetrics()
	at := time.Unix(1777636800, 500_000_000)
	m.JobConfigured("support", "24h", 5*time.Minute, 15*time.Minute)
	m.JobConfigured("support", "24h", 10*time.Minute, 30*time.Minute) // reconfigured: the last wins
	m.RunStarted("support", "24h")
	m.RunEnded("support", "24h", RunOutcome{Result: report.ResultSuccess, Duration: 3500 * time.Millisecond, At: at, Rows: 12, Reruns: 2})
	m.RunStarted("support", "24h")
	m.RunEnded("support", "24h", RunOutcome{Result: report.ResultTimeout, Duration: 10 * time.Minute, At: at.Add(time.Minute), Rows: 0, Reruns: 0})
	m.JobConfigured(`we"ird\bot`+"\nx", "7d", 1500*time.Millisecond, 7*24*time.Hour+time.Nanosecond)
	m.RunStarted(`we"ird\bot`+"\nx", "7d")
	m.RunEnded(`we"ird\bot`+"\nx", "7d", RunOutcome{Result: report.ResultAPIError, Duration: 1234567 * time.Microsecond, At: at, Rows: 0, Reruns: 0})
	m.RunSkipped(`we"ird\bot`+"\nx", "7d")
	m.RunSkipped(`we"ird\bot`+"\nx", "7d")
	m.RunStarted("Ünïcödé ✈", "1h")
	m.RunEnded("Ünïcödé ✈", "1h", RunOutcome{Result: report.ResultSuccess, Duration: 0, At: time.Unix(0, 1), Rows: 1 << 53, Reruns: 1e6})
	m.RunSkipped("skipped-only", "1h") // never ran: only its skip counter
	m.RunStarted("running", "1h")      // counters at zero, a live progress series
	m.Progress("running", "1h", 10)
	// Not run yet: only its schedule.
	m.JobConfigured("configured-only", "1h", time.Minute, 3*time.Minute)
	m.JobConfigured("forgotten", "1h", time.Minute, 3*time.Minute)
	m.RunStarted("forgotten", "1h")
	m.RunEnded("forgotten", "1h", RunOutcome{Result: report.ResultSuccess, Duration: time.Second, At: at, Rows: 1, Reruns: 0})
	m.Forget("forgotten", "1h")
	return m
}

// expfmtJobs returns what expfmt makes of m's families.
func expfmtJobs(t testing.TB, m *Metrics, f expfmt.Format) []byte {
	t.Helper()
	return expfmtCollect(t, m, f)
}

// checkContiguous checks that HELP and TYPE come once per family, before
// its samples, with no other family's lines in between, and returns the
// families' names. In OpenMetrics a counter family is named without
// _total and its samples with it.
func checkContiguous(t *testing.T, block []byte) []string {
	t.Helper()
	var names []string
	current := ""
	for _, line := range strings.Split(strings.TrimSuffix(string(block), "\n"), "\n") {
		if name, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, _, _ = strings.Cut(name, " ")
			if slices.Contains(names, name) {
				t.Fatalf("family %s starts twice", name)
			}
			names, current = append(names, name), name
			continue
		}
		if strings.HasPrefix(line, "# TYPE ") || line == "# EOF" {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		if name != current && name != current+"_total" {
			t.Fatalf("sample of %s inside family %s", name, current)
		}
	}
	return names
}

// TestSelfBlockMatchesExpfmt proves the self-metrics block is what expfmt
// makes of the same values: the same lines byte for byte (HELP, TYPE and
// every sample; only the order of samples within a family may differ),
// families contiguous, and a compressed block that decodes to the plain
// block.
func TestSelfBlockMatchesExpfmt(t *testing.T) {
	t.Parallel()
	m := trickyJobs(t)
	for _, ff := range []struct {
		f    format
		want expfmt.Format
	}{
		{fmtText, expfmt.FmtText},
		{fmtOpenMetrics, expfmt.FmtOpenMetrics_1_0_0},
	} {
		b, err := m.block(ff.f)
		if err != nil {
			t.Fatal(err)
		}
		got := plainBytes(b)
		want := expfmtJobs(t, m, ff.want)
		if ff.f == fmtOpenMetrics {
			got = append(got, "# EOF\n"...)
		}
		if g, w := sortedLines(got), sortedLines(want); !slices.Equal(g, w) {
			t.Errorf("format %d: lines differ:\n--- got\n%s\n--- want\n%s", ff.f, strings.Join(g, "\n"), strings.Join(w, "\n"))
		}
		if names, want := checkContiguous(t, got), checkContiguous(t, want); !slices.Equal(names, want) {
			t.Errorf("format %d: families %v, want %v", ff.f, names, want)
		}
		equalFamilies(t, decodeAll(t, got, ff.want), decodeAll(t, want, ff.want))
		if bytes.Contains(got, []byte("forgotten")) {
			t.Errorf("format %d: forgotten job in the block", ff.f)
		}

		plain := gunzipPieces(t, b.Compressed(), b.CRC(), b.Size())
		if !bytes.Equal(plain, plainBytes(b)) || int64(len(plain)) != b.Size() {
			t.Errorf("format %d: compressed pieces do not decode to the plain block", ff.f)
		}
	}

	// A forgotten last job leaves no line, not even a family's header.
	empty := newTestMetrics(t)
	empty.RunSkipped("a", "1h")
	empty.Forget("a", "1h")
	for f := range format(numFormats) {
		b, err := empty.block(f)
		if err != nil {
			t.Fatal(err)
		}
		if plain := plainBytes(b); bytes.Contains(plain, []byte("window=")) || bytes.Contains(plain, []byte("report_")) {
			t.Errorf("format %d: no jobs but job lines:\n%s", f, plain)
		}
	}
}

// TestHandlerNoDuplicateFamilies scrapes everything /metrics serves in
// main (NewRegistry's live registry, the pre-encoded data and per-job
// self-metrics) and checks no family appears twice and every per-job
// family appears, in both formats, plain and gzipped.
func TestHandlerNoDuplicateFamilies(t *testing.T) {
	t.Parallel()
	reg, m, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	m.JobConfigured("support", "24h", 5*time.Minute, 15*time.Minute)
	m.RunStarted("support", "24h")
	m.RunEnded("support", "24h", RunOutcome{Result: report.ResultSuccess, Duration: time.Second, At: t0, Rows: 5, Reruns: 1})
	m.RunSkipped("support", "24h")
	m.RunStarted("support", "1h")
	m.Progress("support", "1h", 50)
	m.Observer("support").RequestDone("st-1", kore.EndpointSubmit, 200, time.Second)
	m.Observer("support").Retry("st-1", kore.EndpointSubmit, "network")
	m.ConfigReloaded(true, t0)
	s := trickyStore(t)
	for _, opts := range []HandlerOpts{{Metrics: m}} {
		h := NewHandler(s, reg, opts)
		for _, accept := range []string{acceptText, acceptPrometheus} {
			for _, enc := range []string{"", "gzip"} {
				rec, body := scrape(t, h, http.MethodGet, accept, enc)
				if rec.Code != http.StatusOK {
					t.Fatalf("status %d: %s", rec.Code, body)
				}
				// Keyed by name and type: in OpenMetrics the Go collector's
				// go_memstats_alloc_bytes gauge and the family of its
				// go_memstats_alloc_bytes_total counter share a name.
				types, seen := map[string]int{}, map[string]bool{}
				for _, line := range strings.Split(string(body), "\n") {
					if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
						if seen[rest] {
							t.Errorf("%s %q: family %s appears twice", accept, enc, rest)
						}
						seen[rest] = true
						name, _, _ := strings.Cut(rest, " ")
						types[name]++
					}
				}
				om := strings.HasPrefix(rec.Header().Get("Content-Type"), "application/openmetrics-text")
				for _, name := range m.names {
					if om {
						name = strings.TrimSuffix(name, "_total")
					}
					if types[name] != 1 {
						t.Errorf("%s %q: family %s missing", accept, enc, name)
					}
				}
				if types["kore_exporter_report_job_progress_ratio"] != 1 || types["kore_exporter_api_requests"+map[bool]string{true: "", false: "_total"}[om]] != 1 {
					t.Errorf("live self-metrics missing: %v", types)
				}
				if !om {
					decodeAll(t, body, expfmt.FmtText) // refuses a repeated family
				}
			}
		}
	}
}

// TestJobMetricsConcurrent updates different jobs from several goroutines
// while others scrape (run it with -race): every scrape parses and shows
// every job whole, never half of one update.
func TestJobMetricsConcurrent(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	h := NewHandler(NewStore(), nil, HandlerOpts{Metrics: m})
	const writers, rounds = 4, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			bot := fmt.Sprintf("bot%d", w)
			for r := range rounds {
				if r%10 == 5 {
					m.Forget(bot, "1h") // starts over: the invariants hold anew
				}
				if r%3 == 0 { // a reload that changes the schedule
					m.JobConfigured(bot, "1h", time.Duration(r+1)*time.Minute, time.Duration(3*(r+1))*time.Minute)
				}
				m.RunStarted(bot, "1h")
				m.RunEnded(bot, "1h", RunOutcome{Result: report.ResultSuccess, Duration: time.Duration(r) * time.Second, At: t0, Rows: r, Reruns: 1})
				m.RunSkipped(bot, "1h")
			}
		})
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for i := range 3 {
		readers.Go(func() {
			accept := []string{acceptText, acceptPrometheus}[i%2]
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, body, err := scrapeErr(h, http.MethodGet, accept, "gzip")
				if err != nil {
					t.Error(err)
					return
				}
				if err := checkJobInvariants(body); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()

	_, body := scrape(t, h, http.MethodGet, acceptText, "")
	if err := checkJobInvariants(body); err != nil {
		t.Fatal(err)
	}
	for w := range writers {
		// Forgotten at round 45, then rounds 45..49: 5 runs, and the
		// schedule of round 48.
		for _, want := range []string{
			fmt.Sprintf(`kore_exporter_report_runs_total{bot="bot%d",result="success",window="1h"} 5`, w),
			fmt.Sprintf(`kore_exporter_report_interval_seconds{bot="bot%d",window="1h"} 2940`, w),
			fmt.Sprintf(`kore_exporter_report_stale_after_seconds{bot="bot%d",window="1h"} 8820`, w),
		} {
			if !bytes.Contains(body, []byte(want+"\n")) {
				t.Errorf("final exposition lacks %s", want)
			}
		}
	}
}

// checkJobInvariants checks what TestJobMetricsConcurrent's writers keep
// true after every update of a job: runs = reruns and rows = duration
// in seconds (RunEnded sets them together), skipped is runs or, after
// a RunEnded and before its RunSkipped, one less, and stale_after is
// 3 × interval, or both are absent (JobConfigured sets them together).
func checkJobInvariants(body []byte) error {
	values := map[string]map[string]string{} // bot → family → value
	for _, line := range strings.Split(string(body), "\n") {
		name, rest, ok := strings.Cut(line, `{bot="`)
		// The progress ratio is live, gathered apart from the pre-encoded
		// job block, so it is not part of one update's atomic unit.
		if !ok || !strings.HasPrefix(name, "kore_exporter_report_") || name == "kore_exporter_report_job_progress_ratio" {
			continue
		}
		bot, rest, _ := strings.Cut(rest, `"`)
		_, v, _ := strings.Cut(rest, "} ")
		v = strings.TrimSuffix(v, ".0")
		if values[bot] == nil {
			values[bot] = map[string]string{}
		}
		values[bot][name] = v
	}
	for bot, v := range values {
		interval, hasInterval := v["kore_exporter_report_interval_seconds"]
		staleAfter, hasStaleAfter := v["kore_exporter_report_stale_after_seconds"]
		if hasInterval != hasStaleAfter {
			return fmt.Errorf("torn schedule of job %s: %v", bot, v)
		}
		if hasInterval {
			i, err1 := strconv.ParseFloat(interval, 64)
			s, err2 := strconv.ParseFloat(staleAfter, 64)
			if err1 != nil || err2 != nil || i <= 0 || s != 3*i {
				return fmt.Errorf("torn schedule of job %s: %v", bot, v)
			}
			if len(v) == 2 {
				continue // configured again after Forget, before its RunStarted
			}
		}
		runs, err1 := strconv.Atoi(v["kore_exporter_report_runs_total"])
		skipped, err2 := strconv.Atoi(v["kore_exporter_report_skipped_runs_total"])
		if err1 != nil || err2 != nil || (skipped != runs && skipped != runs-1) ||
			v["kore_exporter_report_reruns_total"] != v["kore_exporter_report_runs_total"] ||
			v["kore_exporter_report_rows"] != v["kore_exporter_report_duration_seconds"] {
			return fmt.Errorf("torn job %s: %v", bot, v)
		}
	}
	return nil
}
