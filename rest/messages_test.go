package rest_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/models"
)

const agentBody = `{"name": "my-agent", "runtime": "go", "binary_url": "https://example.com/agent"}`

// TestFieldErrorMessages checks that field errors say what is wrong in the
// client's terms through both transports, each spelling the field its own
// way (REST snake_case from the body, GraphQL the variable path or the
// input field), whether the domain or the input's type refused the value:
// no "must be defined", "owner is not a valid Role" or "unknown field".
func TestFieldErrorMessages(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		tok := s.AdminToken
		user := s.CreateUser(tok, "dev@example.com", models.RoleDeveloper)
		res := s.Do(http.MethodPost, "/v1/agents", tok, agentBody)
		if res.Status != http.StatusCreated {
			t.Fatalf("create agent: %d %s", res.Status, res.Body)
		}
		agent := "/v1/agents/" + res.JSON(t)["id"].(string)

		t.Run("REST", func(t *testing.T) {
			for _, tc := range []struct {
				name, method, path, body string
				field, message           string
			}{
				{"UserRoleMissing", http.MethodPost, "/v1/users", `{"email": "a@example.com", "password": "secure-password"}`, "role", "role is required"},
				{"UserRoleUnknown", http.MethodPost, "/v1/users", `{"email": "a@example.com", "password": "secure-password", "role": "owner"}`, "role", "role must be one of admin, developer, viewer"},
				{"UserRoleNotString", http.MethodPost, "/v1/users", `{"email": "a@example.com", "password": "secure-password", "role": 5}`, "role", "role must be one of admin, developer, viewer"},
				{"UserPasswordMissing", http.MethodPost, "/v1/users", `{"email": "a@example.com", "role": "viewer"}`, "password", "password is required"},
				{"UserPasswordNull", http.MethodPost, "/v1/users", `{"email": "a@example.com", "password": null, "role": "viewer"}`, "password", "password must not be null"},
				{"UserPasswordShort", http.MethodPost, "/v1/users", `{"email": "a@example.com", "password": "short", "role": "viewer"}`, "password", "password must be at least 8 characters"},
				{"UserUnknownField", http.MethodPost, "/v1/users", `{"email": "a@example.com", "password": "secure-password", "role": "viewer", "name": "A"}`, "name", "name is an unknown field"},
				{"UserUpdateRoleUnknown", http.MethodPut, "/v1/users/" + user.ID, `{"role": "owner"}`, "role", "role must be one of admin, developer, viewer"},
				{"UserUpdateUnknownField", http.MethodPut, "/v1/users/" + user.ID, `{"name": "Dev"}`, "name", "name is an unknown field"},
				{"AgentNameMissing", http.MethodPost, "/v1/agents", `{"runtime": "go", "binary_url": "https://example.com/agent"}`, "name", "name is required"},
				{"AgentReplicasNotInt", http.MethodPost, "/v1/agents", `{"name": "b", "runtime": "go", "binary_url": "https://example.com/a", "config": {"replicas": "3"}}`, "config.replicas", "config.replicas must be an integer"},
				{"AgentConfigUnknownField", http.MethodPost, "/v1/agents", `{"name": "b", "runtime": "go", "binary_url": "https://example.com/a", "config": {"disk": "1Gi"}}`, "config.disk", "config.disk is an unknown field"},
				{"AgentBinaryURL", http.MethodPost, "/v1/agents", `{"name": "b", "runtime": "go", "binary_url": "ftp://example.com/a"}`, "binary_url", "binary_url must be an http or https URL"},
				{"AgentUpdateName", http.MethodPut, agent, `{"name": "other"}`, "name", "name cannot be changed"},
				{"AgentUpdateUnknownField", http.MethodPut, agent, `{"colour": "blue"}`, "colour", "colour is an unknown field"},
				{"AgentUpdateReplicas", http.MethodPut, agent, `{"config": {"replicas": 0}}`, "config.replicas", "config.replicas must be greater than 0"},
				{"ScaleReplicasMissing", http.MethodPost, agent + "/scale", `{}`, "replicas", "replicas is required"},
				{"ScaleUnknownField", http.MethodPost, agent + "/scale", `{"replicas": 2, "count": 2}`, "count", "count is an unknown field"},
				{"WaitStatusMissing", http.MethodGet, agent + "/wait", ``, "status", "status is required"},
				{"TokenEmailMissing", http.MethodPost, "/v1/auth/token", `{"password": "secure-password"}`, "email", "email is required"},
				{"IdempotencyKey", http.MethodPost, "/v1/agents", agentBody, "Idempotency-Key", "Idempotency-Key must be printable ASCII"},
				{"LastEventID", http.MethodGet, agent + "/logs?follow=true", ``, "Last-Event-ID", "Last-Event-ID must be an integer"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					var headers []string
					if v, ok := map[string]string{"Idempotency-Key": "clé", "Last-Event-ID": "x"}[tc.field]; ok {
						headers = []string{tc.field, v}
					}
					var body any
					if tc.body != "" {
						body = tc.body
					}
					res := s.Do(tc.method, tc.path, tok, body, headers...)
					var env struct {
						Error struct {
							Code, Message string
							Details       map[string]any
						}
					}
					if err := json.Unmarshal(res.Body, &env); err != nil || res.Status != http.StatusBadRequest || env.Error.Code != models.CodeInvalidRequest ||
						env.Error.Message != tc.message || env.Error.Details["field"] != tc.field {
						t.Fatalf("%d %s, want 400 %q on %s", res.Status, res.Body, tc.message, tc.field)
					}
				})
			}
			t.Run("AgentUpdateSameName", func(t *testing.T) {
				if res := s.Do(http.MethodPut, agent, tok, `{"name": "my-agent"}`); res.Status != http.StatusOK {
					t.Fatalf("%d %s", res.Status, res.Body)
				}
			})
		})

		t.Run("GraphQL", func(t *testing.T) {
			const createUser = `mutation($in: CreateUserInput!) { createUser(input: $in) { id } }`
			const updateAgent = `mutation($id: ID!, $in: UpdateAgentInput!) { updateAgent(id: $id, input: $in) { id } }`
			id := agent[len("/v1/agents/"):]
			for _, tc := range []struct {
				name, query string
				vars        map[string]any
				field       string
				reason      string
			}{
				{"UserRoleMissing", createUser, map[string]any{"in": map[string]any{"email": "a@example.com", "password": "secure-password"}}, "in.role", "is required"},
				{"UserRoleUnknown", createUser, map[string]any{"in": map[string]any{"email": "a@example.com", "password": "secure-password", "role": "owner"}}, "in.role", "must be one of admin, developer, viewer"},
				{"UserPasswordMissing", createUser, map[string]any{"in": map[string]any{"email": "a@example.com", "role": "viewer"}}, "in.password", "is required"},
				{"UserPasswordNull", createUser, map[string]any{"in": map[string]any{"email": "a@example.com", "password": nil, "role": "viewer"}}, "in.password", "must not be null"},
				{"UserUnknownField", createUser, map[string]any{"in": map[string]any{"email": "a@example.com", "password": "secure-password", "role": "viewer", "name": "A"}}, "in.name", "is an unknown field"},
				{"InputMissing", createUser, nil, "in", "is required"},
				{"AgentUpdateName", updateAgent, map[string]any{"id": id, "in": map[string]any{"name": "other"}}, "name", "cannot be changed"},
				{"AgentUpdateUnknownField", updateAgent, map[string]any{"id": id, "in": map[string]any{"colour": "blue"}}, "in.colour", "is an unknown field"},
				{"AgentUpdateReplicasNotInt", updateAgent, map[string]any{"id": id, "in": map[string]any{"config": map[string]any{"replicas": "many"}}}, "in.config.replicas", "must be an integer"},
				{"AgentBinaryURL", updateAgent, map[string]any{"id": id, "in": map[string]any{"binaryUrl": "ftp://example.com/a"}}, "binaryUrl", "must be an http or https URL"},
				{"ScaleReplicasMissing", `mutation($id: ID!, $replicas: Int!) { scaleAgent(id: $id, replicas: $replicas) { id } }`, map[string]any{"id": id}, "replicas", "is required"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					gql := s.GraphQL(tok, tc.query, tc.vars)
					if len(gql.Errors) != 1 || gql.Code() != models.CodeInvalidRequest {
						t.Fatalf("%+v", gql.Errors)
					}
					e := gql.Errors[0]
					want := map[string]any{"field": tc.field, "reason": tc.reason}
					if e.Message != tc.field+" "+tc.reason || !reflect.DeepEqual(e.Extensions["details"], want) {
						t.Fatalf("%q %v, want %q %v", e.Message, e.Extensions["details"], tc.field+" "+tc.reason, want)
					}
				})
			}
		})
	})
}
