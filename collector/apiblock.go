package collector

import (
	"bytes"
	"compress/flate"
	"fmt"
	"hash/crc32"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// The per-bot API counters (kore_exporter_api_requests_total and
// api_retries_total) are a few series per bot: about 2,000 for 1,000 bots,
// which client_golang would gather, sort and encode on every scrape (about
// 2.6 ms of CPU per scrape at that size, most of a gzip scrape's cost;
// BenchmarkScrapeFleet). They change on every API call, so they cannot be
// encoded when they change the way the per-job families are; instead every
// change bumps a generation, and a scrape that finds the cached encoding
// older than the generation rebuilds it, once for every scrape waiting on
// it. Scrapes between two API calls, and concurrent scrapes, share one
// encoding, compressed once.

// The names of the API counter families.
const (
	apiRequestsName = namespace + "_api_requests_total"
	apiRetriesName  = namespace + "_api_retries_total"
)

// apiBlock caches the exposition of the API counter families, per format.
type apiBlock struct {
	reg *prometheus.Registry // the API counter vectors only
	gen atomic.Uint64        // bumped after every change of a counter

	mu  sync.Mutex // serialises rebuilds; readers of a fresh block never take it
	cur [numFormats]atomic.Pointer[apiEncoding]
}

// apiEncoding is the API counter block of one format at one generation.
type apiEncoding struct {
	gen uint64
	b   body
}

func newAPIBlock(cs ...prometheus.Collector) *apiBlock {
	a := &apiBlock{reg: prometheus.NewRegistry()}
	a.reg.MustRegister(cs...)
	return a
}

// changed records a change of a counter; call it after the change.
func (a *apiBlock) changed() { a.gen.Add(1) }

// block returns the API counter block in format f, encoded after the last
// change at the latest.
func (a *apiBlock) block(f format) (*body, error) {
	if e := a.cur[f].Load(); e != nil && e.gen == a.gen.Load() {
		return &e.b, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// Changes made after this load bump the generation again, so the
	// next scrape sees them.
	gen := a.gen.Load()
	if e := a.cur[f].Load(); e != nil && e.gen == gen {
		return &e.b, nil
	}
	mfs, err := a.reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather API counters: %w", err)
	}
	var raw bytes.Buffer
	for _, mf := range mfs {
		if f == fmtOpenMetrics {
			_, err = expfmt.MetricFamilyToOpenMetrics(&raw, mf)
		} else {
			_, err = expfmt.MetricFamilyToText(&raw, mf)
		}
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", mf.GetName(), err)
		}
	}
	var z bytes.Buffer
	zw, _ := flate.NewWriter(&z, flate.DefaultCompression) // the level is valid
	_, _ = zw.Write(raw.Bytes())                           // writes to a bytes.Buffer cannot fail
	_ = zw.Flush()                                         // sync flush: byte-aligned, no final block
	e := &apiEncoding{gen: gen, b: body{block: new(zBlock)}}
	e.b.add(&piece{raw: raw.Bytes(), z: z.Bytes(), crc: crc32.ChecksumIEEE(raw.Bytes()), shift: crcShift(int64(raw.Len()))})
	e.b.compressed()
	a.cur[f].Store(e)
	return &e.b, nil
}
