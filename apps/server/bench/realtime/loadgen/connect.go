package main

import "time"

// The server's RSS once it has been left alone for -settle: the least of three readings over
// the last second. A garbage-collected server shrinks its heap some seconds after a burst of
// work (V8's memory reducer); reading before that charges leftovers of earlier work (account
// set-up, the previous scenario) to whichever side of the comparison they fall on.
func settledRSS(o Options) float64 {
	time.Sleep(o.settle - time.Second)
	least := rssKiB(o.pid)
	for i := 0; i < 2; i++ {
		time.Sleep(500 * time.Millisecond)
		least = min(least, rssKiB(o.pid))
	}
	return least
}

// Server memory per idle socket: settled RSS before and after opening n sockets, after a
// warm-up (200 sockets opened and closed: lazily built server state is not charged to them).
func idle(p *Proto, o Options) map[string]any {
	warm, _, _ := OpenMany(p, 0, 200, o.workers, o.room)
	CloseAll(warm)
	before := settledRSS(o)
	conns, failed, firstErr := OpenMany(p, 0, o.n, o.workers, o.room)
	after := settledRSS(o)
	r := map[string]any{
		"sockets": len(conns), "failed": failed, "firstError": firstErr, "room": o.room,
		"rssBeforeKiB": before, "rssAfterKiB": after,
	}
	if len(conns) > 0 {
		r["kibPerSocket"] = round3((after - before) / float64(len(conns)))
	}
	return r
}

type openStats struct {
	N           int     `json:"n"`
	Failed      int     `json:"failed"`
	FirstError  string  `json:"firstError,omitempty"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"perSecond"`
	ServerCpuMs float64 `json:"serverCpuMs"`
	CpuPerOpUs  float64 `json:"cpuPerOpUs"`
	GenCpuMs    float64 `json:"genCpuMs"`
}

func timedOpen(p *Proto, o Options, from, to int, room bool) ([]*Conn, openStats) {
	m := startMeter(o.pid)
	started := time.Now()
	conns, failed, firstErr := OpenMany(p, from, to, o.workers, room)
	secs := time.Since(started).Seconds()
	server, gen := m.Stop()
	s := openStats{N: len(conns), Failed: failed, FirstError: firstErr, Seconds: round3(secs), ServerCpuMs: server, GenCpuMs: gen}
	if len(conns) > 0 {
		s.PerSecond = round3(float64(len(conns)) / secs)
		s.CpuPerOpUs = round3(server * 1000 / float64(len(conns)))
	}
	return conns, s
}

// Connect rate: n sockets, `workers` dialling at once, each counted when ready (and in the
// room, with -room).
func connect(p *Proto, o Options) map[string]any {
	conns, s := timedOpen(p, o, 0, o.n, o.room)
	CloseAll(conns)
	return map[string]any{"room": o.room, "workers": o.workers, "connect": s}
}

// Join storm: the room fills to -prefill sockets, then -joins more join it. The first
// -first joins into the empty room and the first -first after the prefill are timed
// separately, to compare the server CPU one join costs in a small and in a large room.
func join(p *Proto, o Options) map[string]any {
	var all []*Conn
	phase := func(from, to int) openStats {
		conns, s := timedOpen(p, o, from, to, true)
		all = append(all, conns...)
		logf("join %d..%d: %.0f/s, %.0f µs CPU per join", from, to, s.PerSecond, s.CpuPerOpUs)
		return s
	}
	first := phase(0, o.firstJoins)
	rest := phase(o.firstJoins, o.prefill)
	atSize := phase(o.prefill, o.prefill+o.firstJoins)
	after := phase(o.prefill+o.firstJoins, o.prefill+o.joins)
	CloseAll(all)
	measured := openStats{
		N:           atSize.N + after.N,
		Failed:      atSize.Failed + after.Failed,
		Seconds:     round3(atSize.Seconds + after.Seconds),
		ServerCpuMs: atSize.ServerCpuMs + after.ServerCpuMs,
		GenCpuMs:    atSize.GenCpuMs + after.GenCpuMs,
	}
	if measured.N > 0 {
		measured.PerSecond = round3(float64(measured.N) / measured.Seconds)
		measured.CpuPerOpUs = round3(measured.ServerCpuMs * 1000 / float64(measured.N))
	}
	r := map[string]any{
		"prefill": o.prefill, "workers": o.workers,
		"firstJoins": first, "prefillJoins": rest, "joinsAtPrefill": atSize, "measuredJoins": measured,
	}
	if first.CpuPerOpUs > 0 {
		r["cpuRatioAtPrefillVsFirst"] = round3(atSize.CpuPerOpUs / first.CpuPerOpUs)
	}
	return r
}
