package live_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
)

// TestLiveOverNATS runs a follow stream and agent events on the NATS bus.
func TestLiveOverNATS(t *testing.T) {
	url := os.Getenv("NEUAIS_TEST_NATS_URL")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "nats://"), time.Second); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs a NATS server at %s: %v", url, err)
		}
		t.Skipf("no NATS server at %s", url)
	} else {
		conn.Close()
	}
	s := apitest.Start(t, sqlite(t), func(c *config.Config) {
		c.RuntimeDriver = config.RuntimeLocal
		c.AllowFileURLs = true
		c.BusURL = url
	})
	ws, _, err := dial(t, s, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.init(s.AdminToken)
	ws.subscribe("1", agentEventsQuery, nil)

	id := createAgent(t, s, "natsy", map[string]string{"TICK_MS": "10"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, events := readSSE(t, ctx, s.URL+"/v1/agents/"+id+"/logs?follow=true&tail=3", s.AdminToken)
	last := 0
	for range 30 {
		ev := next(t, events)
		if n := number(strings.Split(strings.Split(ev.Data, `"message":"`)[1], `"`)[0]); n > 0 {
			if last > 0 && n != last+1 {
				t.Fatalf("line %d after %d", n, last)
			}
			last = n
		}
	}
	if res := s.Do(http.MethodDelete, "/v1/agents/"+id, s.AdminToken, nil); res.Status != http.StatusOK {
		t.Fatalf("delete: %d", res.Status)
	}
	for ev := next(t, events); ev.Event != "error"; ev = next(t, events) {
	}
	for {
		r, ok := ws.nextResult("1")
		if !ok {
			t.Fatal("events stream completed")
		}
		if strings.Contains(string(r.Data), "agent.deleted") {
			break
		}
	}
}
