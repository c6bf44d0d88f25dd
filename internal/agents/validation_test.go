package agents_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
)

// withField returns the contract's create example with one member set
// (value nil removes it); path is dotted for config and environment.
func withField(t *testing.T, path string, value any) map[string]any {
	t.Helper()
	body := map[string]any{}
	if err := json.Unmarshal([]byte(createBody), &body); err != nil {
		t.Fatal(err)
	}
	m := body
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		m = m[p].(map[string]any)
	}
	if value == nil {
		delete(m, parts[len(parts)-1])
	} else {
		m[parts[len(parts)-1]] = value
	}
	return body
}

type badInput struct {
	name   string
	body   any
	field  string
	reason string // a part of the reason
}

func TestCreateValidation(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url, func(c *config.Config) { c.Regions = []string{"us-west-2", "eu-west-1"} })
		cases := []badInput{
			{"ErrNameMissing", withField(t, "name", nil), "name", "is required"},
			{"ErrNameEmpty", withField(t, "name", ""), "name", "DNS label"},
			{"ErrNameUppercase", withField(t, "name", "My-Agent"), "name", "DNS label"},
			{"ErrNameUnderscore", withField(t, "name", "my_agent"), "name", "DNS label"},
			{"ErrNameLeadingHyphen", withField(t, "name", "-agent"), "name", "DNS label"},
			{"ErrNameTooLong", withField(t, "name", strings.Repeat("a", 64)), "name", "DNS label"},
			{"ErrNameNotString", withField(t, "name", 5), "name", "must be a string"},
			{"ErrRuntimeUnknown", withField(t, "runtime", "java"), "runtime", "must be one of go, rust, native"},
			{"ErrRuntimeMissing", withField(t, "runtime", nil), "runtime", "is required"},
			{"ErrRegionUnknown", withField(t, "region", "mars-1"), "region", "must be one of us-west-2, eu-west-1"},
			{"ErrBinaryURLMissing", withField(t, "binary_url", nil), "binary_url", "is required"},
			{"ErrBinaryURLEmpty", withField(t, "binary_url", ""), "binary_url", "is required"},
			{"ErrBinaryURLScheme", withField(t, "binary_url", "ftp://example.com/agent"), "binary_url", "http or https"},
			{"ErrBinaryURLFileDisabled", withField(t, "binary_url", "file:///usr/local/bin/agent"), "binary_url", "file URLs are disabled"},
			{"ErrBinaryURLNoHost", withField(t, "binary_url", "https:///agent"), "binary_url", "host"},
			{"ErrBinaryURLNotString", withField(t, "binary_url", []any{"https://a"}), "binary_url", "must be a string"},
			{"ErrBinarySHA256", withField(t, "binary_sha256", "abc"), "binary_sha256", "64 lowercase hexadecimal"},
			{"ErrCPUWord", withField(t, "config.cpu", "one"), "config.cpu", "decimal number of cores"},
			{"ErrCPUZero", withField(t, "config.cpu", "0"), "config.cpu", "between"},
			{"ErrCPUTooMany", withField(t, "config.cpu", "65"), "config.cpu", "between"},
			{"ErrCPUNumber", withField(t, "config.cpu", 1.0), "config.cpu", "must be a string"},
			{"ErrMemoryUnit", withField(t, "config.memory", "1GB"), "config.memory", "quantity"},
			{"ErrMemoryTooSmall", withField(t, "config.memory", "1Mi"), "config.memory", "quantity"},
			{"ErrMemoryTooLarge", withField(t, "config.memory", "1Ti"), "config.memory", "quantity"},
			{"ErrMemoryNegative", withField(t, "config.memory", "-1Gi"), "config.memory", "quantity"},
			{"ErrReplicasZero", withField(t, "config.replicas", 0), "config.replicas", "must be greater than 0"},
			{"ErrReplicasNegative", withField(t, "config.replicas", -2), "config.replicas", "must be greater than 0"},
			{"ErrReplicasTooMany", withField(t, "config.replicas", 21), "config.replicas", "must be at most 20"},
			{"ErrReplicasFraction", withField(t, "config.replicas", 1.5), "config.replicas", "must be an integer"},
			{"ErrReplicasString", withField(t, "config.replicas", "3"), "config.replicas", "must be an integer"},
			{"ErrConfigNotObject", withField(t, "config", "big"), "config", "must be an object"},
			{"ErrEnvKeyDigit", withField(t, "environment.1BAD", "x"), "environment.1BAD", "variable name"},
			{"ErrEnvKeyHyphen", withField(t, "environment.LOG-LEVEL", "x"), "environment.LOG-LEVEL", "variable name"},
			{"ErrEnvValueNumber", withField(t, "environment.PORT", 8080), "environment.PORT", "must be a string"},
			{"ErrEnvValueTooLong", withField(t, "environment.BIG", strings.Repeat("x", 33<<10)), "environment.BIG", "at most 32768 bytes"},
			{"ErrEnvNotObject", withField(t, "environment", "LOG_LEVEL=info"), "environment", "must be an object"},
			{"ErrUnknownField", withField(t, "colour", "blue"), "colour", ""},
			{"ErrBodyNotJSON", `{"name": `, "body", "malformed JSON"},
			{"ErrTwoSpellings", withField(t, "binaryUrl", "https://example.com/other"), "binary_url", "given twice"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, tc.body)
				if res.Status != http.StatusBadRequest || res.ErrorCode() != "invalid_request" || res.ErrorField() != tc.field || !strings.Contains(string(res.Body), tc.reason) {
					t.Fatalf("%d %s, want 400 on %s (%s)", res.Status, res.Body, tc.field, tc.reason)
				}
				// The message names the field as the client wrote it, too.
				if !strings.Contains(string(res.Body), `"message":"`+tc.field+` `) {
					t.Fatalf("%s: message does not name %s", res.Body, tc.field)
				}
			})
		}
		t.Run("ErrIdempotencyKeyNotASCII", func(t *testing.T) {
			res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, withField(t, "name", "idem"), "Idempotency-Key", "clé")
			if res.Status != http.StatusBadRequest || res.ErrorField() != "Idempotency-Key" || !strings.Contains(string(res.Body), `"message":"Idempotency-Key `) {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("ErrTooManyEnvVars", func(t *testing.T) {
			env := map[string]any{}
			for i := range 101 {
				env["V"+strings.Repeat("X", i)] = "x"
			}
			res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, withField(t, "environment", env))
			if res.Status != 400 || res.ErrorField() != "environment" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("ErrNameTaken", func(t *testing.T) {
			mustCreate(t, s, s.AdminToken, "taken")
			res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, withField(t, "name", "taken"))
			if res.Status != http.StatusConflict || res.ErrorCode() != "conflict" || res.ErrorField() != "name" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("RegionDefaultsToFirst", func(t *testing.T) {
			id := mustCreate(t, s, s.AdminToken, "regional")
			if res := s.Do(http.MethodGet, "/v1/agents/"+id, s.AdminToken, nil); res.JSON(t)["region"] != "us-west-2" {
				t.Fatalf("%s", res.Body)
			}
		})
		t.Run("DefaultsForMissingConfig", func(t *testing.T) {
			res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, `{"name": "minimal", "runtime": "go", "binary_url": "http://example.com/a", "region": "eu-west-1"}`)
			if res.Status != 201 {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			got := s.Do(http.MethodGet, "/v1/agents/"+res.JSON(t)["id"].(string), s.AdminToken, nil).JSON(t)
			if cfg := got["config"].(map[string]any); cfg["cpu"] != "0.5" || cfg["memory"] != "512Mi" || cfg["replicas"] != float64(1) || got["region"] != "eu-west-1" {
				t.Fatalf("%v", got)
			}
		})
		t.Run("GraphQLNamesInputFields", func(t *testing.T) {
			gql := s.GraphQL(s.AdminToken, `mutation($in: CreateAgentInput!) { createAgent(input: $in) { id } }`, map[string]any{"in": map[string]any{
				"name": "gql", "runtime": "go", "binaryUrl": "ftp://x", "config": map[string]any{"replicas": 1}}})
			if gql.Code() != "invalid_request" || gql.Errors[0].Extensions["details"].(map[string]any)["field"] != "binaryUrl" {
				t.Fatalf("%+v", gql.Errors)
			}
		})
		t.Run("GraphQLErrEnvNotObject", func(t *testing.T) {
			for _, q := range []string{
				`mutation { createAgent(input: {name: "gqlenv", runtime: "go", binaryUrl: "https://example.com/a", environment: [1]}) { id } }`,
				`mutation { createAgent(input: {name: "gqlenv", runtime: "go", binaryUrl: "https://example.com/a", environment: "A=1"}) { id } }`,
			} {
				gql := s.GraphQL(s.AdminToken, q, nil)
				if gql.Code() != "invalid_request" || gql.Errors[0].Extensions["details"].(map[string]any)["field"] != "environment" {
					t.Fatalf("%s: %+v", q, gql.Errors)
				}
			}
			gql := s.GraphQL(s.AdminToken, `mutation($id: ID!, $env: Map) { updateAgent(id: $id, input: {environment: $env}) { id } }`,
				map[string]any{"id": mustCreate(t, s, s.AdminToken, "gqlenv"), "env": []any{"A=1"}})
			if gql.Code() != "invalid_request" || gql.Errors[0].Extensions["details"].(map[string]any)["field"] != "environment" {
				t.Fatalf("variable: %+v", gql.Errors)
			}
		})
	})
}

func TestFileURLsWhenAllowed(t *testing.T) {
	s := apitest.Start(t, "", func(c *config.Config) { c.AllowFileURLs = true })
	res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, withField(t, "binary_url", "file:///usr/local/bin/agent"))
	if res.Status != http.StatusCreated {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	res = s.Do(http.MethodPost, "/v1/agents", s.AdminToken, withField(t, "binary_url", "file:relative/agent"))
	if res.Status != 400 || res.ErrorField() != "binary_url" {
		t.Fatalf("relative: %d %s", res.Status, res.Body)
	}
}

func TestUpdateAndActionValidation(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		id := mustCreate(t, s, s.AdminToken, "my-agent")
		for _, tc := range []struct {
			badInput
			method, path string
		}{
			{badInput{"ErrUpdateReplicasZero", `{"config": {"replicas": 0}}`, "config.replicas", "must be greater than 0"}, http.MethodPut, ""},
			{badInput{"ErrUpdateBinaryURL", `{"binary_url": "gopher://x"}`, "binary_url", "http or https"}, http.MethodPut, ""},
			{badInput{"ErrUpdateMemory", `{"config": {"memory": "lots"}}`, "config.memory", "quantity"}, http.MethodPut, ""},
			{badInput{"ErrUpdateCPU", `{"config": {"cpu": "0.0001"}}`, "config.cpu", "decimal number"}, http.MethodPut, ""},
			{badInput{"ErrUpdateEnvKey", `{"environment": {"A B": "x"}}`, "environment.A B", "variable name"}, http.MethodPut, ""},
			{badInput{"ErrUpdateRuntime", `{"runtime": "cobol"}`, "runtime", "must be one of"}, http.MethodPut, ""},
			{badInput{"ErrUpdateNameImmutable", `{"name": "other"}`, "name", ""}, http.MethodPut, ""},
			{badInput{"ErrScaleZero", `{"replicas": 0}`, "replicas", "must be greater than 0"}, http.MethodPost, "/scale"},
			{badInput{"ErrScaleTooMany", `{"replicas": 1000}`, "replicas", "must be at most 20"}, http.MethodPost, "/scale"},
			{badInput{"ErrScaleString", `{"replicas": "5"}`, "replicas", "must be an integer"}, http.MethodPost, "/scale"},
			{badInput{"ErrScaleMissing", `{}`, "replicas", ""}, http.MethodPost, "/scale"},
			{badInput{"ErrScaleUnknownField", `{"replicas": 2, "count": 2}`, "count", "unknown field"}, http.MethodPost, "/scale"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := s.Do(tc.method, "/v1/agents/"+id+tc.path, s.AdminToken, tc.body)
				if res.Status != 400 || res.ErrorCode() != "invalid_request" || res.ErrorField() != tc.field || !strings.Contains(string(res.Body), tc.reason) {
					t.Fatalf("%d %s, want 400 on %s (%s)", res.Status, res.Body, tc.field, tc.reason)
				}
			})
		}
		for _, tc := range []struct{ name, query, field string }{
			{"ErrStatusUnknown", "status=bogus", "status"},
			{"ErrRegionMalformed", "region=Mars_1", "region"},
			{"ErrSortKey", "sort=colour", "sort"},
			{"ErrSortDirection", "sort=name:sideways", "sort"},
			{"ErrFieldsUnknown", "fields=id,secret", "fields"},
			{"ErrFieldsEnvironment", "fields=id,environment", "fields"},
			{"ErrLimitZero", "limit=0", "limit"},
			{"ErrLimitWord", "limit=ten", "limit"},
			{"ErrLimitTooLarge", "limit=100000", "limit"},
			{"ErrOffsetNegative", "offset=-1", "offset"},
		} {
			t.Run("List"+tc.name, func(t *testing.T) {
				res := s.Do(http.MethodGet, "/v1/agents?"+tc.query, s.AdminToken, nil)
				if res.Status != 400 || res.ErrorCode() != "invalid_request" || res.ErrorField() != tc.field {
					t.Fatalf("%d %s, want 400 on %s", res.Status, res.Body, tc.field)
				}
			})
		}
		for _, tc := range []struct{ name, query, field string }{
			{"ErrStatusMissing", "", "status"},
			{"ErrStatusUnknown", "status=bogus", "status"},
			{"ErrTimeoutWord", "status=running&timeout=soon", "timeout"},
			{"ErrTimeoutZero", "status=running&timeout=0s", "timeout"},
			{"ErrTimeoutTooLong", "status=running&timeout=1h", "timeout"},
		} {
			t.Run("Wait"+tc.name, func(t *testing.T) {
				res := s.Do(http.MethodGet, "/v1/agents/"+id+"/wait?"+tc.query, s.AdminToken, nil)
				if res.Status != 400 || res.ErrorCode() != "invalid_request" || res.ErrorField() != tc.field {
					t.Fatalf("%d %s, want 400 on %s", res.Status, res.Body, tc.field)
				}
			})
		}
		t.Run("ErrIfMatchMalformed", func(t *testing.T) {
			res := s.Do(http.MethodPut, "/v1/agents/"+id, s.AdminToken, `{}`, "If-Match", "3")
			if res.Status != 400 || res.ErrorField() != "If-Match" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("ErrIdempotencyKeyTooLong", func(t *testing.T) {
			res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, withField(t, "name", "long-key"), "Idempotency-Key", strings.Repeat("k", 256))
			if res.Status != 400 || res.ErrorField() != "Idempotency-Key" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
	})
}
