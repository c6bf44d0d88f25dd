package live_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/orgs"
	"github.com/neuais/neuais/models"
)

// wsClient speaks one of the two GraphQL WebSocket protocols.
type wsClient struct {
	t      *testing.T
	conn   *websocket.Conn
	legacy bool // graphql-ws (subscriptions-transport-ws) instead of graphql-transport-ws
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func dial(t *testing.T, s *apitest.Server, legacy bool, header http.Header) (*wsClient, *http.Response, error) {
	protocol := "graphql-transport-ws"
	if legacy {
		protocol = "graphql-ws"
	}
	d := websocket.Dialer{Subprotocols: []string{protocol}, HandshakeTimeout: 5 * time.Second}
	conn, res, err := d.Dial("ws"+strings.TrimPrefix(s.URL, "http")+"/graphql", header)
	if err != nil {
		return nil, res, err
	}
	t.Cleanup(func() { conn.Close() })
	return &wsClient{t: t, conn: conn, legacy: legacy}, res, nil
}

func (c *wsClient) send(m wsMessage) {
	c.t.Helper()
	if err := c.conn.WriteJSON(m); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next message that is not a keep-alive, within 20 s
// (keep-alives do not extend it).
func (c *wsClient) read() wsMessage {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		var m wsMessage
		if err := c.conn.ReadJSON(&m); err != nil {
			c.t.Fatalf("read: %v", err)
		}
		switch m.Type {
		case "ka", "ping", "pong":
			if m.Type == "ping" {
				c.send(wsMessage{Type: "pong"})
			}
			continue
		}
		return m
	}
}

func (c *wsClient) init(token string) {
	c.t.Helper()
	c.send(wsMessage{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer ` + token + `"}`)})
	if m := c.read(); m.Type != "connection_ack" {
		c.t.Fatalf("init: %+v", m)
	}
}

func (c *wsClient) subscribe(id, query string, vars map[string]any) {
	payload, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	typ := "subscribe"
	if c.legacy {
		typ = "start"
	}
	c.send(wsMessage{ID: id, Type: typ, Payload: payload})
}

type gqlResult struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// nextResult returns the next result of subscription id, or ok=false when it completed.
func (c *wsClient) nextResult(id string) (gqlResult, bool) {
	c.t.Helper()
	m := c.read()
	if m.ID != id {
		c.t.Fatalf("message for %q, want %q: %+v", m.ID, id, m)
	}
	switch m.Type {
	case "next", "data":
		var r gqlResult
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			c.t.Fatal(err)
		}
		return r, true
	case "complete":
		return gqlResult{}, false
	case "error":
		var r gqlResult
		if err := json.Unmarshal(m.Payload, &r.Errors); err != nil {
			if err := json.Unmarshal(m.Payload, &r); err != nil {
				c.t.Fatal(err)
			}
		}
		return r, true
	}
	c.t.Fatalf("unexpected message %+v", m)
	return gqlResult{}, false
}

const agentEventsQuery = `subscription { agentEvents { event data { agentId name status } } }`

// TestAgentEventsOverWebSocket: both protocols see a real agent's start
// and stop, authenticated by the token in connection_init.
func TestAgentEventsOverWebSocket(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		name := map[bool]string{false: "graphql-transport-ws", true: "graphql-ws"}[legacy]
		t.Run(name, func(t *testing.T) {
			s := start(t, sqlite(t))
			c, _, err := dial(t, s, legacy, nil)
			if err != nil {
				t.Fatal(err)
			}
			c.init(s.AdminToken)
			before := subscribers(s)
			c.subscribe("1", agentEventsQuery, nil)
			apitest.Eventually(t, 10*time.Second, "the subscription on the bus", func() bool { return subscribers(s) > before })
			id := createAgent(t, s, "evented", nil)
			if res := s.Do(http.MethodPost, "/v1/agents/"+id+"/stop", s.AdminToken, nil); res.Status != http.StatusOK {
				t.Fatalf("stop: %d %s", res.Status, res.Body)
			}
			var seen []string
			for !strings.Contains(strings.Join(seen, " "), "agent.stopped") {
				r, ok := c.nextResult("1")
				if !ok || len(r.Errors) > 0 {
					t.Fatalf("stream ended or failed: %+v", r)
				}
				var ev struct {
					AgentEvents struct {
						Event string
						Data  struct{ AgentID string }
					}
				}
				if err := json.Unmarshal(r.Data, &ev); err != nil {
					t.Fatal(err)
				}
				if ev.AgentEvents.Data.AgentID != id {
					t.Fatalf("event of another agent: %s", r.Data)
				}
				seen = append(seen, ev.AgentEvents.Event)
			}
			if joined := strings.Join(seen, " "); !strings.HasPrefix(joined, "agent.created") || !strings.Contains(joined, "agent.started") {
				t.Fatalf("events %v: want agent.created, agent.started … agent.stopped", seen)
			}
		})
	}
}

// TestStreamsEnd: a stream ends with a final error when its token expires;
// another organization's agent is not_found; a foreign browser origin and
// a refused init token are rejected.
func TestStreamsEnd(t *testing.T) {
	s := start(t, sqlite(t))
	id := createAgent(t, s, "ender", map[string]string{"TICK_MS": "200"})

	var me struct {
		Me struct {
			ID             string
			OrganizationID string `json:"organizationId"`
			Role           models.Role
		}
	}
	res := s.GraphQL(s.AdminToken, `{ me { id organizationId role } }`, nil)
	if err := json.Unmarshal(res.Data, &me); err != nil {
		t.Fatal(err)
	}
	// A token signed with the server's secret that expires in two seconds.
	tokens := auth.NewTokens([]byte(jwtSecret), func() time.Time { return time.Now().Add(-auth.TokenLifetime + 2*time.Second) })
	short, _, err := tokens.Issue(&models.User{ID: me.Me.ID, OrgID: me.Me.OrganizationID, Role: me.Me.Role})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("TokenExpired", func(t *testing.T) {
		c, _, err := dial(t, s, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.init(short)
		c.subscribe("1", `subscription($id: ID!) { agentLogs(id: $id, tail: 0) { id message } }`, map[string]any{"id": id})
		for {
			r, ok := c.nextResult("1")
			if !ok {
				t.Fatal("completed without a final error")
			}
			if len(r.Errors) > 0 {
				if r.Errors[0].Extensions["code"] != models.CodeUnauthorized || r.Errors[0].Message != "Token expired" {
					t.Fatalf("final error %+v", r.Errors)
				}
				break
			}
		}
		if _, ok := c.nextResult("1"); ok {
			t.Fatal("results after the final error")
		}
	})

	t.Run("OtherOrganizationNotFound", func(t *testing.T) {
		if _, _, err := s.App.Orgs.Create(context.Background(), orgs.CreateParams{Name: "other", AdminEmail: "other@example.com", AdminPassword: "other-password-1"}); err != nil {
			t.Fatal(err)
		}
		other := s.Login("other@example.com", "other-password-1")
		if res := s.Do(http.MethodGet, "/v1/agents/"+id+"/logs", other, nil); res.Status != http.StatusNotFound {
			t.Fatalf("logs of another organization's agent: %d %s", res.Status, res.Body)
		}
		c, _, err := dial(t, s, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.init(other)
		c.subscribe("1", `subscription($id: ID!) { agentMetrics(id: $id) { cpu } }`, map[string]any{"id": id})
		r, _ := c.nextResult("1")
		if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != models.CodeNotFound {
			t.Fatalf("subscription to another organization's agent: %+v", r)
		}
	})

	t.Run("Origins", func(t *testing.T) {
		if _, res, err := dial(t, s, false, http.Header{"Origin": {"https://evil.example"}}); err == nil || res == nil || res.StatusCode == http.StatusSwitchingProtocols {
			t.Fatalf("a foreign origin was accepted: %v", err)
		}
		if _, _, err := dial(t, s, false, http.Header{"Origin": {s.URL}}); err != nil {
			t.Fatalf("the server's own origin was refused: %v", err)
		}
	})

	t.Run("BadInitToken", func(t *testing.T) {
		c, _, err := dial(t, s, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.send(wsMessage{Type: "connection_init", Payload: json.RawMessage(`{"token":"not-a-token"}`)})
		c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			var m wsMessage
			if err := c.conn.ReadJSON(&m); err != nil {
				break // closed: refused
			}
			if m.Type == "connection_ack" {
				t.Fatal("a bad token was acknowledged")
			}
		}
	})
}

// TestGraphQLOverSSE streams a subscription through gqlgen's SSE transport.
func TestGraphQLOverSSE(t *testing.T) {
	s := start(t, sqlite(t))
	id := createAgent(t, s, "sse", map[string]string{"TICK_MS": "20"})
	body, _ := json.Marshal(map[string]any{
		"query":     `subscription($id: ID!) { agentLogs(id: $id, tail: 3) { id level message } }`,
		"variables": map[string]any{"id": id},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+s.AdminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("Content-Type %q", res.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(res.Body)
	lines := 0
	for sc.Scan() && lines < 6 {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var r gqlResult
			if err := json.Unmarshal([]byte(data), &r); err != nil || len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"agentLogs":{"id":`) {
				t.Fatalf("event %s", data)
			}
			lines++
		}
	}
	if lines < 6 {
		t.Fatalf("got %d events: %v", lines, sc.Err())
	}
}
