package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/app"
)

func TestTokenFlow(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)

		t.Run("OK", func(t *testing.T) {
			res := s.Do(http.MethodPost, "/v1/auth/token", "", map[string]string{"email": apitest.AdminEmail, "password": apitest.AdminPassword})
			body := res.JSON(t)
			if res.Status != 200 || body["token_type"] != "Bearer" || body["expires_in"] != float64(3600) || !strings.HasPrefix(body["access_token"].(string), "eyJhbGciOiJIUzI1NiIs") {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("ErrSameAnswerForUnknownAndWrong", func(t *testing.T) {
			wrong := s.Do(http.MethodPost, "/v1/auth/token", "", map[string]string{"email": apitest.AdminEmail, "password": "wrong-password"})
			unknown := s.Do(http.MethodPost, "/v1/auth/token", "", map[string]string{"email": "nobody@example.com", "password": "wrong-password"})
			if wrong.Status != 401 || unknown.Status != 401 || string(wrong.Body) != string(unknown.Body) {
				t.Fatalf("wrong: %d %s\nunknown: %d %s", wrong.Status, wrong.Body, unknown.Status, unknown.Body)
			}
		})
		t.Run("ErrBadBodies", func(t *testing.T) {
			for _, tc := range []struct {
				body, field string
			}{
				{`{"email": "a@b.c", "password": 5}`, "password"},
				{`{"email": ["a@b.c"], "password": "x"}`, "email"},
				{`{"email": "a@b.c", "password": "x", "extra": 1}`, "extra"},
				{`{"email": "a@b.c", "password": "x"`, "body"},
				{`[1]`, "body"},
				{`{"email": "a@b.c"}`, "password"},
			} {
				res := s.Do(http.MethodPost, "/v1/auth/token", "", tc.body)
				if res.Status != 400 || res.ErrorCode() != "invalid_request" || res.ErrorField() != tc.field {
					t.Errorf("%s: %d %s, want 400 on %q", tc.body, res.Status, res.Body, tc.field)
				}
			}
		})
		t.Run("GraphQL", func(t *testing.T) {
			gql := s.GraphQL("", `mutation($e: String!, $p: String!) { createToken(email: $e, password: $p) { accessToken tokenType expiresIn } }`,
				map[string]any{"e": apitest.AdminEmail, "p": apitest.AdminPassword})
			if len(gql.Errors) > 0 || !strings.Contains(string(gql.Data), `"tokenType":"Bearer"`) {
				t.Fatalf("%s %+v", gql.Data, gql.Errors)
			}
			me := s.GraphQL(s.AdminToken, `{ me { email role } }`, nil)
			if string(me.Data) != `{"me":{"email":"admin@example.com","role":"admin"}}` {
				t.Fatalf("%s %+v", me.Data, me.Errors)
			}
			if bad := s.GraphQL("tampered"+s.AdminToken, `{ me { email } }`, nil); bad.Code() != "unauthorized" {
				t.Fatalf("tampered token: %+v", bad.Errors)
			}
		})
		t.Run("ErrUnknownRoute", func(t *testing.T) {
			res := s.Do(http.MethodGet, "/v1/no-such-thing", s.AdminToken, nil)
			if res.Status != 404 || res.ErrorCode() != "not_found" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("RequestID", func(t *testing.T) {
			res := s.Do(http.MethodGet, "/healthz", "", nil, "X-Request-ID", "abc-123")
			if res.Header.Get("X-Request-ID") != "abc-123" {
				t.Fatalf("X-Request-ID %q", res.Header.Get("X-Request-ID"))
			}
			if res = s.Do(http.MethodGet, "/readyz", "", nil); res.Status != 200 || res.Header.Get("X-Request-ID") == "" {
				t.Fatalf("readyz %d %s", res.Status, res.Body)
			}
		})
	})
}

func TestRestartKeepsTokensAndData(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		cfg := apitest.Config(url, t.TempDir())
		first := apitest.StartConfig(t, cfg)
		token := first.AdminToken
		dev := first.CreateUser(token, "kept@example.com", "developer")
		first.Close()
		if err := first.App.Close(); err != nil {
			t.Fatal(err)
		}
		second := apitest.StartConfig(t, cfg)
		if me := second.GraphQL(token, `{ me { email } }`, nil); len(me.Errors) > 0 {
			t.Fatalf("token from before the restart refused: %+v", me.Errors)
		}
		if res := second.Do(http.MethodGet, "/v1/users/"+dev.ID, dev.Token, nil); res.Status != 200 || res.JSON(t)["email"] != "kept@example.com" {
			t.Fatalf("user from before the restart: %d %s", res.Status, res.Body)
		}
		second.Login("kept@example.com", apitest.UserPassword)
	})
}

func TestBootstrapPrintsGeneratedPasswordOnce(t *testing.T) {
	cfg := apitest.Config("", t.TempDir())
	cfg.AdminEmail, cfg.AdminPassword = "", ""
	var out strings.Builder
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(context.Background(), cfg, logger, &out)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if !strings.Contains(out.String(), "generated password: ") {
		t.Fatalf("output %q", out.String())
	}
	out.Reset()
	a, err = app.New(context.Background(), cfg, logger, &out)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if out.Len() != 0 {
		t.Fatalf("second start printed %q", out.String())
	}
}
