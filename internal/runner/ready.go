package runner

import (
	"bytes"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/*/stat times: 100 on Linux.
const clockTicks = 100

// Ready is the pod's readiness probe: the agent is ready once something
// accepts TCP connections on 127.0.0.1:port, or, for agents that serve
// nothing, once process 1 (the runner, then the agent it became) has run
// for after.
func Ready(port int, after time.Duration) bool {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err == nil {
		conn.Close()
		return true
	}
	running, ok := pid1Running()
	return ok && running >= after
}

// pid1Running is how long process 1 has run: the uptime less its start
// time since boot, field 22 of /proc/1/stat.
func pid1Running() (time.Duration, bool) {
	stat, err := os.ReadFile("/proc/1/stat")
	if err != nil {
		return 0, false
	}
	// Field 2, the command in parentheses, may hold spaces: count after it.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(string(stat[i+1:])) // from field 3
	if len(fields) < 20 {
		return 0, false
	}
	start, err := strconv.ParseInt(fields[19], 10, 64)
	if err != nil {
		return 0, false
	}
	uptime, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, false
	}
	secs, _, _ := strings.Cut(string(uptime), " ")
	up, err := strconv.ParseFloat(secs, 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(up*float64(time.Second)) - time.Duration(start)*time.Second/clockTicks, true
}
