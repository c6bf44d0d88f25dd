package agents_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/models"
)

func TestIdempotencyKey(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		first := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, createBody, "Idempotency-Key", "key-1")
		if first.Status != 201 {
			t.Fatalf("%d %s", first.Status, first.Body)
		}
		t.Run("RetryReturnsFirstResponse", func(t *testing.T) {
			// The same body with its keys in another order is the same request.
			again := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, withField(t, "runtime", "rust"), "Idempotency-Key", "key-1")
			if again.Status != 201 || string(again.Body) != string(first.Body) || again.Header.Get("Location") != first.Header.Get("Location") {
				t.Fatalf("%d %s, want %s", again.Status, again.Body, first.Body)
			}
			if list := s.Do(http.MethodGet, "/v1/agents", s.AdminToken, nil).JSON(t); list["total"] != float64(1) {
				t.Fatalf("retry created an agent: %v", list)
			}
		})
		t.Run("ErrOtherBody", func(t *testing.T) {
			res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, withField(t, "name", "other"), "Idempotency-Key", "key-1")
			if res.Status != http.StatusConflict || res.ErrorCode() != "conflict" || res.ErrorField() != "Idempotency-Key" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("OtherKeyCreates", func(t *testing.T) {
			res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, withField(t, "name", "second"), "Idempotency-Key", "key-2")
			if res.Status != 201 {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("ExpiredKeyIsNew", func(t *testing.T) {
			if _, err := s.App.DB.NewUpdate().Table("idempotency_keys").Set("created_at = ?", time.Now().Add(-25*time.Hour)).Where("idempotency_key = ?", "key-2").Exec(context.Background()); err != nil {
				t.Fatal(err)
			}
			res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, withField(t, "name", "third"), "Idempotency-Key", "key-2")
			if res.Status != 201 {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		keys := func(key string) int64 {
			n, err := s.App.DB.NewSelect().Table("idempotency_keys").Where("idempotency_key = ?", key).Count(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		t.Run("SweepRemovesExpired", func(t *testing.T) {
			res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, withField(t, "name", "swept"), "Idempotency-Key", "key-3")
			if res.Status != 201 || keys("key-3") != 1 {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			if _, err := s.App.DB.NewUpdate().Table("idempotency_keys").Set("created_at = ?", time.Now().Add(-25*time.Hour)).Where("idempotency_key = ?", "key-3").Exec(context.Background()); err != nil {
				t.Fatal(err)
			}
			n, err := s.App.Agents.SweepIdempotencyKeys(context.Background())
			if err != nil || n != 1 || keys("key-3") != 0 || keys("key-1") != 1 {
				t.Fatalf("swept %d, %v; key-3 %d, key-1 %d left", n, err, keys("key-3"), keys("key-1"))
			}
		})
		t.Run("DeletePurgesRecord", func(t *testing.T) {
			res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, withField(t, "name", "purged"), "Idempotency-Key", "key-4")
			if res.Status != 201 || keys("key-4") != 1 {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			id, _ := res.JSON(t)["id"].(string)
			if del := s.Do(http.MethodDelete, "/v1/agents/"+id, s.AdminToken, nil); del.Status != 200 {
				t.Fatalf("delete %d %s", del.Status, del.Body)
			}
			if n := keys("key-4"); n != 0 {
				t.Fatalf("%d idempotency records of a deleted agent (they hold its environment)", n)
			}
		})
		t.Run("ConcurrentRetriesCreateOne", func(t *testing.T) {
			results := make(chan *apitest.Response, 4)
			for range cap(results) {
				go func() {
					results <- s.Do(http.MethodPost, "/v1/agents", s.AdminToken, withField(t, "name", "raced"), "Idempotency-Key", "race")
				}()
			}
			var bodies []string
			for range cap(results) {
				res := <-results
				if res.Status != 201 {
					t.Fatalf("%d %s", res.Status, res.Body)
				}
				bodies = append(bodies, string(res.Body))
			}
			for _, b := range bodies[1:] {
				if b != bodies[0] {
					t.Fatalf("different answers: %s and %s", bodies[0], b)
				}
			}
		})
		t.Run("GraphQL", func(t *testing.T) {
			const q = `mutation($in: CreateAgentInput!, $key: String) { createAgent(input: $in, idempotencyKey: $key) { id } }`
			in := map[string]any{"name": "gql-idem", "runtime": "go", "binaryUrl": "https://example.com/a"}
			a := s.GraphQL(s.AdminToken, q, map[string]any{"in": in, "key": "gql"})
			b := s.GraphQL(s.AdminToken, q, map[string]any{"in": in, "key": "gql"})
			if len(a.Errors) > 0 || string(a.Data) != string(b.Data) {
				t.Fatalf("%s %s %+v", a.Data, b.Data, b.Errors)
			}
		})
	})
}

func TestETagAndIfMatch(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		id := mustCreate(t, s, s.AdminToken, "my-agent")
		etag := s.Do(http.MethodGet, "/v1/agents/"+id, s.AdminToken, nil).Header.Get("ETag")
		if etag != `"1"` {
			t.Fatalf("ETag %q", etag)
		}
		update := s.Do(http.MethodPut, "/v1/agents/"+id, s.AdminToken, `{"config": {"replicas": 4}}`, "If-Match", etag)
		if update.Status != 200 || update.Header.Get("ETag") != `"2"` {
			t.Fatalf("%d %s %q", update.Status, update.Body, update.Header.Get("ETag"))
		}
		t.Run("ErrStaleUpdate", func(t *testing.T) {
			res := s.Do(http.MethodPut, "/v1/agents/"+id, s.AdminToken, `{"config": {"replicas": 5}}`, "If-Match", etag)
			if res.Status != http.StatusPreconditionFailed || res.ErrorCode() != "precondition_failed" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			if got := s.Do(http.MethodGet, "/v1/agents/"+id, s.AdminToken, nil).JSON(t); got["replicas"] != float64(4) {
				t.Fatalf("stale update was applied: %v", got)
			}
		})
		t.Run("ErrStaleDelete", func(t *testing.T) {
			res := s.Do(http.MethodDelete, "/v1/agents/"+id, s.AdminToken, nil, "If-Match", etag)
			if res.Status != http.StatusPreconditionFailed {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("WeakAndStarMatch", func(t *testing.T) {
			res := s.Do(http.MethodPut, "/v1/agents/"+id, s.AdminToken, `{"config": {"cpu": "2"}}`, "If-Match", `W/"2"`)
			if res.Status != 200 {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			if res = s.Do(http.MethodPut, "/v1/agents/"+id, s.AdminToken, `{"config": {"cpu": "1"}}`, "If-Match", "*"); res.Status != 200 {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("DeleteWithCurrentETag", func(t *testing.T) {
			current := s.Do(http.MethodGet, "/v1/agents/"+id, s.AdminToken, nil).Header.Get("ETag")
			if res := s.Do(http.MethodDelete, "/v1/agents/"+id, s.AdminToken, nil, "If-Match", current); res.Status != 200 {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
	})
}

func TestWait(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		id := mustCreate(t, s, s.AdminToken, "my-agent")
		t.Run("AlreadyThere", func(t *testing.T) {
			res := s.Do(http.MethodGet, "/v1/agents/"+id+"/wait?status=deploying", s.AdminToken, nil)
			if res.Status != 200 || res.JSON(t)["status"] != "deploying" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("ErrTimeout", func(t *testing.T) {
			start := time.Now()
			res := s.Do(http.MethodGet, "/v1/agents/"+id+"/wait?status=running&timeout=200ms", s.AdminToken, nil)
			if res.Status != http.StatusRequestTimeout || res.ErrorCode() != "timeout" || !strings.Contains(string(res.Body), `"status":"deploying"`) {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			if d := time.Since(start); d < 200*time.Millisecond || d > 5*time.Second {
				t.Fatalf("returned after %s", d)
			}
		})
		t.Run("ErrTimeoutBeforeTheFirstRead", func(t *testing.T) {
			res := s.Do(http.MethodGet, "/v1/agents/"+id+"/wait?status=running&timeout=1ns", s.AdminToken, nil)
			if res.Status != http.StatusRequestTimeout || !strings.Contains(string(res.Body), `"status":"deploying"`) {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("ReturnsOnStatusChange", func(t *testing.T) {
			done := make(chan *apitest.Response, 1)
			go func() {
				done <- s.Do(http.MethodGet, "/v1/agents/"+id+"/wait?status=running&timeout=30s", s.AdminToken, nil)
			}()
			// The runtime's part: write the status, then publish; published
			// again until the wait returns, as it may subscribe after the first.
			ctx := context.Background()
			if _, err := s.App.DB.NewUpdate().Table("agents").Set("status = ?", models.AgentRunning).Where("id = ?", id).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			res := untilDone(t, done, func() {
				err := s.App.Bus.Publish(ctx, events.Message{Topic: events.AgentEventsTopic(orgID(t, s)), Type: events.AgentStarted,
					Payload: events.AgentEvent{Event: events.AgentStarted, Data: events.AgentEventData{AgentID: id, Status: "running"}}})
				if err != nil {
					t.Error(err)
				}
			})
			if res.Status != 200 || res.JSON(t)["status"] != "running" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("GraphQL", func(t *testing.T) {
			gql := s.GraphQL(s.AdminToken, `query($id: ID!) { waitForAgent(id: $id, status: "stopped", timeout: "100ms") { id } }`, map[string]any{"id": id})
			if gql.Code() != "timeout" {
				t.Fatalf("%s %+v", gql.Data, gql.Errors)
			}
		})
		t.Run("ErrDeletedWhileWaiting", func(t *testing.T) {
			done := make(chan *apitest.Response, 1)
			go func() {
				done <- s.Do(http.MethodGet, "/v1/agents/"+id+"/wait?status=stopped&timeout=30s", s.AdminToken, nil)
			}()
			if res := s.Do(http.MethodDelete, "/v1/agents/"+id, s.AdminToken, nil); res.Status != 200 {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			if res := untilDone(t, done, func() {}); res.Status != 404 {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
	})
}

// untilDone calls nudge every 20ms until a response arrives on done,
// failing after 10s.
func untilDone(t *testing.T, done <-chan *apitest.Response, nudge func()) *apitest.Response {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		nudge()
		select {
		case res := <-done:
			return res
		case <-tick.C:
		case <-deadline:
			t.Fatal("no response within 10s")
		}
	}
}

func orgID(t *testing.T, s *apitest.Server) string {
	t.Helper()
	id, err := s.App.Auth.Authenticate(context.Background(), s.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	return id.OrgID
}

func TestGraphQLMutations(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		id := mustCreate(t, s, s.AdminToken, "my-agent")
		vars := map[string]any{"id": id}
		for _, tc := range []struct{ name, doc, want string }{
			{"Update", `mutation($id: ID!) { updateAgent(id: $id, input: {config: {memory: "2Gi"}, environment: {A: "1"}}, ifMatch: "1") { etag config { memory } environment } }`,
				`{"updateAgent":{"etag":"2","config":{"memory":"2Gi"},"environment":{"A":"1"}}}`},
			{"Stop", `mutation($id: ID!) { stopAgent(id: $id) { etag } }`, `{"stopAgent":{"etag":"3"}}`},
			{"Start", `mutation($id: ID!) { startAgent(id: $id) { etag } }`, `{"startAgent":{"etag":"4"}}`},
			{"Restart", `mutation($id: ID!) { restartAgent(id: $id) { etag } }`, `{"restartAgent":{"etag":"5"}}`},
			{"Scale", `mutation($id: ID!) { scaleAgent(id: $id, replicas: 2) { replicas config { replicas } } }`, `{"scaleAgent":{"replicas":2,"config":{"replicas":2}}}`},
			{"Delete", `mutation($id: ID!) { deleteAgent(id: $id, ifMatch: "6") { name } }`, `{"deleteAgent":{"name":"my-agent"}}`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				gql := s.GraphQL(s.AdminToken, tc.doc, vars)
				if len(gql.Errors) > 0 || strings.ReplaceAll(string(gql.Data), "\n", "") != tc.want {
					t.Fatalf("%s %+v", gql.Data, gql.Errors)
				}
			})
		}
		t.Run("ErrNotFoundAfterDelete", func(t *testing.T) {
			if gql := s.GraphQL(s.AdminToken, `query($id: ID!) { agent(id: $id) { id } }`, vars); gql.Code() != "not_found" {
				t.Fatalf("%+v", gql.Errors)
			}
		})
	})
}
