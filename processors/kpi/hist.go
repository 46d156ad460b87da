package kpi

import "math"

// Delays are histogrammed on the float64 bit pattern: exponent plus the top
// 7 mantissa bits, so each bucket is under 0.8% wide, from 1 µs to 2^40 µs.
const (
	histMantBits = 7
	histShift    = 52 - histMantBits
	histBias     = 1023 << histMantBits
	histBuckets  = 40<<histMantBits + 2
)

// delayHist is a fixed-size log-linear histogram of delays in µs: no
// allocation per observation.
type delayHist struct {
	counts [histBuckets]uint32
	n      uint64
	max    float64
}

func histIndex(us float64) int {
	if !(us >= 1) { // also NaN
		return 0
	}
	i := int(math.Float64bits(us)>>histShift) - histBias + 1
	return min(i, histBuckets-1)
}

// histValue is the middle of bucket i.
func histValue(i int) float64 {
	if i == 0 {
		return 0
	}
	lo := math.Float64frombits(uint64(i-1+histBias) << histShift)
	hi := math.Float64frombits(uint64(i+histBias) << histShift)
	return (lo + hi) / 2
}

func (h *delayHist) add(us float64) {
	if us < 0 { // device clock ahead of ours
		us = 0
	}
	h.counts[histIndex(us)]++
	h.n++
	if us > h.max {
		h.max = us
	}
}

// quantile returns the nearest-rank q-quantile (bucket middle, capped at max).
func (h *delayHist) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var cum uint64
	for i, c := range h.counts {
		cum += uint64(c)
		if cum >= rank {
			return min(histValue(i), h.max)
		}
	}
	return h.max
}

func (h *delayHist) reset() {
	clear(h.counts[:])
	h.n = 0
	h.max = 0
}
