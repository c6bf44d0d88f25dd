package agents_test

import (
	"maps"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
)

var (
	agentIDRE = regexp.MustCompile(`^agt_[0-9a-f]{16}$`)
	timeRE    = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)
)

func keys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// TestContractExamples sends every request example of the Agents section
// as written and checks the documented answer shapes.
func TestContractExamples(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		tok := s.AdminToken

		res := s.Do(http.MethodPost, "/v1/agents", tok, createBody)
		created := res.JSON(t)
		if res.Status != http.StatusCreated || !slices.Equal(keys(created), []string{"created_at", "id", "name", "status"}) ||
			!agentIDRE.MatchString(created["id"].(string)) || created["name"] != "my-agent" || created["status"] != "deploying" ||
			!timeRE.MatchString(created["created_at"].(string)) {
			t.Fatalf("create: %d %s", res.Status, res.Body)
		}
		id := created["id"].(string)
		if loc := res.Header.Get("Location"); loc != "/v1/agents/"+id {
			t.Errorf("Location %q", loc)
		}

		t.Run("List", func(t *testing.T) {
			res := s.Do(http.MethodGet, "/v1/agents", tok, nil)
			body := res.JSON(t)
			if res.Status != 200 || body["total"] != float64(1) || body["limit"] != float64(100) || body["offset"] != float64(0) || body["has_more"] != false {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			item := body["agents"].([]any)[0].(map[string]any)
			for _, k := range []string{"id", "name", "status", "replicas", "region", "created_at", "updated_at"} {
				if _, ok := item[k]; !ok {
					t.Errorf("list item lacks %s: %s", k, res.Body)
				}
			}
			if _, ok := item["environment"]; ok {
				t.Errorf("list item carries the environment: %s", res.Body)
			}
			if item["replicas"] != float64(3) || item["region"] != "local" {
				t.Errorf("list item %v", item)
			}
		})
		t.Run("ListFieldsAndFilters", func(t *testing.T) {
			res := s.Do(http.MethodGet, "/v1/agents?status=deploying&region=local&limit=50&offset=0&sort=created_at:desc&fields=id,name,status", tok, nil)
			body := res.JSON(t)
			if res.Status != 200 || body["total"] != float64(1) || body["limit"] != float64(50) {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			if item := body["agents"].([]any)[0].(map[string]any); !slices.Equal(keys(item), []string{"id", "name", "status"}) {
				t.Errorf("fields=: %s", res.Body)
			}
			if res := s.Do(http.MethodGet, "/v1/agents?status=running", tok, nil); !strings.Contains(string(res.Body), `"agents":[]`) {
				t.Errorf("status=running: %s", res.Body)
			}
			// The contract's own filter example: a region no agent runs in
			// (the server has only local) is an empty list, not an error.
			res = s.Do(http.MethodGet, "/v1/agents?status=running&region=us-west-2", tok, nil)
			if body := res.JSON(t); res.Status != 200 || !strings.Contains(string(res.Body), `"agents":[]`) || body["total"] != float64(0) {
				t.Errorf("region=us-west-2: %d %s", res.Status, res.Body)
			}
			if res := s.Do(http.MethodGet, "/v1/agents?region=local", tok, nil); res.JSON(t)["total"] != float64(1) {
				t.Errorf("region=local: %s", res.Body)
			}
		})
		t.Run("Get", func(t *testing.T) {
			res := s.Do(http.MethodGet, "/v1/agents/"+id, tok, nil)
			body := res.JSON(t)
			if res.Status != 200 || body["id"] != id || body["name"] != "my-agent" || body["replicas"] != float64(3) {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			cfg := body["config"].(map[string]any)
			if cfg["cpu"] != "1.0" || cfg["memory"] != "1Gi" {
				t.Errorf("config %v", cfg)
			}
			// The default template takes the server's port, and the default organization's slug.
			want := "http://my-agent.default.localhost:" + strconv.Itoa(s.Listener.Addr().(*net.TCPAddr).Port)
			if eps := body["endpoints"].([]any); len(eps) != 1 || eps[0] != want {
				t.Errorf("endpoints %v", eps)
			}
			if env := body["environment"].(map[string]any); env["LOG_LEVEL"] != "info" {
				t.Errorf("environment %v", env)
			}
			if _, ok := body["_etag"]; ok || res.Header.Get("ETag") != `"1"` {
				t.Errorf("etag: header %q body %s", res.Header.Get("ETag"), res.Body)
			}
		})
		t.Run("Update", func(t *testing.T) {
			res := s.Do(http.MethodPut, "/v1/agents/"+id, tok, `{"binary_url": "https://storage.neuais.com/binaries/my-agent-v2", "config": {"replicas": 5}}`)
			body := res.JSON(t)
			cfg := body["config"].(map[string]any)
			if res.Status != 200 || body["binary_url"] != "https://storage.neuais.com/binaries/my-agent-v2" || body["replicas"] != float64(5) ||
				cfg["cpu"] != "1.0" || cfg["memory"] != "1Gi" || body["environment"].(map[string]any)["LOG_LEVEL"] != "info" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("Lifecycle", func(t *testing.T) {
			for _, action := range []string{"start", "stop", "restart"} {
				res := s.Do(http.MethodPost, "/v1/agents/"+id+"/"+action, tok, nil)
				if res.Status != 200 || res.JSON(t)["id"] != id {
					t.Errorf("%s: %d %s", action, res.Status, res.Body)
				}
			}
			res := s.Do(http.MethodPost, "/v1/agents/"+id+"/scale", tok, `{"replicas": 5}`)
			if res.Status != 200 || res.JSON(t)["replicas"] != float64(5) {
				t.Errorf("scale: %d %s", res.Status, res.Body)
			}
			res = s.Do(http.MethodPost, "/v1/agents/"+id+"/scale", tok, `{"replicas": 0}`)
			if res.Status != 400 || string(res.Body) != `{"error":{"code":"invalid_request","message":"replicas must be greater than 0","details":{"field":"replicas","reason":"must be greater than 0"}}}`+"\n" {
				t.Errorf("scale 0: %d %s", res.Status, res.Body)
			}
		})
		t.Run("Delete", func(t *testing.T) {
			res := s.Do(http.MethodDelete, "/v1/agents/"+id, tok, nil)
			if res.Status != 200 || string(res.Body) != `{"message":"Agent deleted successfully"}`+"\n" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			if res := s.Do(http.MethodGet, "/v1/agents/"+id, tok, nil); res.Status != 404 || res.ErrorCode() != "not_found" {
				t.Fatalf("after delete: %d %s", res.Status, res.Body)
			}
		})
	})
}
