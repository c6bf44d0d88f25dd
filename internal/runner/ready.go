package runner

import (
	"net"
	"os"
	"strconv"
	"time"
)

// Ready is the pod's readiness probe: the agent is ready once something
// accepts TCP connections on 127.0.0.1:port, or, for agents that serve
// nothing, once the binary the runner wrote just before it exec'd it is
// after old, so the grace period does not count the download.
func Ready(port int, after time.Duration, binary string) bool {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err == nil {
		conn.Close()
		return true
	}
	fi, err := os.Stat(binary)
	return err == nil && time.Since(fi.ModTime()) >= after
}
