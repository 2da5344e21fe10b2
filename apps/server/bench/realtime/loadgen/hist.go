package main

import (
	"math/bits"
	"sync/atomic"
)

// Histogram of microsecond values, log-linear: 64 sub-buckets per power of two (about 1.5 %
// precision), lock-free so a thousand receiving goroutines can record into one.
const subBuckets = 64

type Histogram struct {
	counts [subBuckets * 42]atomic.Uint64
	n      atomic.Uint64
}

func bucketOf(v uint64) int {
	if v < 2*subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - 7 // v>>shift lands in [64, 128)
	i := subBuckets*(shift+1) + int(v>>shift) - subBuckets
	if i >= len(Histogram{}.counts) {
		return len(Histogram{}.counts) - 1
	}
	return i
}

// upper bound of a bucket, so percentiles never understate.
func valueOf(i int) uint64 {
	if i < 2*subBuckets {
		return uint64(i)
	}
	shift := i/subBuckets - 1
	return (uint64(i%subBuckets+subBuckets+1) << shift) - 1
}

func (h *Histogram) Record(us uint64) {
	h.counts[bucketOf(us)].Add(1)
	h.n.Add(1)
}

func (h *Histogram) Count() uint64 { return h.n.Load() }

// Percentile in milliseconds (p in 0..100); 0 when empty.
func (h *Histogram) Percentile(p float64) float64 {
	total := h.n.Load()
	if total == 0 {
		return 0
	}
	rank := uint64(float64(total)*p/100 + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return float64(valueOf(i)) / 1000
		}
	}
	return float64(valueOf(len(h.counts)-1)) / 1000
}

// Percentiles in ms; empty (no percentiles) when nothing was recorded.
func (h *Histogram) Summary() map[string]float64 {
	if h.Count() == 0 {
		return map[string]float64{}
	}
	return map[string]float64{
		"p50Ms":  round3(h.Percentile(50)),
		"p99Ms":  round3(h.Percentile(99)),
		"p999Ms": round3(h.Percentile(99.9)),
		"maxMs":  round3(h.Percentile(100)),
	}
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }
