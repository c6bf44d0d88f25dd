package agents_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
)

// agentQuery is the document GET /v1/agents/{id} runs, sent to /graphql as is.
const agentQuery = `query($id: ID!) { r: agent(id: $id) { _etag: etag id name status replicas region runtime binary_url: binaryUrl binary_sha256: binarySha256
	config { cpu memory replicas } environment endpoints created_at: createdAt updated_at: updatedAt } }`

// BenchmarkAgents compares one agent read through REST with the same
// query POSTed to /graphql, and a 100-agent list with and without
// fields=id,name,status; all over a real loopback listener on SQLite.
func BenchmarkAgents(b *testing.B) {
	s := apitest.Start(b, "")
	ids := make([]string, 100)
	for i := range ids {
		res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, fmt.Sprintf(`{"name": "agent-%03d", "runtime": "go", "binary_url": "https://example.com/a",
			"config": {"cpu": "1.0", "memory": "1Gi", "replicas": 3}, "environment": {"LOG_LEVEL": "info"}}`, i))
		if res.Status != http.StatusCreated {
			b.Fatalf("%d %s", res.Status, res.Body)
		}
		ids[i] = res.JSON(b)["id"].(string)
	}
	gqlBody, err := json.Marshal(map[string]any{"query": agentQuery, "variables": map[string]any{"id": ids[0]}})
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, method, path string, body []byte) {
		b.ReportAllocs()
		for b.Loop() {
			req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+s.AdminToken)
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			res, err := s.Client().Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Fatalf("%s %s: %d", method, path, res.StatusCode)
			}
		}
	}
	b.Run("GetREST", func(b *testing.B) { run(b, http.MethodGet, "/v1/agents/"+ids[0], nil) })
	b.Run("GetGraphQL", func(b *testing.B) { run(b, http.MethodPost, "/graphql", gqlBody) })
	b.Run("List100", func(b *testing.B) { run(b, http.MethodGet, "/v1/agents?limit=100", nil) })
	b.Run("List100Fields", func(b *testing.B) { run(b, http.MethodGet, "/v1/agents?limit=100&fields=id,name,status", nil) })
}
