package expo

import (
	"bufio"
	"bytes"
	"compress/flate"
	"hash/crc32"
	"io"
)

// Answer assembles one response: bodies, then bytes encoded at scrape
// time, plain or as one gzip member. It is reusable (Reset), not safe for
// concurrent use; pool it.
type Answer struct {
	bodies []*Body
	live   []byte
	gz     bool
	zlive  bytes.Buffer  // live, compressed as the final block
	zw     *flate.Writer // compresses live
	bw     *bufio.Writer // coalesces the small pieces
}

// writeBufferSize is the size of the buffer that coalesces pieces into
// fewer writes to the response.
const writeBufferSize = 32 << 10

// NewAnswer returns an empty Answer.
func NewAnswer() *Answer {
	zw, _ := flate.NewWriter(nil, flate.BestSpeed) // the level is valid
	return &Answer{zw: zw, bw: bufio.NewWriterSize(nil, writeBufferSize)}
}

// Reset makes a the answer of bodies (nil ones are skipped), then live,
// gzipped if gz; it retains them until the next Reset. With gzip, it
// compresses live: only those bytes are compressed at scrape time, the
// bodies' blocks (Body.Compressed) once per body.
func (a *Answer) Reset(gz bool, live []byte, bodies ...*Body) {
	a.bodies = a.bodies[:0]
	for _, b := range bodies {
		if b != nil {
			a.bodies = append(a.bodies, b)
		}
	}
	a.live, a.gz = live, gz
	a.zlive.Reset()
	if gz {
		a.zw.Reset(&a.zlive)
		_, _ = a.zw.Write(live) // writes to a bytes.Buffer cannot fail
		_ = a.zw.Close()        // the final block ends the stream
	}
}

// Len returns the length of the answer as sent. With gzip, it builds the
// compressed blocks of bodies that have none yet.
func (a *Answer) Len() int64 {
	if !a.gz {
		n := int64(len(a.live))
		for _, b := range a.bodies {
			n += b.size
		}
		return n
	}
	n := int64(len(gzipHeader)+a.zlive.Len()) + gzipTrailerLen
	for _, b := range a.bodies {
		n += int64(len(b.Compressed()))
	}
	return n
}

// WriteTo writes the answer to w, through a buffer that coalesces small
// pieces; large ones go straight through when the buffer is empty.
func (a *Answer) WriteTo(w io.Writer) (int64, error) {
	bw := a.bw
	bw.Reset(w)
	defer bw.Reset(nil)
	var n int64
	write := func(p []byte) {
		k, _ := bw.Write(p) // a bufio.Writer keeps its error for Flush
		n += int64(k)
	}
	if a.gz {
		var size int64
		var crc uint32
		write(gzipHeader)
		for _, b := range a.bodies {
			write(b.Compressed())
			crc = crcAppend(crc, b.crc, crcShift(b.size))
			size += b.size
		}
		write(a.zlive.Bytes())
		crc = crcAppend(crc, crc32.ChecksumIEEE(a.live), crcShift(int64(len(a.live))))
		var trailer [gzipTrailerLen]byte
		write(appendGzipTrailer(trailer[:0], crc, size+int64(len(a.live))))
	} else {
		for _, b := range a.bodies {
			k, _ := b.WriteTo(bw)
			n += k
		}
		write(a.live)
	}
	return n, bw.Flush()
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

// gzipTrailerLen is the length of the gzip trailer (CRC-32 and ISIZE).
const gzipTrailerLen = 8

// appendGzipTrailer appends the gzip trailer: CRC-32 and ISIZE, little endian.
func appendGzipTrailer(b []byte, crc uint32, size int64) []byte {
	n := uint32(size) // ISIZE is the length modulo 2^32
	return append(b,
		byte(crc), byte(crc>>8), byte(crc>>16), byte(crc>>24),
		byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
}
