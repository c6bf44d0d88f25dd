package rest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/models"
)

// TestStreamParameterErrors checks that a stream's own parameter refused
// by the domain is named as the client wrote it (Last-Event-ID), not as
// the subscription's variable (after): the stream's error event carries
// the field of its compiled operation.
func TestStreamParameterErrors(t *testing.T) {
	s := apitest.Start(t, "")
	res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, agentBody)
	if res.Status != http.StatusCreated {
		t.Fatalf("create agent: %d %s", res.Status, res.Body)
	}
	id := res.JSON(t)["id"].(string)
	for _, tc := range []struct{ name, path, message string }{
		{"Logs", "/v1/agents/" + id + "/logs?follow=true", "Last-Event-ID must be a log line id"},
		{"Events", "/v1/events?follow=true", "Last-Event-ID must be an event id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The bound only keeps a wrong server from hanging the test.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+s.AdminToken)
			req.Header.Set("Last-Event-ID", "-1")
			res, err := s.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var env struct {
				Error struct {
					Code, Message string
					Details       map[string]any
				}
			}
			sc := bufio.NewScanner(res.Body)
			for sc.Scan() {
				if data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data: ")); ok {
					if err := json.Unmarshal(data, &env); err != nil {
						t.Fatalf("%s: %v", data, err)
					}
					break
				}
			}
			if env.Error.Code != models.CodeInvalidRequest || env.Error.Message != tc.message || env.Error.Details["field"] != "Last-Event-ID" {
				t.Fatalf("%d %+v, want %q on Last-Event-ID", res.StatusCode, env, tc.message)
			}
		})
	}
}
