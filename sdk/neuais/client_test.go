package neuais_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/sdk/neuais"
)

// TestEveryMethod calls every method of the client against a real server.
func TestEveryMethod(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url, live)
		ctx := context.Background()
		tok, err := neuais.Login(ctx, apitest.AdminEmail, apitest.AdminPassword, neuais.WithBaseURL(s.URL))
		if err != nil || tok.TokenType != "Bearer" || tok.ExpiresIn != 3600 {
			t.Fatalf("Login = %+v, %v", tok, err)
		}
		client := neuais.NewClient(tok.AccessToken, neuais.WithBaseURL(s.URL+"/v1/"))
		agents := client.Agents()
		req := neuais.CreateAgentRequest{
			Name: "sdk-agent", Runtime: "go", BinaryURL: agentURL,
			Config: &neuais.AgentConfig{CPU: "0.5", Memory: "256Mi", Replicas: 1}, Environment: map[string]string{"TICK_MS": "50"},
			IdempotencyKey: "sdk-create-1",
		}
		created, err := agents.Create(req)
		if err != nil || created.Status != "deploying" || created.Name != "sdk-agent" {
			t.Fatalf("Create = %+v, %v", created, err)
		}
		t.Run("CreateRetriedWithItsKeyReplays", func(t *testing.T) {
			again, err := agents.CreateContext(ctx, req)
			if err != nil || again.ID != created.ID {
				t.Fatalf("Create again = %+v, %v; want %s", again, err, created.ID)
			}
		})
		t.Run("Agents", func(t *testing.T) {
			running, err := agents.Wait(created.ID, "running", 30*time.Second)
			if err != nil || running.Status != "running" {
				t.Fatalf("Wait = %+v, %v", running, err)
			}
			got, err := agents.Get(created.ID)
			if err != nil || got.Config == nil || got.Config.Memory != "256Mi" || got.Environment["TICK_MS"] != "50" || len(got.Endpoints) != 1 {
				t.Fatalf("Get = %+v, %v", got, err)
			}
			if u, err := agents.Update(created.ID, neuais.UpdateAgentRequest{Environment: map[string]string{"TICK_MS": "40"}}); err != nil || u.Environment["TICK_MS"] != "40" {
				t.Fatalf("Update = %+v, %v", u, err)
			}
			if a, err := agents.Scale(created.ID, 2); err != nil || a.Replicas != 2 {
				t.Fatalf("Scale = %+v, %v", a, err)
			}
			if a, err := agents.Restart(created.ID); err != nil || a.ID != created.ID {
				t.Fatalf("Restart = %+v, %v", a, err)
			}
			if _, err := agents.WaitContext(ctx, created.ID, "running", 30*time.Second); err != nil {
				t.Fatal(err)
			}
			if a, err := agents.Stop(created.ID); err != nil || (a.Status != "stopping" && a.Status != "stopped") {
				t.Fatalf("Stop = %+v, %v", a, err)
			}
			if _, err := agents.Wait(created.ID, "stopped", 30*time.Second); err != nil {
				t.Fatal(err)
			}
			if a, err := agents.Start(created.ID); err != nil || a.Status == "stopped" {
				t.Fatalf("Start = %+v, %v", a, err)
			}
			if _, err := agents.Wait(created.ID, "running", 30*time.Second); err != nil {
				t.Fatal(err)
			}
			list, err := agents.List(&neuais.ListAgentsOptions{ListOptions: neuais.ListOptions{Fields: []string{"id", "name"}}, NamePrefix: "sdk-"})
			if err != nil || list.Total != 1 || list.Agents[0].Name != "sdk-agent" || list.Agents[0].Status != "" {
				t.Fatalf("List = %+v, %v", list, err)
			}
			if list, err := agents.ListContext(ctx, &neuais.ListAgentsOptions{Status: "running"}); err != nil || list.Total != 1 {
				t.Fatalf("List(running) = %+v, %v", list, err)
			}
			var lines []neuais.LogLine
			apitest.Eventually(t, 20*time.Second, "log lines", func() bool {
				lines, err = agents.Logs(created.ID, &neuais.LogOptions{Tail: 10, Since: time.Hour, Level: "info"})
				return err != nil || len(lines) == 10
			})
			if err != nil || lines[9].Message == "" || lines[9].Timestamp.IsZero() {
				t.Fatalf("Logs = %+v, %v", lines, err)
			}
			var warn []neuais.LogLine
			apitest.Eventually(t, 20*time.Second, "a warn line", func() bool {
				warn, err = agents.LogsContext(ctx, created.ID, &neuais.LogOptions{Level: "warn"})
				return err != nil || len(warn) > 0
			})
			if err != nil || warn[0].Level != "warn" {
				t.Fatalf("Logs(warn) = %+v, %v", warn, err)
			}
			var m *neuais.Metrics
			apitest.Eventually(t, 20*time.Second, "a cpu sample", func() bool {
				m, err = agents.Metrics(created.ID, "1h", "cpu")
				return err != nil || len(m.CPU) > 0
			})
			if err != nil || m.Memory != nil {
				t.Fatalf("Metrics = %+v, %v", m, err)
			}
			if _, err := agents.Wait(created.ID, "error", 10*time.Millisecond); apiError(t, err).Code != "timeout" {
				t.Fatalf("Wait(error) = %v, want timeout", err)
			}
		})
		t.Run("AllPages", func(t *testing.T) {
			for i := range 4 {
				if _, err := agents.Create(neuais.CreateAgentRequest{Name: fmt.Sprintf("page-%d", i), Runtime: "go", BinaryURL: "https://example.com/agent"}); err != nil {
					t.Fatal(err)
				}
			}
			var names []string
			for a, err := range agents.All(&neuais.ListAgentsOptions{ListOptions: neuais.ListOptions{Limit: 2, Sort: "name:asc"}, NamePrefix: "page-"}) {
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, a.Name)
			}
			if fmt.Sprint(names) != "[page-0 page-1 page-2 page-3]" {
				t.Fatalf("All = %v", names)
			}
			n := 0
			for _, err := range agents.AllContext(ctx, &neuais.ListAgentsOptions{ListOptions: neuais.ListOptions{Limit: 1}}) {
				if err != nil {
					t.Fatal(err)
				}
				if n++; n == 2 {
					break // stopping early must not panic or fetch on
				}
			}
		})
		t.Run("Users", func(t *testing.T) {
			users := client.Users()
			u, err := users.Create(neuais.CreateUserRequest{Email: "dev@example.com", Password: "dev-password-1", Role: "developer", IdempotencyKey: "u1"})
			if err != nil || u.Role != "developer" {
				t.Fatalf("Create = %+v, %v", u, err)
			}
			if again, err := users.CreateContext(ctx, neuais.CreateUserRequest{Email: "dev@example.com", Password: "dev-password-1", Role: "developer", IdempotencyKey: "u1"}); err != nil || again.ID != u.ID {
				t.Fatalf("Create again = %+v, %v", again, err)
			}
			if got, err := users.Get(u.ID); err != nil || got.Email != "dev@example.com" {
				t.Fatalf("Get = %+v, %v", got, err)
			}
			if u, err = users.Update(u.ID, neuais.UpdateUserRequest{Role: "viewer"}); err != nil || u.Role != "viewer" {
				t.Fatalf("Update = %+v, %v", u, err)
			}
			list, err := users.List(&neuais.ListOptions{Sort: "email:asc"})
			if err != nil || list.Total != 2 || list.Users[0].Email != apitest.AdminEmail {
				t.Fatalf("List = %+v, %v", list, err)
			}
			var emails []string
			for u, err := range users.All(&neuais.ListOptions{Limit: 1, Sort: "email:asc"}) {
				if err != nil {
					t.Fatal(err)
				}
				emails = append(emails, u.Email)
			}
			if fmt.Sprint(emails) != "[admin@example.com dev@example.com]" {
				t.Fatalf("All = %v", emails)
			}
			if err := users.Delete(u.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := users.GetContext(ctx, u.ID); apiError(t, err).StatusCode != http.StatusNotFound {
				t.Fatalf("Get after Delete = %v", err)
			}
		})
		t.Run("Services", func(t *testing.T) {
			services := client.Services()
			page, err := services.List()
			if err != nil || len(page.Services) == 0 || page.Total != len(page.Services) {
				t.Fatalf("List = %+v, %v", page, err)
			}
			n := 0
			for _, err := range services.All(&neuais.ListOptions{Limit: 1}) {
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n != page.Total {
				t.Fatalf("All yielded %d of %d", n, page.Total)
			}
			db, err := services.Status("database")
			if err != nil || db.Status != "healthy" || db.Uptime == "" {
				t.Fatalf("Status = %+v, %v", db, err)
			}
		})
		t.Run("RateLimitFigures", func(t *testing.T) {
			if _, err := client.Services().List(); err != nil {
				t.Fatal(err)
			}
			rl := client.RateLimit()
			if rl.Limit != 1_000_000 || rl.Remaining <= 0 || rl.Remaining >= rl.Limit || !rl.Reset.After(time.Now().Add(-time.Second)) {
				t.Fatalf("RateLimit = %+v", rl)
			}
		})
		t.Run("Delete", func(t *testing.T) {
			if err := agents.Delete(created.ID); err != nil {
				t.Fatal(err)
			}
			e := apiError(t, func() error { _, err := agents.Get(created.ID); return err }())
			if e.Code != "not_found" || e.StatusCode != 404 || e.Message == "" {
				t.Fatalf("Get after Delete = %+v", e)
			}
		})
	})
}

// TestErrors: error answers decode into *neuais.Error with the code,
// message, details and HTTP status.
func TestErrors(t *testing.T) {
	s := apitest.Start(t, "")
	client := connect(t, s)
	t.Run("InvalidNamesField", func(t *testing.T) {
		_, err := client.Agents().Scale("agt_missing", 0)
		e := apiError(t, err)
		if e.StatusCode != 400 || e.Code != "invalid_request" || e.Details["field"] != "replicas" || e.Details["reason"] == "" {
			t.Fatalf("Scale(0) = %+v", e)
		}
	})
	t.Run("Conflict", func(t *testing.T) {
		req := neuais.CreateAgentRequest{Name: "twice", Runtime: "go", BinaryURL: "https://example.com/a"}
		if _, err := client.Agents().Create(req); err != nil {
			t.Fatal(err)
		}
		_, err := client.Agents().Create(req)
		if e := apiError(t, err); e.StatusCode != 409 || e.Code != "conflict" || e.Details["field"] != "name" {
			t.Fatalf("second Create = %+v", e)
		}
		req.IdempotencyKey = "k"
		if _, err := client.Agents().Create(neuais.CreateAgentRequest{Name: "keyed", Runtime: "go", BinaryURL: "https://example.com/a", IdempotencyKey: "k"}); err != nil {
			t.Fatal(err)
		}
		_, err = client.Agents().Create(neuais.CreateAgentRequest{Name: "keyed-2", Runtime: "go", BinaryURL: "https://example.com/a", IdempotencyKey: "k"})
		if e := apiError(t, err); e.StatusCode != 409 || e.Details["field"] != "Idempotency-Key" {
			t.Fatalf("key reused = %+v", e)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		_, err := client.Users().Get("usr_missing")
		if e := apiError(t, err); e.StatusCode != 404 || e.Code != "not_found" || !neuais.IsCode(err, "not_found") {
			t.Fatalf("Get = %+v", e)
		}
	})
	t.Run("Unauthorized", func(t *testing.T) {
		_, err := neuais.NewClient("not-a-token", neuais.WithBaseURL(s.URL)).Agents().List()
		if e := apiError(t, err); e.StatusCode != 401 || e.Code != "unauthorized" {
			t.Fatalf("List = %+v", e)
		}
	})
	t.Run("Forbidden", func(t *testing.T) {
		viewer := s.CreateUser(s.AdminToken, "viewer@example.com", "viewer")
		_, err := neuais.NewClient(viewer.Token, neuais.WithBaseURL(s.URL)).Users().List()
		if e := apiError(t, err); e.StatusCode != 403 || e.Code != "forbidden" {
			t.Fatalf("List = %+v", e)
		}
	})
}

// TestBaseURL: an option, else NEUAIS_URL (the root, with or without /v1),
// else http://localhost:8000.
func TestBaseURL(t *testing.T) {
	s := apitest.Start(t, "")
	for _, u := range []string{s.URL, s.URL + "/", s.URL + "/v1", s.URL + "/v1/"} {
		t.Setenv("NEUAIS_URL", u)
		if _, err := neuais.NewClient(s.AdminToken).Services().List(); err != nil {
			t.Fatalf("NEUAIS_URL=%s: %v", u, err)
		}
	}
	t.Setenv("NEUAIS_URL", "http://127.0.0.1:1")
	if _, err := neuais.NewClient(s.AdminToken, neuais.WithBaseURL(s.URL)).Services().List(); err != nil {
		t.Fatalf("WithBaseURL does not win over NEUAIS_URL: %v", err)
	}
	t.Setenv("NEUAIS_URL", "")
	var asked string
	c := neuais.NewClient("", neuais.WithRetries(0, 0), neuais.WithHTTPClient(&http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		asked = r.URL.String()
		return nil, fmt.Errorf("not sent")
	})}))
	if _, err := c.Services().List(); err == nil || asked != "http://localhost:8000/v1/services" {
		t.Fatalf("default asked %q (%v)", asked, err)
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
