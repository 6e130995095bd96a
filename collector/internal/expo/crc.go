package expo

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
