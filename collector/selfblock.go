package collector

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/kore-exporter/kore_exporter/collector/internal/expo"
)

// The self-metrics that are not per job (API requests, retries and
// latency; run progress, reloads, shard, job slots; build info) would be
// gathered, sorted, encoded and compressed by client_golang on every
// scrape: about 2.6 ms of CPU per scrape for the 2,000 API counter series
// of 1,000 bots, and about 0.045 ms for the others, which was most of a
// gzip scrape of 100,000 data series (BenchmarkScrapeFleet). They change
// at any moment, some on every API call, so they cannot be encoded when
// they change the way the per-job families are; instead every change
// bumps a generation, and a scrape that finds the cached encoding older
// than the generation rebuilds it, once for every scrape waiting on it.
// Scrapes between two changes, and concurrent scrapes, share one encoding,
// compressed once. The Metrics keep two such blocks, so that an API call
// does not re-encode the other block, nor a progress report the API
// counters.

// selfBlock caches the exposition of a few self-metric collectors, per
// format.
type selfBlock struct {
	reg *prometheus.Registry // the block's collectors only
	gen atomic.Uint64        // bumped after every change of a metric

	mu  sync.Mutex // serialises rebuilds; readers of a fresh block never take it
	cur [expo.NumFormats]atomic.Pointer[selfEncoding]
}

// selfEncoding is a selfBlock's exposition in one format at one
// generation.
type selfEncoding struct {
	gen uint64
	b   *expo.Body
}

func newSelfBlock(cs ...prometheus.Collector) *selfBlock {
	a := &selfBlock{reg: prometheus.NewRegistry()}
	a.reg.MustRegister(cs...)
	return a
}

// changed records a change of a metric; call it after the change.
func (a *selfBlock) changed() { a.gen.Add(1) }

// block returns the block in format f, encoded after the last change at
// the latest.
func (a *selfBlock) block(f expo.Format) (*expo.Body, error) {
	if e := a.cur[f].Load(); e != nil && e.gen == a.gen.Load() {
		return e.b, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// Changes made after this load bump the generation again, so the
	// next scrape sees them.
	gen := a.gen.Load()
	if e := a.cur[f].Load(); e != nil && e.gen == gen {
		return e.b, nil
	}
	mfs, err := a.reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather self-metrics: %w", err)
	}
	var raw bytes.Buffer
	for _, mf := range mfs {
		if f == expo.OpenMetrics {
			_, err = expfmt.MetricFamilyToOpenMetrics(&raw, mf)
		} else {
			_, err = expfmt.MetricFamilyToText(&raw, mf)
		}
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", mf.GetName(), err)
		}
	}
	e := &selfEncoding{gen: gen, b: expo.BodyOf(raw.Bytes())}
	a.cur[f].Store(e)
	return e.b, nil
}
