package live_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/app"
)

// TestFollowEndsOnShutdown: a server shutting down ends its log streams
// with a final error event instead of waiting out the grace period.
func TestFollowEndsOnShutdown(t *testing.T) {
	cfg := apitest.Config(sqlite(t), t.TempDir())
	cfg.ShutdownGrace = 30 * time.Second
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()

	post := func(path, token, body string) map[string]any {
		req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewBufferString(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var v map[string]any
		if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	token, _ := post("/v1/auth/token", "", `{"email":"`+apitest.AdminEmail+`","password":"`+apitest.AdminPassword+`"}`)["access_token"].(string)
	id, _ := post("/v1/agents", token, `{"name":"quiet","runtime":"go","binary_url":"https://example.com/agent","config":{"replicas":1}}`)["id"].(string)
	if token == "" || id == "" {
		t.Fatal("login or agent creation failed")
	}

	streamCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, events := readSSE(t, streamCtx, base+"/v1/agents/"+id+"/logs?follow=true", token)
	// The stream is open once its headers came; shut the server down.
	stop()
	ev := next(t, events)
	if ev.Event != "error" || !strings.Contains(ev.Data, `"service_unavailable"`) {
		t.Fatalf("final event %+v", ev)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown waited for the log stream")
	}
}

// TestFollowEndsWhenTheUserIsDeleted: a deleted user's streams end with
// a final unauthorized event.
func TestFollowEndsWhenTheUserIsDeleted(t *testing.T) {
	s := start(t, sqlite(t))
	id := createAgent(t, s, "watched", map[string]string{"TICK_MS": "100"})
	res := s.Do(http.MethodPost, "/v1/users", s.AdminToken, map[string]any{"email": "dev@example.com", "password": "dev-password-1", "role": "developer"})
	if res.Status != http.StatusCreated {
		t.Fatalf("create user: %d %s", res.Status, res.Body)
	}
	userID := res.JSON(t)["id"].(string)
	token := s.Login("dev@example.com", "dev-password-1")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, events := readSSE(t, ctx, s.URL+"/v1/agents/"+id+"/logs?follow=true&tail=1", token)
	next(t, events)
	if res := s.Do(http.MethodDelete, "/v1/users/"+userID, s.AdminToken, nil); res.Status != http.StatusOK {
		t.Fatalf("delete user: %d %s", res.Status, res.Body)
	}
	for {
		ev := next(t, events)
		if ev.Event == "error" {
			if !strings.Contains(ev.Data, `"unauthorized"`) || !strings.Contains(ev.Data, "User no longer exists") {
				t.Fatalf("final event %q", ev.Data)
			}
			return
		}
	}
}
