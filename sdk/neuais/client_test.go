package neuais_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/sdk/neuais"
)

func TestClientAgainstServer(t *testing.T) {
	s := apitest.Start(t, "")
	ctx := context.Background()
	opts := []neuais.Option{neuais.WithBaseURL(s.URL + "/v1"), neuais.WithHTTPClient(s.Client())}

	tok, err := neuais.Login(ctx, apitest.AdminEmail, apitest.AdminPassword, opts...)
	if err != nil || tok.TokenType != "Bearer" || tok.ExpiresIn != 3600 {
		t.Fatalf("Login = %+v, %v", tok, err)
	}
	client := neuais.NewClient(tok.AccessToken, opts...)

	t.Run("Agents", func(t *testing.T) {
		created, err := client.Agents().Create(ctx, neuais.CreateAgentRequest{
			Name: "sdk-agent", Runtime: "go", BinaryURL: "https://example.com/agent",
			Config: &neuais.AgentConfig{CPU: "0.5", Memory: "256Mi", Replicas: 2}, Environment: map[string]string{"A": "1"},
			IdempotencyKey: "sdk-create-1",
		})
		if err != nil || created.Status != "deploying" {
			t.Fatalf("Create = %+v, %v", created, err)
		}
		again, err := client.Agents().Create(ctx, neuais.CreateAgentRequest{
			Name: "sdk-agent", Runtime: "go", BinaryURL: "https://example.com/agent",
			Config: &neuais.AgentConfig{CPU: "0.5", Memory: "256Mi", Replicas: 2}, Environment: map[string]string{"A": "1"},
			IdempotencyKey: "sdk-create-1",
		})
		if err != nil || again.ID != created.ID {
			t.Fatalf("retried Create = %+v, %v; want the first answer", again, err)
		}
		got, err := client.Agents().Get(ctx, created.ID)
		if err != nil || got.Config == nil || got.Config.Memory != "256Mi" || got.Environment["A"] != "1" || len(got.Endpoints) != 1 {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		scaled, err := client.Agents().Scale(ctx, created.ID, 4)
		if err != nil || scaled.Replicas != 4 {
			t.Fatalf("Scale = %+v, %v", scaled, err)
		}
		list, err := client.Agents().List(ctx, &neuais.ListAgentsOptions{ListOptions: neuais.ListOptions{Fields: []string{"id", "name"}}})
		if err != nil || list.Total != 1 || list.Agents[0].Name != "sdk-agent" || list.Agents[0].Status != "" {
			t.Fatalf("List = %+v, %v", list, err)
		}
		if lines, err := client.Agents().Logs(ctx, created.ID, &neuais.LogOptions{Tail: 10, Since: time.Hour, Level: "info"}); err != nil || len(lines) != 0 {
			t.Fatalf("Logs = %+v, %v (no runtime here: no lines)", lines, err)
		}
		if _, err := client.Agents().Logs(ctx, created.ID, &neuais.LogOptions{Level: "loud"}); apiCode(err) != "invalid_request" {
			t.Fatalf("Logs(level loud) = %v", err)
		}
		if m, err := client.Agents().Metrics(ctx, created.ID, "24h", "cpu"); err != nil || m.Memory != nil {
			t.Fatalf("Metrics = %+v, %v", m, err)
		}
		if _, err := client.Agents().Wait(ctx, created.ID, "running", 10*time.Millisecond); apiCode(err) != "timeout" {
			t.Fatalf("Wait = %v, want timeout (no runtime here)", err)
		}
		if err := client.Agents().Delete(ctx, created.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Agents().Get(ctx, created.ID); apiCode(err) != "not_found" {
			t.Fatalf("Get after Delete = %v", err)
		}
	})
	t.Run("ErrInvalidNamesField", func(t *testing.T) {
		_, err := client.Agents().Scale(ctx, "agt_missing", 0)
		var apiErr *neuais.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Details["field"] != "replicas" {
			t.Fatalf("Scale(0) = %v", err)
		}
	})
	t.Run("Users", func(t *testing.T) {
		u, err := client.Users().Create(ctx, neuais.CreateUserRequest{Email: "dev@example.com", Password: "dev-password-1", Role: "developer"})
		if err != nil || u.Role != "developer" {
			t.Fatalf("Create = %+v, %v", u, err)
		}
		if u, err = client.Users().Update(ctx, u.ID, neuais.UpdateUserRequest{Role: "viewer"}); err != nil || u.Role != "viewer" {
			t.Fatalf("Update = %+v, %v", u, err)
		}
		list, err := client.Users().List(ctx, &neuais.ListOptions{Sort: "email:asc"})
		if err != nil || list.Total != 2 || list.Users[0].Email != apitest.AdminEmail {
			t.Fatalf("List = %+v, %v", list, err)
		}
		if err := client.Users().Delete(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Services", func(t *testing.T) {
		all, err := client.Services().List(ctx)
		if err != nil || len(all) == 0 {
			t.Fatalf("List = %+v, %v", all, err)
		}
		db, err := client.Services().Status(ctx, "database")
		if err != nil || db.Status != "healthy" {
			t.Fatalf("Status = %+v, %v", db, err)
		}
	})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		_, err := neuais.NewClient("not-a-token", opts...).Agents().List(ctx, nil)
		if apiCode(err) != "unauthorized" {
			t.Fatalf("List = %v", err)
		}
	})
}

func apiCode(err error) string {
	var apiErr *neuais.Error
	if errors.As(err, &apiErr) {
		return apiErr.Code
	}
	return ""
}
