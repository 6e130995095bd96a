package expo

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

func TestCRCAppend(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 3, 7, 8, 100, 4096, 65537, 1 << 20} {
		a := make([]byte, r.IntN(5000))
		b := make([]byte, n)
		for i := range a {
			a[i] = byte(r.Uint32())
		}
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		want := crc32.ChecksumIEEE(append(slices.Clone(a), b...))
		got := crcAppend(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), crcShift(int64(len(b))))
		if got != want {
			t.Errorf("len(a)=%d len(b)=%d: crc %08x, want %08x", len(a), n, got, want)
		}
	}
	if got := crcAppend(0, 0x12345678, crcShift(99)); got != 0x12345678 {
		t.Errorf("appending to the empty CRC: %08x", got)
	}
}

// testUnits returns n units of e's families, each with lines lines of
// every family.
func testUnits(e *Encoder, n, lines int) []Pieces {
	units := make([]Pieces, n)
	name, value := "unit", ""
	for u := range units {
		mfs := e.Families()
		for _, mf := range mfs {
			for l := range lines {
				value = fmt.Sprintf("u%03d-line%04d", u, l)
				AddSample(mf, float64(u*lines+l), []*dto.LabelPair{{Name: &name, Value: &value}})
			}
		}
		units[u] = e.Encode(mfs)
	}
	return units
}

// TestSharedBodies checks a shared encoder's body is one copy for every
// format (its pieces and compressed block the same memory), and that an
// answer of it, plain or gzipped, is its bytes in one gzip member.
func TestSharedBodies(t *testing.T) {
	t.Parallel()
	e := NewSharedEncoder([]Family{{Name: "a", Help: "A."}, {Name: "b", Help: "B."}})
	units := testUnits(e, 5, 400) // pieces larger than the window
	var bodies [NumFormats]Body
	layout := func() {
		e.Layout(&bodies, len(units), func(i int) *Pieces { return &units[i] })
	}
	layout()
	text, om := &bodies[Text], &bodies[OpenMetrics]
	if len(text.plain) == 0 || &text.plain[0] != &om.plain[0] || &text.z[0] != &om.z[0] || text.block != om.block {
		t.Error("the OpenMetrics body is a copy of the text body's data, not the same")
	}
	if &text.Compressed()[0] != &om.Compressed()[0] {
		t.Error("the compressed block is built twice")
	}
	// A unit replaced: it and its successors are compressed to follow
	// their new predecessors.
	units[2] = testUnits(e, 3, 50)[2]
	layout()
	live := []byte("live 1\n")
	for _, gz := range []bool{false, true} {
		a := NewAnswer()
		a.Reset(gz, live, &bodies[Text], nil, &bodies[Text])
		var out bytes.Buffer
		n, err := a.WriteTo(&out)
		if err != nil || n != int64(out.Len()) || n != a.Len() {
			t.Fatalf("gzip %v: wrote %d bytes (%v), buffer %d, Len %d", gz, n, err, out.Len(), a.Len())
		}
		got := out.Bytes()
		if gz {
			zr, err := gzip.NewReader(&out)
			if err != nil {
				t.Fatal(err)
			}
			zr.Multistream(false)
			if got, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
			if out.Len() != 0 {
				t.Errorf("%d bytes after the gzip member", out.Len())
			}
		}
		var plain bytes.Buffer
		_, _ = bodies[Text].WriteTo(&plain)
		want := slices.Concat(plain.Bytes(), plain.Bytes(), live)
		if !bytes.Equal(got, want) {
			t.Errorf("gzip %v: the answer is not the bodies and live bytes", gz)
		}
	}
}
