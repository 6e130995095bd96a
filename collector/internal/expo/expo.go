// Package expo pre-encodes exposition bytes ahead of any scrape
// (docs/performance.md) and assembles them into answers.
//
// The unit of pre-encoding is a piece: the sample lines of one metric
// family for one unit (a bot × window part, the configured bots), as
// expfmt's text format writes them (the encoder promhttp uses, so labels,
// escaping and numbers are exactly promhttp's; the lines serve OpenMetrics
// too, see NewSharedEncoder), plus the same bytes as a raw DEFLATE stream
// that ends with a sync flush. A Body is a list of pieces, family by family (HELP/TYPE
// once, then every unit's lines), so families stay contiguous however many
// units contribute to them, and a scrape only writes bytes that already
// exist.
//
// Compressed bodies use the technique of pigz: every piece is compressed as
// the continuation of the piece before it in the body (with that piece's
// last 32 KiB as preset dictionary, see compress) and sync-flushed, which
// leaves it byte-aligned without a final block. Such streams concatenate
// into one valid DEFLATE stream; an Answer writes a gzip header, the
// bodies' blocks, the bytes encoded at scrape time compressed as the final
// block, and a trailer whose CRC-32 is combined from the pieces' CRCs
// (crc.go). The response is a single-member gzip stream any client
// decodes, and no scrape and no publish compresses the data body whole.
// A body made by BodyOf (the self-metrics, encoded at once by the first
// scrape after a change) is compressed whole instead, once.
package expo

import (
	"bytes"
	"compress/flate"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"sync"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Format is a wire format the data is pre-encoded in.
type Format int

const (
	// Text is the Prometheus text format 0.0.4.
	Text Format = iota
	// OpenMetrics is OpenMetrics text 1.0.0 (0.0.1 encodes identically).
	OpenMetrics
	// NumFormats is the number of formats.
	NumFormats
)

// FormatOf maps a negotiated expfmt.Format to the pre-encoded format
// serving it, and reports false for formats that are not pre-encoded.
func FormatOf(f expfmt.Format) (Format, bool) {
	switch f.FormatType() {
	case expfmt.TypeTextPlain:
		return Text, true
	case expfmt.TypeOpenMetrics:
		switch f.Version() {
		case expfmt.OpenMetricsVersion_1_0_0, expfmt.OpenMetricsVersion_0_0_1:
			return OpenMetrics, true
		}
	}
	return 0, false
}

// Family names and describes one pre-encoded metric family, a gauge.
type Family struct {
	Name, Help string
}

// piece is an immutable run of exposition bytes, with its compressed form
// and what it takes to combine its CRC-32 with its neighbours'.
//
// z is compressed to follow the piece after: its back-references may reach
// into after's bytes, which precede it in the body. Layout (which the
// caller serialises) compresses a piece again when its predecessor is
// another; bodies hold their own copies of z, so scrapes never read these
// two fields.
type piece struct {
	raw   []byte // exposition bytes
	z     []byte // raw DEFLATE of raw, sync-flushed, no final block
	crc   uint32 // CRC-32 (IEEE) of raw
	shift uint32 // x^(8·len(raw)) mod P, to append raw's CRC to another
	after *piece // the piece whose bytes z may refer back into
}

// Pieces holds the pre-encoded lines of one unit (a part, the configured
// bots), one piece per family of its encoder, indexed like the encoder's
// families. A family without lines has an empty piece. Only the text
// format's pieces are set; they serve every format.
type Pieces [NumFormats][]piece

// Encoder pre-encodes exposition pieces of a fixed list of families (the
// data families of a store) and lays them out into bodies. It holds the
// constant family headers, and a pool of scratch space; it is safe for
// concurrent use, but Layout calls must be serialised.
type Encoder struct {
	specs   []Family
	headers Pieces
	scratch sync.Pool // *scratch
}

// scratch is the working space of one encoding: expfmt's output, and a
// DEFLATE writer with its output.
type scratch struct {
	lines, z bytes.Buffer
	zw       *flate.Writer
}

// dictLen is how much of the preceding piece a piece may refer back into:
// DEFLATE's whole window. Repeats in real bodies lie a few KB apart (the
// same task names in the neighbouring window's and bot's lines of the
// family, the piece before); with 512 bytes the 400k-series fleet's gzip
// body came to 1.85× the whole text gzipped at once (BenchmarkScrapeFleet,
// docs/performance.md).
const dictLen = 32 << 10

// dataLevel is the compression level of an encoder's pieces. Every
// piece is its own DEFLATE block, so a level that searches harder pays off:
// with dictLen, the fleet's body came to 1.02–1.04× the whole gzip at
// level 8, 1.10–1.14× at levels 6 and 7; a fleet publish took 1.1× as long,
// a 200-row one twice as long (docs/performance.md).
const dataLevel = 8

// wholeLevel is the compression level of the bodies compressed whole (the
// self-metrics block, BodyOf, compressed by the first gzip scrape after a
// change).
const wholeLevel = flate.BestSpeed

// NewSharedEncoder returns an encoder of specs whose sample lines, and
// bodies, are the same in every format: the lines are written as the text
// format writes them, and every piece is compressed when laid out. Where
// the formats differ on a sample line, it is only in that OpenMetrics
// writes a whole number as "12345.0" and the text format as "12345"; the
// OpenMetrics grammar allows both (a realnumber needs no fraction), so one
// copy of the lines, and of their compressed pieces, serves both. The specs
// are gauges, whose HELP and TYPE lines expfmt writes the same in both
// formats (it panics otherwise) for HELP texts without a double quote.
func NewSharedEncoder(specs []Family) *Encoder {
	e := &Encoder{specs: specs}
	e.scratch.New = func() any {
		zw, _ := flate.NewWriter(nil, dataLevel) // the level is valid
		return &scratch{zw: zw}
	}
	// The headers come from expfmt too: encode every family with one
	// sample and keep its comment lines.
	mfs := e.Families()
	for _, mf := range mfs {
		AddSample(mf, 0, nil)
	}
	s := e.scratch.Get().(*scratch)
	defer e.scratch.Put(s)
	for f := range NumFormats {
		e.headers[f] = make([]piece, len(mfs))
		for i, mf := range mfs {
			header, _ := s.encode(f, mf)
			e.headers[f][i] = newPiece(bytes.Clone(header))
			s.compress(&e.headers[f][i], nil)
		}
	}
	for fam := range specs {
		for f := range NumFormats {
			if !bytes.Equal(e.headers[f][fam].raw, e.headers[Text][fam].raw) {
				panic(fmt.Sprintf("expo: %s: HELP and TYPE differ between formats:\n%s%s",
					specs[fam].Name, e.headers[Text][fam].raw, e.headers[f][fam].raw))
			}
		}
	}
	return e
}

// Families returns the encoder's families, without samples, for AddSample
// and Encode.
func (e *Encoder) Families() []*dto.MetricFamily {
	mfs := make([]*dto.MetricFamily, len(e.specs))
	for i := range e.specs {
		spec := &e.specs[i]
		typ := dto.MetricType_GAUGE
		mfs[i] = &dto.MetricFamily{Name: &spec.Name, Help: &spec.Help, Type: &typ}
	}
	return mfs
}

// AddSample appends to mf, one of Families, a sample of value v and
// labels (sorted by name, valid UTF-8).
func AddSample(mf *dto.MetricFamily, v float64, labels []*dto.LabelPair) {
	mf.Metric = append(mf.Metric, &dto.Metric{Label: labels, Gauge: &dto.Gauge{Value: &v}})
}

// Encode pre-encodes the sample lines of mfs, indexed like the encoder's
// families: the lines expfmt's text format writes for each family, less
// its HELP and TYPE lines, which the body writes once per family. A family
// without samples gets an empty piece.
func (e *Encoder) Encode(mfs []*dto.MetricFamily) Pieces {
	s := e.scratch.Get().(*scratch)
	defer e.scratch.Put(s)
	var ps Pieces
	ps[Text] = make([]piece, len(mfs))
	for i, mf := range mfs {
		if len(mf.GetMetric()) > 0 {
			_, lines := s.encode(Text, mf)
			// Clone to an exact-size slice: a snapshot holds it for
			// minutes, so no spare capacity.
			ps[Text][i] = newPiece(bytes.Clone(lines))
		}
	}
	return ps
}

// encode writes mf in format f with expfmt, as promhttp would, and returns
// its comment lines (HELP, TYPE) and its sample lines. Both alias s.lines
// until the next call.
func (s *scratch) encode(f Format, mf *dto.MetricFamily) (header, samples []byte) {
	s.lines.Reset()
	var err error
	if f == OpenMetrics {
		_, err = expfmt.MetricFamilyToOpenMetrics(&s.lines, mf)
	} else {
		_, err = expfmt.MetricFamilyToText(&s.lines, mf)
	}
	if err != nil {
		// The families are built from fixed specs with one value of the
		// family's type per sample; writes to a bytes.Buffer cannot fail.
		panic(fmt.Sprintf("expo: encode %s: %v", mf.GetName(), err))
	}
	b := s.lines.Bytes()
	n := 0
	for n < len(b) && b[n] == '#' {
		n += bytes.IndexByte(b[n:], '\n') + 1
	}
	return b[:n], b[n:]
}

// newPiece returns raw, which is retained, as a piece, not yet compressed
// (Layout compresses it once it knows what precedes it).
func newPiece(raw []byte) piece {
	return piece{raw: raw, crc: crc32.ChecksumIEEE(raw), shift: crcShift(int64(len(raw)))}
}

// compress sets p.z to p.raw compressed as the continuation of a stream
// whose last bytes were prev.raw (nil: a fresh stream).
//
// A piece of one unit compressed on its own costs about twice the bytes of
// the same lines in one stream, because the compressor has no history; the
// bytes before it in the body are the same family's lines of the
// neighbouring unit, nearly identical. So the compressor first takes
// prev's last dictLen bytes and is sync-flushed, and only what it writes
// for p's bytes is kept: its back-references into prev are valid wherever
// p follows prev. (flate.NewWriterDict would only hash the dictionary
// instead of compressing it, but needs a new writer, about 1 MB, per
// dictionary.)
func (s *scratch) compress(p *piece, prev *piece) {
	s.z.Reset()
	s.zw.Reset(&s.z)
	// Writes to a bytes.Buffer cannot fail.
	skip := 0
	if prev != nil {
		_, _ = s.zw.Write(prev.raw[max(0, len(prev.raw)-dictLen):])
		_ = s.zw.Flush()
		skip = s.z.Len()
	}
	_, _ = s.zw.Write(p.raw)
	_ = s.zw.Flush() // sync flush: byte-aligned, no final block
	p.z, p.after = bytes.Clone(s.z.Bytes()[skip:]), prev
}

// Layout fills dst, one body per format (the same body for every format),
// with the pieces of n units that unit returns (nil: none), family by
// family in the encoder's order: the family's header, then every unit's
// piece of that family. A family with no lines adds nothing, not even its
// header. A unit piece whose predecessor has changed (a new piece, or a
// new neighbour) is compressed again to follow the new one; a publish so
// compresses its own pieces and its successors'. Calls must be serialised
// (a writer lock): they compress pieces that earlier layouts laid out too.
func (e *Encoder) Layout(dst *[NumFormats]Body, n int, unit func(i int) *Pieces) {
	s := e.scratch.Get().(*scratch)
	defer e.scratch.Put(s)
	b := &dst[Text]
	*b = Body{block: new(zBlock)}
	b.plain = slices.Grow(b.plain, len(e.specs)*(n+1))
	b.z = slices.Grow(b.z, len(e.specs)*(n+1))
	for fam := range e.specs {
		prev := &e.headers[Text][fam]
		for i := range n {
			u := unit(i)
			if u == nil || fam >= len(u[Text]) || len(u[Text][fam].raw) == 0 {
				continue
			}
			if prev == &e.headers[Text][fam] {
				b.add(prev) // the family's first lines
			}
			p := &u[Text][fam]
			if p.z == nil || p.after != prev {
				s.compress(p, prev)
			}
			b.add(p)
			prev = p
		}
	}
	for f := Text + 1; f < NumFormats; f++ {
		dst[f] = dst[Text] // a body's copy shares its pieces and block
	}
}

// Body is a pre-encoded block of one view (a snapshot's data, the
// self-metrics) in one format: the pieces to write in order, and what the
// gzip trailer needs. It is immutable once laid out, and a copy shares
// everything with the original, the compressed block included.
type Body struct {
	plain [][]byte // the pieces' bytes
	z     [][]byte // their DEFLATE streams, same order (none if whole)
	size  int64    // total uncompressed length
	crc   uint32   // CRC-32 of the whole uncompressed block
	whole bool     // Compressed compresses plain at once
	block *zBlock  // the compressed block, built by the first gzip scrape
}

// zBlock is a body's DEFLATE block, built once.
type zBlock struct {
	once sync.Once
	z    []byte
}

// BodyOf returns raw, which is retained, as a body that the first gzip
// scrape compresses whole, at the fastest level: thousands of lines
// encoded at once (the self-metrics), cheaper to compress in one go than
// piece by piece.
func BodyOf(raw []byte) *Body {
	p := newPiece(raw)
	b := &Body{block: new(zBlock), whole: true}
	b.add(&p)
	return b
}

// Size returns the body's uncompressed length.
func (b *Body) Size() int64 { return b.size }

// CRC returns the CRC-32 (IEEE) of the body's uncompressed bytes.
func (b *Body) CRC() uint32 { return b.crc }

// WriteTo writes the body's uncompressed bytes to w, piece by piece.
func (b *Body) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for _, p := range b.plain {
		k, err := w.Write(p)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Compressed returns the body as DEFLATE blocks, sync-flushed, without a
// final block, built once per body by the first gzip scrape (formats
// nobody asks for with gzip are never built): the pieces joined, so every
// gzip scrape writes the block in one piece instead of thousands; or, for
// a body compressed whole, plain compressed at once.
func (b *Body) Compressed() []byte {
	zb := b.block
	zb.once.Do(func() {
		if !b.whole {
			zb.z = bytes.Join(b.z, nil)
			return
		}
		if b.size == 0 {
			return
		}
		var z bytes.Buffer
		zw, _ := flate.NewWriter(&z, wholeLevel) // the level is valid
		for _, p := range b.plain {
			_, _ = zw.Write(p) // writes to a bytes.Buffer cannot fail
		}
		_ = zw.Flush() // sync flush: byte-aligned, no final block
		zb.z = z.Bytes()
	})
	return zb.z
}

// add appends p to the body, unless it is empty.
func (b *Body) add(p *piece) {
	if len(p.raw) == 0 {
		return
	}
	b.plain = append(b.plain, p.raw)
	if !b.whole {
		b.z = append(b.z, p.z)
	}
	b.size += int64(len(p.raw))
	b.crc = crcAppend(b.crc, p.crc, p.shift)
}
