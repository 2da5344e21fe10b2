package main

import (
	"bytes"
	"math"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
)

var t0 = time.Now()

// Nanoseconds on this process's monotonic clock: senders stamp it into the text, receivers
// subtract it, so send→deliver needs no clock shared with anyone else.
func now() int64 { return int64(time.Since(t0)) }

var marker = []byte("~T")

const stampLen = 2 + 16 + 1 // "~T" + 16 digits + "~"

func stampedText(size int) string {
	var b strings.Builder
	b.Grow(size)
	b.WriteString("~T")
	ts := now()
	sent := ts
	digits := [16]byte{}
	for i := 15; i >= 0; i-- {
		digits[i] = byte('0' + ts%10)
		ts /= 10
	}
	b.Write(digits[:])
	b.WriteByte('~')
	if size > stampLen+1 {
		b.WriteByte(' ')
		b.WriteString(chatText(size-stampLen-1, int(sent)))
	}
	return b.String()
}

// One measured phase of a fan-out: messages stamped inside [start, end) count for latency
// and loss; deliveries arriving inside it count for the server's CPU per delivery.
type phase struct {
	start, end atomic.Int64
	hist       Histogram
	inWindow   atomic.Uint64 // deliveries of messages sent in the window
	during     atomic.Uint64 // deliveries that arrived in the window
}

type recorder struct {
	cur  atomic.Pointer[phase]
	last atomic.Int64 // arrival of the latest delivery
}

func (r *recorder) onFrame(frame []byte) {
	t := now()
	ph := r.cur.Load()
	for rest := frame; ; {
		i := bytes.Index(rest, marker)
		if i < 0 || len(rest) < i+stampLen {
			return
		}
		var ts int64
		for _, d := range rest[i+2 : i+18] {
			ts = ts*10 + int64(d-'0')
		}
		rest = rest[i+stampLen:]
		r.last.Store(t)
		if ph == nil {
			continue
		}
		start, end := ph.start.Load(), ph.end.Load()
		if t >= start && t < end {
			ph.during.Add(1)
		}
		if ts >= start && ts < end {
			ph.inWindow.Add(1)
			ph.hist.Record(uint64((t - ts) / 1000))
		}
	}
}

// Sends at `rate` per second for `d` on an absolute schedule (a late send is not skipped,
// the next ones catch up), returns how many were sent.
func pace(rate int, d time.Duration, send func()) int {
	interval := time.Second / time.Duration(rate)
	started := time.Now()
	n := 0
	for {
		at := started.Add(time.Duration(n) * interval)
		if at.Sub(started) >= d {
			return n
		}
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		send()
		n++
	}
}

// Fan-out: -subs sockets in the room, one more socket sending -size byte messages at each of
// -rates per second. Loss counts messages sent in the window that some subscriber never got.
func fanout(p *Proto, o Options, creds *Creds) map[string]any {
	subs, failed, firstErr := OpenMany(p, 0, o.subs, o.workers, true)
	rec := &recorder{}
	for _, c := range subs {
		c.OnFrame(rec.onFrame)
	}
	sender, err := Dial(p, o.subs, false)
	if err != nil {
		fail(err)
	}
	var acked, refused atomic.Uint64
	var firstRefusal atomic.Value
	sender.OnFrame(func(frame []byte) {
		if !p.isReply(frame) {
			return
		}
		if bytes.Contains(frame, []byte(`"error"`)) {
			if refused.Add(1) == 1 {
				firstRefusal.Store(string(frame))
			}
		} else {
			acked.Add(1)
		}
	})
	seq := 0
	send := func() {
		seq++
		if err := sender.Write(p.message(seq, stampedText(o.size))); err != nil {
			fail(err)
		}
	}
	var phases []map[string]any
	for _, rate := range o.rates {
		rec.cur.Store(nil)
		pace(rate, o.warm, send)
		ph := &phase{}
		ph.start.Store(now())
		ph.end.Store(math.MaxInt64)
		rec.cur.Store(ph)
		acked0, refused0 := acked.Load(), refused.Load()
		m := startMeter(o.pid)
		sent := pace(rate, o.duration, send)
		ph.end.Store(now())
		server, gen := m.Stop()
		// Drain: wait until deliveries stop (1 s quiet), at most -drain.
		for deadline := time.Now().Add(o.drain); time.Now().Before(deadline); {
			time.Sleep(200 * time.Millisecond)
			if now()-rec.last.Load() > int64(time.Second) {
				break
			}
		}
		expected := uint64(sent) * uint64(len(subs))
		closed := 0 // subscribers the server dropped (e.g. Parley's 1013 for a full outbound buffer)
		for _, c := range subs {
			if c.closed.Load() {
				closed++
			}
		}
		delivered := ph.inWindow.Load()
		during := ph.during.Load()
		secs := o.duration.Seconds()
		r := map[string]any{
			"rate": rate, "subscribers": len(subs), "sent": sent,
			"acked": acked.Load() - acked0, "refused": refused.Load() - refused0,
			"expected": expected, "delivered": delivered, "subscribersClosed": closed,
			"lost":                int64(expected) - int64(delivered),
			"deliveriesPerSecond": round3(float64(during) / secs),
			"serverCpuMs":         server, "genCpuMs": gen,
			// cores' worth of CPU each used during the window: a generator near GOMAXPROCS was a bottleneck
			"serverCores": round3(server / 1000 / secs), "genCores": round3(gen / 1000 / secs), "genMaxCores": runtime.GOMAXPROCS(0),
			"latency": ph.hist.Summary(),
		}
		if expected > 0 {
			r["lossPct"] = round3(100 * (float64(expected) - float64(delivered)) / float64(expected))
		}
		if during > 0 {
			r["cpuPerDeliveryUs"] = round3(server * 1000 / float64(during))
			r["genCpuPerDeliveryUs"] = round3(gen * 1000 / float64(during))
		}
		logf("fanout %d msg/s: %.0f deliveries/s, p99 %.1f ms, CPU per delivery %v µs (server) %v µs (generator), missing %v",
			rate, r["deliveriesPerSecond"], ph.hist.Percentile(99), r["cpuPerDeliveryUs"], r["genCpuPerDeliveryUs"], r["lost"])
		phases = append(phases, r)
	}
	r := map[string]any{"subscribers": len(subs), "failed": failed, "phases": phases}
	if firstErr != "" {
		r["firstError"] = firstErr
	}
	if v := firstRefusal.Load(); v != nil {
		r["firstRefusal"] = v
	}
	return r
}
