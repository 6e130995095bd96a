package koretest

import (
	"encoding/base64"
	"fmt"
	"hash/fnv"
)

// The simulator uses its own tiny generator (SplitMix64) rather than
// math/rand so that the synthetic data of a seed stays identical across Go
// releases.

const golden = 0x9e3779b97f4a7c15

// mix is the SplitMix64 finaliser.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// hashOf combines parts into one well-mixed value.
func hashOf(parts ...uint64) uint64 {
	h := uint64(golden)
	for _, p := range parts {
		h = mix(h ^ mix(p+golden))
	}
	return h
}

// unit returns a deterministic value in [0, 1) for parts.
func unit(parts ...uint64) float64 { return float64(hashOf(parts...)>>11) / (1 << 53) }

// hashString hashes s (FNV-1a, 64 bits).
func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// rng is a SplitMix64 stream.
type rng struct{ s uint64 }

func newRNG(parts ...uint64) *rng { return &rng{s: hashOf(parts...)} }

func (r *rng) next() uint64 {
	r.s += golden
	return mix(r.s)
}

// float returns a value in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// between returns a value in [lo, hi).
func (r *rng) between(lo, hi float64) float64 { return lo + (hi-lo)*r.float() }

// intn returns a value in [0, n); n must be > 0.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// shuffle permutes n elements with Fisher-Yates.
func (r *rng) shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, r.intn(i+1))
	}
}

// uuid returns a version-4-shaped UUID string.
func (r *rng) uuid() string {
	a, b := r.next(), r.next()
	a = a&^0xf000 | 0x4000           // version 4
	b = b&^(0xc000<<48) | 0x8000<<48 // RFC 4122 variant
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}

// secret returns a string that looks like a Kore.ai client secret (base64
// of 32 bytes). Kore.ai uses the string's bytes as the HMAC key as-is.
func (r *rng) secret() string {
	var buf [32]byte
	for i := 0; i < len(buf); i += 8 {
		v := r.next()
		for k := 0; k < 8; k++ {
			buf[i+k] = byte(v >> (8 * k))
		}
	}
	return base64.StdEncoding.EncodeToString(buf[:])
}
