package collector

import (
	"bytes"
	"compress/flate"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/common/expfmt"

	"github.com/kore-exporter/kore_exporter/kore"
)

// This file turns snapshot rows into exposition bytes ahead of any scrape
// (DESIGN.md, "Scrape cost"). The unit of pre-encoding is a piece: the sample
// lines of one metric family for one bot × window part, in one format, plus
// the same bytes as a raw DEFLATE stream that ends with a sync flush. A
// snapshot's body is then a list of pieces, family by family (HELP/TYPE once,
// then every part's lines), so families stay contiguous however many parts
// contribute to them, and a scrape only writes bytes that already exist.
//
// Compressed bodies use the technique of pigz: every piece is compressed on
// its own (a fresh compressor, so it never refers back into another piece's
// data) and sync-flushed, which leaves it byte-aligned without a final block.
// Such streams concatenate into one valid DEFLATE stream; a scrape writes a
// gzip header, the pieces, the live self-metrics compressed as the last
// (final) block, and a trailer whose CRC-32 is combined from the pieces'
// CRCs with the GF(2) arithmetic of zlib's crc32_combine. The response is a
// single-member gzip stream any client decodes, and no scrape and no publish
// ever compresses the whole body.

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

// The data metric families, indexed in the order a prometheus.Registry
// gathers them (sorted by name), so the pre-encoded body lists families in
// the same order promhttp would.
const (
	famBotInfo = iota
	famAgentTransfer
	famDropOff
	famExecutions
	famSelfService
	famSessions
	numFamilies

	// firstTaskFamily is the index of the first per-task family; the
	// families from it on carry the task labels.
	firstTaskFamily = famAgentTransfer
	numTaskFamilies = numFamilies - firstTaskFamily
)

// helpSuffix ends the HELP text of every task family: the data is served from
// the snapshot, never fetched at scrape time.
const helpSuffix = " in the rolling window, from the last finished Kore.ai Task Execution-Based Containment Report job (cached; not fetched at scrape time)."

// familySpec names and describes one pre-encoded metric family: a gauge,
// or a counter (whose name ends in _total).
type familySpec struct {
	name, help string
	counter    bool
}

// dataFamilies is the fixed metric contract of the data metrics (DESIGN.md,
// "Metric contract"), indexed by the fam* constants.
var dataFamilies = [numFamilies]familySpec{
	famBotInfo: {
		name: "kore_bot_info",
		help: "Configured Kore.ai bot: bot is the configured name, bot_id the Kore.ai bot id, host the API host; constant 1.",
	},
	famAgentTransfer: {
		name: "kore_task_agent_transfer_sessions",
		help: "Task sessions transferred to a human agent" + helpSuffix,
	},
	famDropOff: {
		name: "kore_task_drop_off_sessions",
		help: "Task sessions that dropped off (the user left)" + helpSuffix,
	},
	famExecutions: {
		name: "kore_task_executions",
		help: "Task executions" + helpSuffix,
	},
	famSelfService: {
		name: "kore_task_self_service_sessions",
		help: "Task sessions that ended self-service (contained)" + helpSuffix,
	},
	famSessions: {
		name: "kore_task_sessions",
		help: "Conversation sessions in which the task ran" + helpSuffix,
	},
}

// taskLabels are the variable labels of the task families, in the order the
// Desc declares them. The exposition writes them sorted by name, as client
// metrics carry them: bot, status, task_name, task_type, window.
var taskLabels = []string{"bot", "window", "task_name", "task_type", "status"}

// botInfoLabels are the variable labels of kore_bot_info (already sorted).
var botInfoLabels = []string{"bot", "bot_id", "host"}

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

// taskValue returns the source field of the task family fam.
func taskValue(fam int, r *kore.TaskRow) int64 {
	switch fam {
	case famAgentTransfer:
		return r.AgentTransferSessions
	case famDropOff:
		return r.DropOffSessions
	case famExecutions:
		return r.TotalExecution
	case famSelfService:
		return r.SelfServiceSessions
	case famSessions:
		return r.TotalSession
	}
	return 0
}

// piece is an immutable run of exposition bytes, with its compressed form
// and what it takes to combine its CRC-32 with its neighbours'.
type piece struct {
	raw   []byte // exposition bytes
	z     []byte // raw DEFLATE of raw, sync-flushed, no final block
	crc   uint32 // CRC-32 (IEEE) of raw
	shift uint32 // x^(8·len(raw)) mod P, to append raw's CRC to another
}

// encoder pre-encodes exposition pieces of a fixed list of families (the
// data families of a Store, the per-job self-metrics of Metrics). It holds
// the constant family headers, indexed like the list, and pools of scratch
// space; it is safe for concurrent use.
type encoder struct {
	headers [numFormats][]piece
	deflate sync.Pool // *flate.Writer
	scratch sync.Pool // *bytes.Buffer
}

// newEncoder returns an encoder of families, compressing at level (a valid
// compress/flate level).
func newEncoder(families []familySpec, level int) *encoder {
	e := &encoder{}
	e.deflate.New = func() any {
		w, _ := flate.NewWriter(nil, level) // the level is valid
		return w
	}
	e.scratch.New = func() any { return new(bytes.Buffer) }
	for f := range format(numFormats) {
		e.headers[f] = make([]piece, len(families))
		for fam := range families {
			e.headers[f][fam] = e.newPiece(appendHeader(nil, f, families[fam]))
		}
	}
	return e
}

// newPiece compresses raw and returns it as a piece; raw is retained.
func (e *encoder) newPiece(raw []byte) piece {
	c := e.compressor()
	defer e.release(c)
	return c.piece(raw)
}

// pieceCompressor makes pieces with one DEFLATE writer and scratch buffer
// from the encoder's pools, so encoding many pieces takes them once.
type pieceCompressor struct {
	zw  *flate.Writer
	buf *bytes.Buffer
}

func (e *encoder) compressor() pieceCompressor {
	return pieceCompressor{zw: e.deflate.Get().(*flate.Writer), buf: e.scratch.Get().(*bytes.Buffer)}
}

func (e *encoder) release(c pieceCompressor) {
	e.deflate.Put(c.zw)
	e.scratch.Put(c.buf)
}

// piece compresses raw on its own (a fresh stream) and returns it as a
// piece; raw is retained.
func (c pieceCompressor) piece(raw []byte) piece {
	c.buf.Reset()
	c.zw.Reset(c.buf)
	// Writes to a bytes.Buffer cannot fail.
	_, _ = c.zw.Write(raw)
	_ = c.zw.Flush() // sync flush: byte-aligned, no final block
	return piece{
		raw:   raw,
		z:     bytes.Clone(c.buf.Bytes()),
		crc:   crc32.ChecksumIEEE(raw),
		shift: crcShift(int64(len(raw))),
	}
}

// partEncoding holds one part's pre-encoded sample lines: one piece per
// format and task family. Empty parts have empty pieces.
type partEncoding struct {
	pieces [numFormats][numTaskFamilies]piece
}

// encodeFamilies fills pieces(f)[i], for every format f and every index i
// of that slice, with the sample lines lines(b, f, i) appends to b, and
// their compressed form. Lines that come out empty leave an empty piece.
func (e *encoder) encodeFamilies(pieces func(f format) []piece, lines func(b []byte, f format, i int) []byte) {
	c := e.compressor()
	defer e.release(c)
	var b []byte // scratch, reused across families
	for f := range format(numFormats) {
		dst := pieces(f)
		for i := range dst {
			if b = lines(b[:0], f, i); len(b) > 0 {
				// Clone to an exact-size slice: a snapshot holds it for
				// minutes, so no spare capacity.
				dst[i] = c.piece(bytes.Clone(b))
			}
		}
	}
}

// encodePart pre-encodes rows, which must be normalised (merged, valid
// UTF-8), for the part bot × window.
func (e *encoder) encodePart(bot, window string, rows []kore.TaskRow) *partEncoding {
	pe := &partEncoding{}
	var labels []byte // scratch, reused across families
	e.encodeFamilies(func(f format) []piece { return pe.pieces[f][:] }, func(b []byte, f format, i int) []byte {
		fam := firstTaskFamily + i
		for r := range rows {
			labels = appendTaskLabels(labels[:0], bot, window, &rows[r])
			b = appendSample(b, f, dataFamilies[fam].name, labels, float64(taskValue(fam, &rows[r])))
		}
		return b
	})
	return pe
}

// encodeBotInfo pre-encodes the kore_bot_info lines of bots (sorted, valid
// UTF-8), one piece per format.
func (e *encoder) encodeBotInfo(bots []BotInfo) [numFormats]piece {
	var out [numFormats]piece
	var labels []byte
	e.encodeFamilies(func(f format) []piece { return out[f : f+1] }, func(b []byte, f format, _ int) []byte {
		for i := range bots {
			labels = append(labels[:0], `{bot="`...)
			labels = appendEscaped(labels, bots[i].Name)
			labels = append(labels, `",bot_id="`...)
			labels = appendEscaped(labels, bots[i].BotID)
			labels = append(labels, `",host="`...)
			labels = appendEscaped(labels, bots[i].Host)
			labels = append(labels, `"}`...)
			b = appendSample(b, f, dataFamilies[famBotInfo].name, labels, 1)
		}
		return b
	})
	return out
}

// appendHeader appends the HELP and TYPE lines of a family, escaped as
// expfmt escapes them in format f. OpenMetrics names a counter family
// without its _total suffix (its samples keep it), as expfmt does.
func appendHeader(b []byte, f format, spec familySpec) []byte {
	name, typ := spec.name, " gauge\n"
	if spec.counter {
		typ = " counter\n"
		if f == fmtOpenMetrics {
			name = strings.TrimSuffix(name, "_total")
		}
	}
	b = append(b, "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	if f == fmtOpenMetrics {
		b = appendEscaped(b, spec.help)
	} else {
		b = appendEscapedHelp(b, spec.help)
	}
	b = append(b, '\n')
	b = append(b, "# TYPE "...)
	b = append(b, name...)
	b = append(b, typ...)
	return b
}

// appendTaskLabels appends the label set of a task sample, labels sorted by
// name as the client library sorts them.
func appendTaskLabels(b []byte, bot, window string, r *kore.TaskRow) []byte {
	b = append(b, `{bot="`...)
	b = appendEscaped(b, bot)
	b = append(b, `",status="`...)
	b = appendEscaped(b, r.Status)
	b = append(b, `",task_name="`...)
	b = appendEscaped(b, r.TaskName)
	b = append(b, `",task_type="`...)
	b = appendEscaped(b, r.TaskType)
	b = append(b, `",window="`...)
	b = appendEscaped(b, window)
	b = append(b, `"}`...)
	return b
}

// appendSample appends one sample line without a timestamp.
func appendSample(b []byte, f format, name string, labels []byte, v float64) []byte {
	b = append(b, name...)
	b = append(b, labels...)
	b = append(b, ' ')
	b = appendValue(b, f, v)
	return append(b, '\n')
}

// appendValue formats v as expfmt does: shortest 'g' representation; in
// OpenMetrics integral values get a ".0".
func appendValue(b []byte, f format, v float64) []byte {
	start := len(b)
	b = strconv.AppendFloat(b, v, 'g', -1, 64)
	if f == fmtOpenMetrics && !bytes.ContainsAny(b[start:], "e.") {
		b = append(b, '.', '0')
	}
	return b
}

// appendEscaped appends a label value (or OpenMetrics HELP text) escaped as
// the exposition formats require: backslash, double quote and line feed.
func appendEscaped(b []byte, s string) []byte {
	if !strings.ContainsAny(s, "\\\"\n") {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendEscapedHelp appends HELP text escaped as the text format 0.0.4
// requires: backslash and line feed (double quotes stay).
func appendEscapedHelp(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// body is the pre-encoded data block of one snapshot in one format: the
// pieces to write in order, and what the gzip trailer needs.
type body struct {
	plain [][]byte // uncompressed pieces
	z     [][]byte // their DEFLATE streams, same order
	size  int64    // total uncompressed length
	zsize int64    // total compressed length
	crc   uint32   // CRC-32 of the whole uncompressed block

	zOnce  sync.Once
	zBlock []byte // the DEFLATE pieces joined, built by the first gzip scrape
}

// addFamily appends one family: its header, then the non-empty pieces
// piece(0), …, piece(n-1). A family with no lines adds nothing, not even
// its header. Families added one after the other stay contiguous however
// many units (parts, jobs) contribute lines to each.
func (b *body) addFamily(header *piece, n int, piece func(i int) *piece) {
	started := false
	for i := range n {
		p := piece(i)
		if p == nil || len(p.raw) == 0 {
			continue
		}
		if !started {
			b.add(header)
			started = true
		}
		b.add(p)
	}
}

// grow makes room for n more pieces.
func (b *body) grow(n int) {
	b.plain = slices.Grow(b.plain, n)
	b.z = slices.Grow(b.z, n)
}

// compressed returns the DEFLATE pieces as one block. The pieces of a part
// are a few kilobytes once compressed; joining them once per snapshot and
// format lets every gzip scrape write the block in one piece instead of
// coalescing hundreds of small ones. Formats nobody asks for with gzip are
// never joined.
func (b *body) compressed() []byte {
	b.zOnce.Do(func() { b.zBlock = bytes.Join(b.z, nil) })
	return b.zBlock
}

// add appends p to the body.
func (b *body) add(p *piece) {
	if len(p.raw) == 0 {
		return
	}
	b.plain = append(b.plain, p.raw)
	b.z = append(b.z, p.z)
	b.size += int64(len(p.raw))
	b.zsize += int64(len(p.z))
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
