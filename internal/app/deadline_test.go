package app_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
)

// TestSlowBodyIsCut: a client that sends headers and then trickles (or
// stops sending) its body loses the connection after the body read
// timeout instead of holding it for ever; a prompt body is unaffected.
func TestSlowBodyIsCut(t *testing.T) {
	const timeout = time.Second
	s := apitest.Start(t, "", func(c *config.Config) { c.BodyReadTimeout = timeout })
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":")
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(timeout + 20*time.Second))
	status, err := bufio.NewReader(conn).ReadString('\n')
	if elapsed := time.Since(start); elapsed > timeout+15*time.Second {
		t.Fatalf("the server held the connection for %s", elapsed)
	}
	if err == nil && !strings.Contains(status, " 400 ") {
		t.Fatalf("answer to a body that never came: %q", status)
	}

	// A prompt body lifts its deadline: a GraphQL-over-SSE subscription
	// (a POST) still streams after the deadline would have passed.
	req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", strings.NewReader(`{"query":"subscription { agentEvents { event } }"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+s.AdminToken)
	res, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("subscription: %d", res.StatusCode)
	}
	time.Sleep(2 * timeout) // past the subscription's body deadline
	created := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, map[string]any{"name": "late", "runtime": "go", "binary_url": "https://example.com/agent"})
	if created.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", created.Status, created.Body)
	}
	stream := bufio.NewScanner(res.Body)
	for stream.Scan() {
		if strings.Contains(stream.Text(), "agent.created") {
			return
		}
	}
	t.Fatalf("the stream ended before the event: %v", stream.Err())
}
