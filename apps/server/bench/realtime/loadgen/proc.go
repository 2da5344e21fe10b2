package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Linux reports utime/stime in clock ticks; USER_HZ is 100 on every architecture Go runs Linux on.
const ticksPerSecond = 100

// CPU time (user + system, all threads) of a process in milliseconds, from /proc/<pid>/stat.
func cpuMs(pid string) float64 {
	ms, _ := readCpuMs(pid)
	return ms
}

// The same, and whether it could be read (false for no pid, or a process that is gone).
func readCpuMs(pid string) (float64, bool) {
	if pid == "" {
		return 0, false
	}
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces: fields are counted after its closing parenthesis.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) * 1000 / ticksPerSecond, true
}

// Resident set size of a process in KiB, from /proc/<pid>/status.
func rssKiB(pid string) float64 {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kib float64
			fmt.Sscanf(strings.TrimPrefix(line, "VmRSS:"), "%g", &kib)
			return kib
		}
	}
	return 0
}

// CPU meter over a phase: the server's and this generator's CPU between start and stop.
type Meter struct {
	pid          string
	server, self float64
}

func startMeter(pid string) Meter { return Meter{pid, cpuMs(pid), cpuMs("self")} }

func (m Meter) Stop() (serverMs, genMs float64) {
	return cpuMs(m.pid) - m.server, cpuMs("self") - m.self
}
