package collector

import (
	"bytes"
	"compress/flate"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/kore-exporter/kore_exporter/collector/contract"
	"github.com/kore-exporter/kore_exporter/kore"
)

// This file turns snapshot rows and per-job self-metrics into exposition
// bytes ahead of any scrape (docs/performance.md). The unit of
// pre-encoding is a piece: the sample lines of one metric family for one
// unit (a bot × window part, a job, the configured bots) in one format, as
// expfmt writes them (the encoder promhttp uses, so labels, escaping and
// numbers are exactly promhttp's; the data lines are written once, by the
// text encoder, and serve OpenMetrics too, see newSharedEncoder), plus
// (data pieces) the same bytes as a
// raw DEFLATE stream that ends with a sync flush. A body is then a list of pieces,
// family by family (HELP/TYPE once, then every unit's lines), so families
// stay contiguous however many units contribute to them, and a scrape only
// writes bytes that already exist.
//
// Compressed bodies use the technique of pigz: every piece is compressed as
// the continuation of the piece before it in the body (its back-references
// reach only into that piece's bytes, see compress) and sync-flushed, which
// leaves it byte-aligned without a final block. Such streams concatenate
// into one valid DEFLATE stream; a scrape writes a gzip header, the
// pieces, the metrics gathered at scrape time compressed as the last
// (final) block, and a trailer whose CRC-32 is combined from the pieces'
// CRCs with the GF(2) arithmetic of zlib's crc32_combine. The response is a
// single-member gzip stream any client decodes, and no scrape and no publish
// ever compresses the data body whole. The per-job block, whose pieces are
// a line or two, is compressed whole instead (body.compressed).

// format is a wire format the data is pre-encoded in.
type format int

const (
	// fmtText is the Prometheus text format 0.0.4.
	fmtText format = iota
	// fmtOpenMetrics is OpenMetrics text 1.0.0 (0.0.1 encodes identically).
	fmtOpenMetrics
	numFormats
)

// formatOf maps a negotiated expfmt.Format to the pre-encoded format serving
// it, and reports false for formats that are not pre-encoded.
func formatOf(f expfmt.Format) (format, bool) {
	switch f.FormatType() {
	case expfmt.TypeTextPlain:
		return fmtText, true
	case expfmt.TypeOpenMetrics:
		switch f.Version() {
		case expfmt.OpenMetricsVersion_1_0_0, expfmt.OpenMetricsVersion_0_0_1:
			return fmtOpenMetrics, true
		}
	}
	return 0, false
}

// familySpec names and describes one pre-encoded metric family: a gauge,
// or a counter (whose name ends in _total).
type familySpec struct {
	name, help string
	counter    bool
}

// The data metric families (package contract), in the order a
// prometheus.Registry gathers them (sorted by name): kore_bot_info, then
// the task families, which carry the labels contract.TaskLabels.
var (
	taskFamilies = contract.TaskFamilies()
	taskLabels   = contract.TaskLabels()
	dataFamilies = func() []familySpec {
		out := []familySpec{{name: contract.BotInfo().Name, help: contract.BotInfo().Help}}
		for _, f := range taskFamilies {
			out = append(out, familySpec{name: f.Name, help: f.Help})
		}
		return out
	}()
)

// famBotInfo and firstTaskFamily index dataFamilies.
const (
	famBotInfo      = 0
	firstTaskFamily = 1
)

// inFamilies reports whether name is one of specs, so a live self-metric
// with such a name can be refused instead of breaking the exposition with
// a duplicate family.
func inFamilies(specs []familySpec, name string) bool {
	for i := range specs {
		if specs[i].name == name {
			return true
		}
	}
	return false
}

// piece is an immutable run of exposition bytes, with its compressed form
// and what it takes to combine its CRC-32 with its neighbours'.
//
// z is compressed to follow the piece after: its back-references may reach
// into after's bytes, which precede it in the body. A snapshot build
// (layout, which the writer lock serialises) compresses a piece again when
// its predecessor is another; scrapes only read the bodies' copies of z,
// never these fields.
type piece struct {
	raw   []byte // exposition bytes
	z     []byte // raw DEFLATE of raw, sync-flushed, no final block
	crc   uint32 // CRC-32 (IEEE) of raw
	shift uint32 // x^(8·len(raw)) mod P, to append raw's CRC to another
	after *piece // the piece whose bytes z may refer back into
	// run, if set, holds raw in its bytes, as its index-th piece (layout).
	run   *run
	index int
}

// run is the sample lines of consecutive pieces of one family, in body
// order, held in one array: a plain scrape writes it with one write and
// reads it as one stream. Written piece by piece, the 5 KB pieces of the
// 400k-series fleet, each in its own allocation, took a plain scrape 2.4×
// as long as writing the same bytes held in one array; the hardware
// prefetcher restarts at every piece (BenchmarkScrapeFleet). A run is
// immutable; layout builds a new one where a piece of it changed.
type run struct {
	buf []byte
	n   int // pieces
}

// Run sizes: layout gathers pieces into runs of about runTarget bytes and
// absorbs a neighbouring run while the two stay within it. A publish so
// copies about runTarget bytes per family, and every run is large enough
// for a write of its own (directWriteMin); a piece as large alone is its
// own run, not copied.
const runTarget = 128 << 10

// pieceSet holds the pre-encoded lines of one unit (a part, a job, the
// configured bots) in every format, one piece per family of its encoder,
// indexed like the encoder's families. A family without lines has an empty
// piece. A shared encoder sets only the text format's pieces, which serve
// every format.
type pieceSet [numFormats][]piece

// encoder pre-encodes exposition pieces of a fixed list of families (the
// data families of a Store, the per-job self-metrics of Metrics) and lays
// them out into bodies. It holds the constant family headers, and a pool of
// scratch space; it is safe for concurrent use.
type encoder struct {
	specs   []familySpec
	headers pieceSet
	scratch sync.Pool // *scratch
	// whole: the pieces are not compressed one by one; a body's first gzip
	// scrape compresses the whole body at once (see body.compressed).
	whole bool
	// shared: the sample lines are encoded once, as the text format
	// writes them, and serve OpenMetrics too (see newSharedEncoder).
	shared bool
}

// scratch is the working space of one encoding: expfmt's output, and a
// DEFLATE writer with its output.
type scratch struct {
	lines, z bytes.Buffer
	zw       *flate.Writer
}

// newEncoder returns an encoder of specs, compressing at level (a valid
// compress/flate level), piece by piece, or with whole set, each body at
// once when a gzip scrape first asks for it.
func newEncoder(specs []familySpec, level int, whole bool) *encoder {
	e := &encoder{specs: specs, whole: whole}
	e.scratch.New = func() any {
		zw, _ := flate.NewWriter(nil, level) // the level is valid
		return &scratch{zw: zw}
	}
	// The headers come from expfmt too: encode every family with one
	// sample and keep its comment lines.
	mfs := e.families()
	for _, mf := range mfs {
		addSample(mf, 0, nil)
	}
	s := e.scratch.Get().(*scratch)
	defer e.scratch.Put(s)
	for f := range format(numFormats) {
		e.headers[f] = make([]piece, len(mfs))
		for i, mf := range mfs {
			header, _ := s.encode(f, mf)
			e.headers[f][i] = newPiece(bytes.Clone(header))
			s.compress(&e.headers[f][i], nil)
		}
	}
	return e
}

// newSharedEncoder returns an encoder of specs whose sample lines, and
// bodies, are the same in every format: the lines are written as the text
// format writes them. Where the formats differ on a sample line, it is only
// in that OpenMetrics writes a whole number as "12345.0" and the text format
// as "12345"; the OpenMetrics grammar allows both (a realnumber needs no
// fraction), so one copy of the lines, and of their compressed pieces,
// serves both. The specs must be gauges, whose HELP and TYPE lines expfmt
// writes the same in both formats (it panics otherwise; a counter's TYPE
// line differs) for HELP texts without a double quote.
func newSharedEncoder(specs []familySpec, level int) *encoder {
	e := newEncoder(specs, level, false)
	for fam := range specs {
		for f := range format(numFormats) {
			if !bytes.Equal(e.headers[f][fam].raw, e.headers[fmtText][fam].raw) {
				panic(fmt.Sprintf("collector: %s: HELP and TYPE differ between formats:\n%s%s",
					specs[fam].name, e.headers[fmtText][fam].raw, e.headers[f][fam].raw))
			}
		}
	}
	e.shared = true
	return e
}

// formats returns the formats the encoder encodes lines in: every format,
// or the text format only if it is shared.
func (e *encoder) formats() format {
	if e.shared {
		return fmtText + 1
	}
	return numFormats
}

// families returns the encoder's families, without samples, for addSample.
func (e *encoder) families() []*dto.MetricFamily {
	mfs := make([]*dto.MetricFamily, len(e.specs))
	for i := range e.specs {
		spec := &e.specs[i]
		typ := dto.MetricType_GAUGE
		if spec.counter {
			typ = dto.MetricType_COUNTER
		}
		mfs[i] = &dto.MetricFamily{Name: &spec.name, Help: &spec.help, Type: &typ}
	}
	return mfs
}

// addSample appends to mf, a family of families, a sample of value v and
// labels (of labelPairs).
func addSample(mf *dto.MetricFamily, v float64, labels []*dto.LabelPair) {
	m := &dto.Metric{Label: labels}
	if mf.GetType() == dto.MetricType_COUNTER {
		m.Counter = &dto.Counter{Value: &v}
	} else {
		m.Gauge = &dto.Gauge{Value: &v}
	}
	mf.Metric = append(mf.Metric, m)
}

// labelPairs returns the label pairs of names and values (as many), sorted
// by name as the client library sorts them. The values must be valid UTF-8.
func labelPairs(names []string, values ...string) []*dto.LabelPair {
	pairs := make([]dto.LabelPair, len(names))
	out := make([]*dto.LabelPair, len(names))
	for i := range names {
		pairs[i].Name, pairs[i].Value = &names[i], &values[i]
		out[i] = &pairs[i]
	}
	slices.SortFunc(out, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

// encode pre-encodes the sample lines of mfs, indexed like the encoder's
// families, in every format: the lines expfmt writes for each family, less
// its HELP and TYPE lines, which the body writes once per family. A family
// without samples gets an empty piece.
func (e *encoder) encode(mfs []*dto.MetricFamily) pieceSet {
	s := e.scratch.Get().(*scratch)
	defer e.scratch.Put(s)
	var ps pieceSet
	for f := range e.formats() {
		ps[f] = make([]piece, len(mfs))
		for i, mf := range mfs {
			if len(mf.GetMetric()) > 0 {
				_, lines := s.encode(f, mf)
				// Clone to an exact-size slice: a snapshot holds it for
				// minutes, so no spare capacity.
				ps[f][i] = newPiece(bytes.Clone(lines))
			}
		}
	}
	return ps
}

// encode writes mf in format f with expfmt, as promhttp would, and returns
// its comment lines (HELP, TYPE) and its sample lines. Both alias s.lines
// until the next call.
func (s *scratch) encode(f format, mf *dto.MetricFamily) (header, samples []byte) {
	s.lines.Reset()
	var err error
	if f == fmtOpenMetrics {
		_, err = expfmt.MetricFamilyToOpenMetrics(&s.lines, mf)
	} else {
		_, err = expfmt.MetricFamilyToText(&s.lines, mf)
	}
	if err != nil {
		// The families are built from fixed specs with one value of the
		// family's type per sample; writes to a bytes.Buffer cannot fail.
		panic(fmt.Sprintf("collector: encode %s: %v", mf.GetName(), err))
	}
	b := s.lines.Bytes()
	n := 0
	for n < len(b) && b[n] == '#' {
		n += bytes.IndexByte(b[n:], '\n') + 1
	}
	return b[:n], b[n:]
}

// newPiece returns raw, which is retained, as a piece, not yet compressed
// (layout compresses it once it knows what precedes it).
func newPiece(raw []byte) piece {
	return piece{raw: raw, crc: crc32.ChecksumIEEE(raw), shift: crcShift(int64(len(raw)))}
}

// dictLen is how much of the preceding piece compress lets a piece refer
// back into: its last few lines, the neighbouring unit's lines nearest to
// the piece's first. The preceding bytes go through the compressor too, so
// the whole window (32 KiB) made compressing a piece take 1.5–2.5× as long,
// and compressed no better (see dataLevel).
const dictLen = 512

// dataLevel is the compression level of the data pieces. Every piece is its
// own DEFLATE block, with its own code tables, so a level that searches
// harder pays off. Chained pieces of the 100k-series fleet of
// BenchmarkScrapeFleet (5 KB pieces) came to 1.09× the whole text gzipped
// at once at level 7 with dictLen, 1.16× at level 6 (the default), 1.25×
// at level 4, 1.37× at level 1, and 1.12× at level 6 with the whole window;
// level 7 took about as long as level 6, level 8 1.3× as long for 1.03×.
const dataLevel = 7

// compress sets p.z to p.raw compressed as the continuation of a stream
// whose last bytes were prev.raw (nil: a fresh stream).
//
// A piece of one unit (a part's lines of one family, a job's line or two)
// compressed on its own costs about twice the bytes of the same lines in
// one stream, because the compressor has no history; the line before in
// the body is the same family's line of the neighbouring unit, nearly
// identical. So the compressor first takes prev's last dictLen bytes and
// is sync-flushed, and only what it writes for p's bytes is kept: its
// back-references into prev are valid wherever p follows prev.
// BenchmarkScrapeFleet: gzip body 1.97× the whole text compressed at once
// with independent pieces, about 1.1× with this.
func (s *scratch) compress(p *piece, prev *piece) {
	s.z.Reset()
	s.zw.Reset(&s.z)
	// Writes to a bytes.Buffer cannot fail.
	skip := 0
	if prev != nil {
		dict := prev.raw[max(0, len(prev.raw)-dictLen):]
		_, _ = s.zw.Write(dict)
		_ = s.zw.Flush()
		skip = s.z.Len()
	}
	_, _ = s.zw.Write(p.raw)
	_ = s.zw.Flush() // sync flush: byte-aligned, no final block
	p.z, p.after = bytes.Clone(s.z.Bytes()[skip:]), prev
}

// layout fills dst, one body per format (of a shared encoder, the same body
// for every format), with the pieces of n units that
// unit returns (nil: none), family by family in the encoder's order: the
// family's header, then every unit's piece of that family. A family with no
// lines adds nothing, not even its header, and families stay contiguous
// however many units contribute lines to each. A unit's piece whose
// predecessor has changed (a new piece, or a new neighbour) is compressed
// again to follow the new one; a publish so compresses its own pieces and
// its successors'. The plain bytes of a family's unit pieces are written
// as runs (nextRun), of a whole-compressed encoder's piece by piece (see
// body.writes). It must be called with the writer lock held (see
// published).
func (e *encoder) layout(dst *[numFormats]body, n int, unit func(i int) *pieceSet) {
	s := e.scratch.Get().(*scratch)
	defer e.scratch.Put(s)
	var seq []*piece
	for f := range e.formats() {
		b := &dst[f]
		*b = body{block: new(zBlock)}
		if e.whole {
			b.whole = e
		}
		b.grow(len(e.specs) * (n + 1))
		for fam := range e.specs {
			seq = seq[:0]
			prev := &e.headers[f][fam]
			for i := range n {
				u := unit(i)
				if u == nil || fam >= len(u[f]) || len(u[f][fam].raw) == 0 {
					continue
				}
				p := &u[f][fam]
				if !e.whole && (p.z == nil || p.after != prev) {
					s.compress(p, prev)
				}
				seq = append(seq, p)
				prev = p
			}
			if len(seq) == 0 {
				continue
			}
			b.add(&e.headers[f][fam])
			if e.whole {
				for _, p := range seq {
					b.add(p)
				}
				continue
			}
			for len(seq) > 0 {
				r, k := nextRun(seq)
				b.plain = append(b.plain, r.buf)
				for _, p := range seq[:k] {
					b.account(p)
				}
				seq = seq[k:]
			}
		}
	}
	for f := e.formats(); f < numFormats; f++ {
		dst[f] = dst[fmtText] // a body's copy shares its pieces and block
	}
}

// nextRun returns the run of the pieces that seq starts with, and how
// many pieces it holds: the run they are already in, if it holds just
// them, in order, and is at least half a runTarget or followed by another
// valid run or nothing; else a new run of seq's first pieces up to
// runTarget bytes, absorbing a valid run that follows while the two stay
// within runTarget, and stopping before one that would not. A run no
// longer valid (a piece of it changed or went) is so rebuilt, at most
// about runTarget bytes, and runs do not stay small: a small one merges
// with new pieces after it (jobs added one by one), or with the next
// rebuilt neighbour. It must be called with the writer lock held: it
// repoints the pieces' raw into the new run.
func nextRun(seq []*piece) (*run, int) {
	if r := seq[0].run; runAt(seq, 0) && (len(r.buf) >= runTarget/2 || r.n == len(seq) || runAt(seq, r.n)) {
		return r, r.n
	}
	size, k := 0, 0
	for k < len(seq) && size < runTarget {
		if k > 0 && runAt(seq, k) {
			if size+len(seq[k].run.buf) > runTarget {
				break
			}
			size += len(seq[k].run.buf)
			k += seq[k].run.n
			continue
		}
		if k > 0 && len(seq[k].raw) >= runTarget {
			break // a run of its own
		}
		size += len(seq[k].raw)
		k++
	}
	r := &run{n: k}
	if k == 1 {
		r.buf = seq[0].raw // alone: no copy
	} else {
		r.buf = make([]byte, 0, size)
		for _, p := range seq[:k] {
			r.buf = append(r.buf, p.raw...)
		}
	}
	off := 0
	for i, p := range seq[:k] {
		p.raw = r.buf[off : off+len(p.raw) : off+len(p.raw)]
		p.run, p.index = r, i
		off += len(p.raw)
	}
	return r, k
}

// runAt reports whether seq[i:] starts with every piece of seq[i]'s run,
// in order.
func runAt(seq []*piece, i int) bool {
	r := seq[i].run
	if r == nil || seq[i].index != 0 || i+r.n > len(seq) {
		return false
	}
	for k := range r.n {
		if seq[i+k].run != r || seq[i+k].index != k {
			return false
		}
	}
	return true
}

// encodePart pre-encodes rows, which must be normalised (merged, valid
// UTF-8), for the part bot × window.
func (e *encoder) encodePart(bot, window string, rows []kore.TaskRow) pieceSet {
	mfs := e.families()
	for r := range rows {
		row := &rows[r]
		labels := labelPairs(taskLabels, bot, window, row.TaskName, row.TaskType, row.Status)
		for i, f := range taskFamilies {
			addSample(mfs[firstTaskFamily+i], float64(row.Count(f.Field)), labels)
		}
	}
	return e.encode(mfs)
}

// encodeBotInfo pre-encodes the kore_bot_info lines of bots (sorted, valid
// UTF-8).
func (e *encoder) encodeBotInfo(bots []BotInfo) pieceSet {
	mfs := e.families()
	for _, b := range bots {
		pairs := b.labels()
		labels := make([]*dto.LabelPair, len(pairs))
		for i := range pairs {
			labels[i] = &dto.LabelPair{Name: &pairs[i][0], Value: &pairs[i][1]}
		}
		addSample(mfs[famBotInfo], 1, labels)
	}
	return e.encode(mfs)
}

// published holds the current value of a pre-encoded view (a Store's
// Snapshot, the per-job jobSet) and the encoder of its pieces. Writers are
// serialised by a mutex and each ends with at most one atomic pointer swap;
// readers only load the pointer, so they never wait for a writer and never
// see half of a change.
type published[T any] struct {
	mu  sync.Mutex // serialises writers; readers never take it
	cur atomic.Pointer[T]
	enc *encoder
}

// load returns the current value. It never blocks.
func (p *published[T]) load() *T { return p.cur.Load() }

// swap calls next with the current value, with the writer lock held, and
// publishes what it returns; nil leaves the current value.
func (p *published[T]) swap(next func(old *T) *T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v := next(p.cur.Load()); v != nil {
		p.cur.Store(v)
	}
}

// body is the pre-encoded data block of one snapshot in one format: the
// pieces to write in order, and what the gzip trailer needs. It is
// immutable once laid out, and a copy shares everything with the original,
// the compressed block included.
type body struct {
	plain [][]byte // uncompressed pieces
	z     [][]byte // their DEFLATE streams, same order (none if whole is set)
	size  int64    // total uncompressed length
	crc   uint32   // CRC-32 of the whole uncompressed block
	whole *encoder // if set, compressed compresses plain at once with it
	block *zBlock  // the compressed block, built by the first gzip scrape
}

// zBlock is a body's DEFLATE block, and for a whole-compressed body its
// plain bytes joined, each built once.
type zBlock struct {
	once  sync.Once
	z     []byte
	joinc sync.Once
	join  [][]byte
}

// writes returns the body's bytes as the writes of a plain scrape: its
// pieces and runs; or, for a whole-compressed body (the per-job block, a
// line or two per piece, thousands of pieces), the pieces joined, once per
// body by the first plain scrape. Written piece by piece, the 18,000
// pieces of 2,000 jobs cost a plain scrape about 0.4 ms more than one
// write (BenchmarkScrapeFleet); joined when the body changes, they would
// cost a copy of the whole block at every run start and end, where a
// scrape comes every 15 s or more.
func (b *body) writes() [][]byte {
	if b.whole == nil || len(b.plain) <= 1 {
		return b.plain
	}
	zb := b.block
	zb.joinc.Do(func() { zb.join = [][]byte{bytes.Join(b.plain, nil)} })
	return zb.join
}

// grow makes room for n more pieces.
func (b *body) grow(n int) {
	b.plain = slices.Grow(b.plain, n)
	if b.whole == nil {
		b.z = slices.Grow(b.z, n)
	}
}

// compressed returns the body as one DEFLATE block, sync-flushed, built
// once per body by the first gzip scrape (formats nobody asks for with
// gzip are never built): the pieces joined, so every gzip scrape writes the
// block in one piece instead of coalescing hundreds of small ones; or, for
// a whole-compressed body, plain compressed at once. The per-job pieces are
// a line or two each: compressed one by one they came out larger than
// uncompressed (block framing), 23 times the body compressed at once
// (BenchmarkScrapeFleet, 2,000 jobs).
func (b *body) compressed() []byte {
	zb := b.block
	zb.once.Do(func() {
		if b.whole == nil {
			zb.z = bytes.Join(b.z, nil)
			return
		}
		if b.size == 0 {
			return
		}
		s := b.whole.scratch.Get().(*scratch)
		defer b.whole.scratch.Put(s)
		s.z.Reset()
		s.zw.Reset(&s.z)
		for _, p := range b.plain {
			_, _ = s.zw.Write(p) // writes to a bytes.Buffer cannot fail
		}
		_ = s.zw.Flush() // sync flush: byte-aligned, no final block
		zb.z = bytes.Clone(s.z.Bytes())
	})
	return zb.z
}

// add appends p to the body, its bytes as a write of their own.
func (b *body) add(p *piece) {
	if len(p.raw) == 0 {
		return
	}
	b.plain = append(b.plain, p.raw)
	b.account(p)
}

// account appends p to the body but for its bytes, which the caller
// writes (a run holding them).
func (b *body) account(p *piece) {
	if b.whole == nil {
		b.z = append(b.z, p.z)
	}
	b.size += int64(len(p.raw))
	b.crc = crcAppend(b.crc, p.crc, p.shift)
}

// The gzip framing around a concatenation of DEFLATE pieces (RFC 1952).
var gzipHeader = []byte{
	0x1f, 0x8b, // magic
	8,          // CM = deflate
	0,          // FLG: no name, comment or extra
	0, 0, 0, 0, // MTIME unknown
	0,    // XFL
	0xff, // OS unknown, as compress/gzip writes it
}

// appendGzipTrailer appends the gzip trailer: CRC-32 and ISIZE, little endian.
func appendGzipTrailer(b []byte, crc uint32, size int64) []byte {
	n := uint32(size) // ISIZE is the length modulo 2^32
	return append(b,
		byte(crc), byte(crc>>8), byte(crc>>16), byte(crc>>24),
		byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
}

// CRC-32 combination (zlib's crc32_combine, in its x2nmodp form). A CRC is
// a remainder modulo the IEEE polynomial P in GF(2)[x], bit-reflected; the
// CRC of A‖B is crc(A)·x^(8·len(B)) + crc(B) mod P.

// crcPoly is the bit-reflected IEEE polynomial.
const crcPoly = 0xedb88320

// crcX2N[k] is x^(2^k) mod P; it is a constant table, computed once.
var crcX2N = func() (t [32]uint32) {
	p := uint32(1) << 30 // x^1
	for k := range t {
		t[k] = p
		p = multModP(p, p)
	}
	return t
}()

// multModP returns a·b mod P (reflected bit order).
func multModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0 && a != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
			a &^= m
		}
		if b&1 != 0 {
			b = b>>1 ^ crcPoly
		} else {
			b >>= 1
		}
	}
	return p
}

// crcShift returns x^(8·n) mod P: the factor that moves a CRC past n bytes.
func crcShift(n int64) uint32 {
	p := uint32(1) << 31 // x^0
	for k := 3; n != 0; n, k = n>>1, k+1 {
		if n&1 != 0 {
			p = multModP(crcX2N[k&31], p)
		}
	}
	return p
}

// crcAppend returns the CRC-32 of A‖B given crc(A), crc(B) and
// crcShift(len(B)).
func crcAppend(crcA, crcB, shiftB uint32) uint32 {
	return multModP(shiftB, crcA) ^ crcB
}
