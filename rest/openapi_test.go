package rest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/rest"
)

// TestOpenAPI checks that GET /v1/openapi.json is a valid OpenAPI 3.1
// document naming every route, and validates real requests and responses
// of every route against it, errors included.
func TestOpenAPI(t *testing.T) {
	s := apitest.Start(t, "")
	res := s.Do(http.MethodGet, "/v1/openapi.json", "", nil)
	if res.Status != 200 {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	doc, err := libopenapi.NewDocument(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("document: %s: %s", e.Message, e.Reason)
		}
		t.FailNow()
	}
	var spec struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(res.Body, &spec); err != nil || spec.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q: %v", spec.OpenAPI, err)
	}
	for _, r := range rest.Routes() {
		if _, ok := spec.Paths[r.Path][strings.ToLower(r.Method)]; !ok {
			t.Errorf("%s %s is not documented", r.Method, r.Path)
		}
	}

	covered := map[string]bool{}
	check := func(name, method, path, token, body string, want int, headers ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("%s: %d %s, want %d", name, res.StatusCode, data, want)
		}
		// The validator reads both bodies again.
		req.Body = io.NopCloser(strings.NewReader(body))
		res.Body = io.NopCloser(bytes.NewReader(data))
		if want < 400 {
			if ok, verrs := v.ValidateHttpRequest(req); !ok {
				for _, e := range verrs {
					t.Errorf("%s: request: %s: %s", name, e.Message, e.Reason)
				}
			}
			req.Body = io.NopCloser(strings.NewReader(body))
		}
		if ok, verrs := v.ValidateHttpResponse(req, res); !ok {
			for _, e := range verrs {
				t.Errorf("%s: response %s: %s: %s", name, data, e.Message, e.Reason)
			}
		}
		res.Body = io.NopCloser(bytes.NewReader(data))
		covered[name] = true
		return res
	}
	const create = `{"name": "my-agent", "runtime": "rust", "binary_url": "https://storage.neuais.com/binaries/my-agent",
		"config": {"cpu": "1.0", "memory": "1Gi", "replicas": 3}, "environment": {"LOG_LEVEL": "info"}}`
	tok := s.AdminToken
	check("token", http.MethodPost, "/v1/auth/token", "", `{"email": "`+apitest.AdminEmail+`", "password": "`+apitest.AdminPassword+`"}`, 200)
	created := check("create", http.MethodPost, "/v1/agents", tok, create, 201, "Idempotency-Key", "k1")
	var agent struct{ ID string }
	if err := json.NewDecoder(created.Body).Decode(&agent); err != nil {
		t.Fatal(err)
	}
	id := "/v1/agents/" + agent.ID
	check("create conflict", http.MethodPost, "/v1/agents", tok, create, 409)
	check("create invalid", http.MethodPost, "/v1/agents", tok, `{"name": "x", "runtime": "rust", "binary_url": "https://a/b", "config": {"replicas": 0}}`, 400)
	check("list", http.MethodGet, "/v1/agents?status=deploying&limit=10&sort=name", tok, "", 200)
	check("list fields", http.MethodGet, "/v1/agents?fields=id,name,status", tok, "", 200)
	check("list unauthorized", http.MethodGet, "/v1/agents", "", "", 401)
	check("get", http.MethodGet, id, tok, "", 200)
	check("get missing", http.MethodGet, "/v1/agents/agt_0000000000000000", tok, "", 404)
	check("update", http.MethodPut, id, tok, `{"binary_url": "https://storage.neuais.com/binaries/my-agent-v2", "config": {"replicas": 5}}`, 200, "If-Match", `"1"`)
	check("update stale", http.MethodPut, id, tok, `{"config": {"replicas": 4}}`, 412, "If-Match", `"1"`)
	check("start", http.MethodPost, id+"/start", tok, "", 200)
	check("stop", http.MethodPost, id+"/stop", tok, "", 200)
	check("restart", http.MethodPost, id+"/restart", tok, "", 200)
	check("scale", http.MethodPost, id+"/scale", tok, `{"replicas": 5}`, 200)
	check("wait", http.MethodGet, id+"/wait?status=restarting&timeout=1s", tok, "", 200) // the restart above, with no runtime to end it
	check("wait timeout", http.MethodGet, id+"/wait?status=running&timeout=50ms", tok, "", 408)
	check("logs", http.MethodGet, id+"/logs?tail=10&since=1h&level=info", tok, "", 200)
	check("logs invalid", http.MethodGet, id+"/logs?tail=x", tok, "", 400)
	check("metrics", http.MethodGet, id+"/metrics?period=24h", tok, "", 200)
	check("metrics one series", http.MethodGet, id+"/metrics?metric=cpu", tok, "", 200)
	check("delete", http.MethodDelete, id, tok, "", 200)

	user := check("create user", http.MethodPost, "/v1/users", tok, `{"email": "user@example.com", "password": "secure-password", "role": "developer"}`, 201)
	var u struct{ ID string }
	if err := json.NewDecoder(user.Body).Decode(&u); err != nil {
		t.Fatal(err)
	}
	check("list users", http.MethodGet, "/v1/users?fields=id,email,role", tok, "", 200)
	check("get user", http.MethodGet, "/v1/users/"+u.ID, tok, "", 200)
	check("update user", http.MethodPut, "/v1/users/"+u.ID, tok, `{"role": "viewer"}`, 200)
	check("delete user", http.MethodDelete, "/v1/users/"+u.ID, tok, "", 200)
	check("services", http.MethodGet, "/v1/services", tok, "", 200)
	check("services page", http.MethodGet, "/v1/services?limit=1&offset=1&sort=name:desc&fields=name,status", tok, "", 200)
	check("unknown parameter", http.MethodGet, "/v1/agents?foo=bar", tok, "", 400)
	check("service status", http.MethodGet, "/v1/services/database/status", tok, "", 200)
	hook := check("create webhook", http.MethodPost, "/v1/webhooks", tok, `{"url": "https://example.com/webhook", "events": ["agent.created", "agent.stopped"], "secret": "your-webhook-secret"}`, 201, "Idempotency-Key", "w1")
	var w struct{ ID string }
	if err := json.NewDecoder(hook.Body).Decode(&w); err != nil {
		t.Fatal(err)
	}
	wid := "/v1/webhooks/" + w.ID
	check("create webhook invalid", http.MethodPost, "/v1/webhooks", tok, `{"url": "https://example.com/webhook", "events": ["agent.exploded"]}`, 400)
	check("list webhooks", http.MethodGet, "/v1/webhooks?limit=10&fields=id,url,status", tok, "", 200)
	check("get webhook", http.MethodGet, wid, tok, "", 200)
	check("update webhook", http.MethodPut, wid, tok, `{"events": ["*"], "active": true}`, 200)
	check("rotate webhook secret", http.MethodPost, wid+"/rotate-secret", tok, "", 200)
	test := check("test webhook", http.MethodPost, wid+"/test", tok, "", 202)
	var d struct{ ID string }
	if err := json.NewDecoder(test.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	check("webhook deliveries", http.MethodGet, wid+"/deliveries?status=pending&limit=5", tok, "", 200)
	check("retry delivery", http.MethodPost, wid+"/deliveries/"+d.ID+"/retry", tok, "", 202)
	check("events", http.MethodGet, "/v1/events?type=agent.created&limit=5", tok, "", 200)
	check("usage", http.MethodGet, "/v1/billing/usage?period=current", tok, "", 200)
	check("usage by agent", http.MethodGet, "/v1/billing/usage?period=last_month&breakdown=agent", tok, "", 200)
	check("usage invalid", http.MethodGet, "/v1/billing/usage?period=2024-1", tok, "", 400)
	check("invoices", http.MethodGet, "/v1/billing/invoices?limit=5", tok, "", 200)
	check("invoice missing", http.MethodGet, "/v1/billing/invoices/inv_0000000000000000", tok, "", 404)
	check("delete webhook", http.MethodDelete, wid, tok, "", 200)
	if len(covered) < len(rest.Routes()) {
		t.Errorf("checked %d exchanges for %d routes", len(covered), len(rest.Routes()))
	}
}

// TestOpenAPIDropNulls: on a DropNulls route a member that may be null is
// optional and never null, in the objects dropNulls walks; array items,
// which it keeps as they are, keep their nulls.
func TestOpenAPIDropNulls(t *testing.T) {
	s := apitest.Start(t, "")
	type schema struct {
		Type       any                `json:"type"`
		Required   []string           `json:"required"`
		Properties map[string]*schema `json:"properties"`
		Items      *schema            `json:"items"`
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]struct{ Schema *schema }
			}
		}
	}
	if err := json.Unmarshal(s.Do(http.MethodGet, "/v1/openapi.json", "", nil).Body, &doc); err != nil {
		t.Fatal(err)
	}
	body := func(path string) *schema {
		return doc.Paths[path]["get"].Responses["200"].Content["application/json"].Schema
	}
	events := body("/events")
	if got := strings.Join(events.Required, " "); got != "events total limit offset has_more" {
		t.Errorf("events list required %q", got)
	}
	data := events.Properties["events"].Items.Properties["data"]
	if !slices.Contains(data.Required, "changed") || fmt.Sprint(data.Properties["changed"].Type) != "[array null]" {
		t.Errorf("listed event data: required %v, changed %v", data.Required, data.Properties["changed"].Type)
	}
	metrics := body("/agents/{id}/metrics").Properties["metrics"]
	if cpu := metrics.Properties["cpu"]; slices.Contains(metrics.Required, "cpu") || cpu.Type != "array" {
		t.Errorf("metrics: required %v, cpu %v", metrics.Required, cpu.Type)
	}
}
