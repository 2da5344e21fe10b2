// The realtime bench's load generator: one compiled process that speaks Parley's WebSocket
// protocol, a raw `ws` broadcast peer's, Socket.IO's (engine.io v4 over WebSocket) and
// Centrifugo's JSON protocol, runs one scenario and prints its result as one JSON object.
// Server CPU and memory come from /proc/<pid> of the server under test (-pid).
// Driven by apps/server/bench/realtime/run.ts (`pnpm bench:realtime`).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

type Options struct {
	proto, base, metrics, pid, storePid, scenario                         string
	n, workers, prefill, joins, subs, size, inFlight, senders, firstJoins int
	room                                                                  bool
	rates                                                                 []int
	duration, warm, drain, settle                                         time.Duration
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func main() {
	var o Options
	var credsPath, rates string
	flag.StringVar(&o.proto, "proto", "parley", "parley | ws | sio | centrifugo")
	flag.StringVar(&o.base, "base", "", "server base URL, e.g. http://127.0.0.1:8080")
	flag.StringVar(&o.metrics, "metrics", "", "Parley's /metrics URL, on its own listener (METRICS_PORT); the login scenario reads it")
	flag.StringVar(&o.pid, "pid", "", "server process id (CPU and memory from /proc)")
	flag.StringVar(&o.storePid, "store-pid", "", "hot: the storage node's process id (Cassandra's JVM), whose CPU per message is reported too")
	flag.StringVar(&o.scenario, "scenario", "", "idle | connect | join | fanout | hot | history | login")
	flag.StringVar(&credsPath, "creds", "", "Parley accounts and room (JSON written by run.ts)")
	flag.IntVar(&o.n, "n", 1000, "sockets (idle, connect)")
	flag.IntVar(&o.workers, "workers", 32, "connections dialled at once; concurrent HTTP clients")
	flag.BoolVar(&o.room, "room", false, "connect into the room (subscribe)")
	flag.IntVar(&o.prefill, "prefill", 2000, "join: sockets already in the room before the measured joins")
	flag.IntVar(&o.joins, "joins", 500, "join: measured joins after the prefill")
	flag.IntVar(&o.firstJoins, "first", 200, "join: joins compared for CPU (first into the empty room vs. first after the prefill)")
	flag.IntVar(&o.subs, "subs", 1000, "fanout: subscribers")
	flag.StringVar(&rates, "rates", "50,100,200", "fanout: messages per second, one phase each")
	flag.IntVar(&o.size, "size", 200, "message text bytes")
	flag.IntVar(&o.inFlight, "inflight", 1, "hot: sends in flight per socket")
	flag.IntVar(&o.senders, "senders", 1, "hot: sending sockets")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per phase")
	flag.DurationVar(&o.warm, "warm", 2*time.Second, "unmeasured time before each phase")
	flag.DurationVar(&o.settle, "settle", 10*time.Second, "idle: quiet time before each RSS reading (at least 1s)")
	flag.DurationVar(&o.drain, "drain", 10*time.Second, "fanout: the longest wait for late deliveries after a phase")
	flag.Parse()
	for _, r := range strings.Split(rates, ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(r)); err == nil {
			o.rates = append(o.rates, v)
		}
	}
	var creds *Creds
	if credsPath != "" {
		data, err := os.ReadFile(credsPath)
		if err != nil {
			fail(err)
		}
		creds = &Creds{}
		if err := json.Unmarshal(data, creds); err != nil {
			fail(err)
		}
	}
	p, err := makeProto(o.proto, o.base, creds)
	if err != nil {
		fail(err)
	}
	var result any
	switch o.scenario {
	case "idle":
		result = idle(p, o)
	case "connect":
		result = connect(p, o)
	case "join":
		result = join(p, o)
	case "fanout":
		result = fanout(p, o, creds)
	case "hot":
		result = hot(p, o, creds)
	case "history":
		result = history(o, creds)
	case "login":
		result = login(o, creds)
	default:
		fail(fmt.Errorf("unknown scenario %q", o.scenario))
	}
	out, _ := json.Marshal(result)
	fmt.Println(string(out))
	os.Exit(0) // sockets close with the process
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(1)
}
