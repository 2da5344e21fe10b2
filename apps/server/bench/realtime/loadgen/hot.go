package main

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The id a Parley answer echoes: `"id":"123"`.
func replyID(frame []byte) (int, bool) {
	i := bytes.Index(frame, []byte(`"id":"`))
	if i < 0 {
		return 0, false
	}
	rest := frame[i+6:]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return 0, false
	}
	id, err := strconv.Atoi(string(rest[:j]))
	return id, err == nil
}

// Hot room: -senders sockets (distinct accounts, all members), each keeping -inflight sends
// unanswered, for -duration after -warm. Counts acks (stored messages) per second.
func hot(p *Proto, o Options, creds *Creds) map[string]any {
	type sender struct {
		c      *Conn
		mu     sync.Mutex
		sentAt map[int]int64
	}
	var hist Histogram
	var acked, refused atomic.Uint64
	var firstRefusal atomic.Value
	var running, measuring atomic.Bool
	var seq atomic.Int64
	send := func(s *sender) {
		id := int(seq.Add(1))
		text := chatText(o.size, id)
		s.mu.Lock()
		s.sentAt[id] = now()
		s.mu.Unlock()
		if err := s.c.Write(p.message(id, text)); err != nil {
			fail(err)
		}
	}
	senders := make([]*sender, 0, o.senders)
	for i := 0; i < o.senders; i++ {
		c, err := Dial(p, i, false)
		if err != nil {
			fail(err)
		}
		s := &sender{c: c, sentAt: map[int]int64{}}
		c.OnFrame(func(frame []byte) {
			if !p.isReply(frame) {
				return
			}
			id, ok := replyID(frame)
			if !ok {
				return
			}
			s.mu.Lock()
			at, known := s.sentAt[id]
			delete(s.sentAt, id)
			s.mu.Unlock()
			if !known {
				return
			}
			if measuring.Load() {
				if bytes.Contains(frame, []byte(`"type":"error"`)) {
					if refused.Add(1) == 1 {
						firstRefusal.Store(string(frame))
					}
				} else {
					acked.Add(1)
					hist.Record(uint64((now() - at) / 1000))
				}
			}
			if running.Load() {
				send(s)
			}
		})
		senders = append(senders, s)
	}
	running.Store(true)
	for _, s := range senders {
		for k := 0; k < o.inFlight; k++ {
			send(s)
		}
	}
	time.Sleep(o.warm)
	m := startMeter(o.pid)
	storeBefore, storeRead := readCpuMs(o.storePid)
	measuring.Store(true)
	time.Sleep(o.duration)
	measuring.Store(false)
	server, gen := m.Stop()
	storeAfter, storeReadAfter := readCpuMs(o.storePid)
	store, storeKnown := storeAfter-storeBefore, storeRead && storeReadAfter
	running.Store(false)
	time.Sleep(500 * time.Millisecond)
	n := acked.Load()
	r := map[string]any{
		"senders": o.senders, "inFlight": o.senders * o.inFlight, "acked": n, "refused": refused.Load(),
		"perSecond": round3(float64(n) / o.duration.Seconds()), "ackLatency": hist.Summary(),
		"serverCpuMs": server, "genCpuMs": gen,
	}
	if n > 0 {
		r["cpuPerMessageUs"] = round3(server * 1000 / float64(n))
		// Left out when the storage node's process could not be read (no pid, or gone).
		if storeKnown {
			r["storeCpuMs"] = store
			r["storeCpuPerMessageUs"] = round3(store * 1000 / float64(n))
		}
	}
	if v := firstRefusal.Load(); v != nil {
		r["firstRefusal"] = v
	}
	logf("hot room, %d in flight: %.0f acked/s", o.senders*o.inFlight, r["perSecond"])
	return r
}
