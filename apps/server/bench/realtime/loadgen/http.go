package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func httpClient(workers int) *http.Client {
	return &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{MaxIdleConns: workers * 2, MaxIdleConnsPerHost: workers * 2},
	}
}

// Runs `one` in `workers` loops for -warm (unmeasured) and then -duration (measured).
func storm(o Options, workers int, one func(w int, measured bool)) (serverMs, genMs float64) {
	var measured, stop atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				one(w, measured.Load())
			}
		}()
	}
	time.Sleep(o.warm)
	m := startMeter(o.pid)
	measured.Store(true)
	time.Sleep(o.duration)
	measured.Store(false)
	serverMs, genMs = m.Stop()
	stop.Store(true)
	wg.Wait()
	return serverMs, genMs
}

// History paging: -workers readers, each paging back through the room's stored messages
// (100 per page, `before` = the previous page's cursor), starting over at the newest.
func history(o Options, creds *Creds) map[string]any {
	client := httpClient(o.workers)
	var hist Histogram
	var pages, messages, errs atomic.Uint64
	var firstErr atomic.Value
	cursors := make([]string, o.workers)
	server, gen := storm(o, o.workers, func(w int, measured bool) {
		url := o.base + "/api/chat/rooms/" + creds.Room + "/messages?limit=100"
		if cursors[w] != "" {
			url += "&before=" + cursors[w]
		}
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("authorization", "Bearer "+creds.Tokens[w%len(creds.Tokens)])
		started := now()
		resp, err := client.Do(req)
		if err != nil {
			errs.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
			time.Sleep(10 * time.Millisecond)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var page struct {
			Messages   []json.RawMessage `json:"messages"`
			NextCursor *string           `json:"next_cursor"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &page) != nil {
			if measured {
				errs.Add(1)
				firstErr.CompareAndSwap(nil, strconv.Itoa(resp.StatusCode)+" "+string(body))
			}
			return
		}
		cursors[w] = ""
		if page.NextCursor != nil {
			cursors[w] = *page.NextCursor
		}
		if measured {
			hist.Record(uint64((now() - started) / 1000))
			pages.Add(1)
			messages.Add(uint64(len(page.Messages)))
		}
	})
	secs := o.duration.Seconds()
	r := map[string]any{
		"readers": o.workers, "pages": pages.Load(), "errors": errs.Load(),
		"pagesPerSecond":    round3(float64(pages.Load()) / secs),
		"messagesPerSecond": round3(float64(messages.Load()) / secs),
		"latency":           hist.Summary(), "serverCpuMs": server, "genCpuMs": gen,
	}
	if v := firstErr.Load(); v != nil {
		r["firstError"] = v
	}
	return r
}

// The server's event-loop delay gauges (apps/server/src/metrics/event-loop.ts), in ms, from
// its metrics listener (apps/server/src/metrics/listener.ts), not the public port.
func eventLoop(client *http.Client, metricsURL string) map[string]float64 {
	resp, err := client.Get(metricsURL)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	scanner := bufio.NewScanner(resp.Body)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		line := scanner.Text()
		for _, q := range []string{"p50", "p99", "max"} {
			name := "parley_event_loop_delay_" + q + "_seconds"
			if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
				fields := strings.Fields(line)
				if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
					out[q] = round3(v * 1000)
				}
			}
		}
	}
	return out
}

// Login storm: -workers clients logging in (argon2id on the server) over and over, while the
// server's event-loop delay is read from its /metrics listener every second. The gauges describe the last
// completed window (5 s): windows read from 5 s after the start of the storm to its end lie
// inside it.
func login(o Options, creds *Creds) map[string]any {
	client := httpClient(o.workers)
	metricsClient := httpClient(1)
	if o.metrics == "" {
		fail(errors.New("login: -metrics (the server's /metrics URL) is required"))
	}
	idleLoop := eventLoop(metricsClient, o.metrics)
	var hist Histogram
	var ok, limited, errs atomic.Uint64
	var firstErr atomic.Value
	var samples []map[string]float64
	stormStart := time.Now()
	done := make(chan struct{})
	go func() {
		ticker := time.NewTicker(time.Second)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
				if time.Since(stormStart) >= o.warm+5*time.Second {
					if s := eventLoop(metricsClient, o.metrics); s != nil {
						samples = append(samples, s)
					}
				}
			}
		}
	}()
	var next atomic.Uint64
	server, gen := storm(o, o.workers, func(w int, measured bool) {
		u := creds.Users[int(next.Add(1))%len(creds.Users)]
		body, _ := json.Marshal(map[string]string{"email_or_username": u.Username, "password": u.Password})
		started := now()
		resp, err := client.Post(o.base+"/login", "application/json", bytes.NewReader(body))
		if err != nil {
			errs.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
			time.Sleep(10 * time.Millisecond)
			return
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !measured {
			return
		}
		switch resp.StatusCode {
		case 200:
			ok.Add(1)
			hist.Record(uint64((now() - started) / 1000))
		case 429:
			limited.Add(1)
		default:
			errs.Add(1)
			firstErr.CompareAndSwap(nil, strconv.Itoa(resp.StatusCode)+" "+string(answer))
		}
	})
	close(done)
	p99s := []float64{}
	maxDelay := 0.0
	for _, s := range samples {
		p99s = append(p99s, s["p99"])
		if s["max"] > maxDelay {
			maxDelay = s["max"]
		}
	}
	sort.Float64s(p99s)
	r := map[string]any{
		"clients": o.workers, "logins": ok.Load(), "rateLimited": limited.Load(), "errors": errs.Load(),
		"perSecond": round3(float64(ok.Load()) / o.duration.Seconds()), "latency": hist.Summary(),
		"serverCpuMs": server, "genCpuMs": gen,
		"eventLoopIdle": idleLoop, "eventLoopP99Windows": p99s, "eventLoopMaxMs": maxDelay,
	}
	if len(p99s) > 0 {
		r["eventLoopP99Ms"] = p99s[len(p99s)-1]
	}
	if v := firstErr.Load(); v != nil {
		r["firstError"] = v
	}
	return r
}
