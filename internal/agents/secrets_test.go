package agents_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/app"
	"github.com/neuais/neuais/internal/secrets"
	"github.com/neuais/neuais/models"
)

const plainSecret = "plaintext-secret-8d1f27"

// stored returns the environment column of agent id and every stored
// idempotency response, as a copy of the database would show them.
func stored(t *testing.T, s *apitest.Server, id string) []string {
	t.Helper()
	ctx := context.Background()
	var env string
	if err := s.App.DB.NewSelect().Table("agents").Column("environment").Where("id = ?", id).Scan(ctx, &env); err != nil {
		t.Fatal(err)
	}
	var responses []string
	if err := s.App.DB.NewSelect().Table("idempotency_keys").Column("response").Scan(ctx, &responses); err != nil {
		t.Fatal(err)
	}
	return append(responses, env)
}

// environmentOf reads agent id's environment through GraphQL, as its admin.
func environmentOf(t *testing.T, s *apitest.Server, id string) string {
	t.Helper()
	res := s.GraphQL(s.AdminToken, `query($id: ID!) { agent(id: $id) { environment } }`, map[string]any{"id": id})
	if len(res.Errors) > 0 {
		t.Fatalf("%+v", res.Errors)
	}
	return string(res.Data)
}

// sqliteFiles returns the bytes of an SQLite database and its WAL.
func sqliteFiles(t *testing.T, url string) []byte {
	t.Helper()
	path := strings.TrimPrefix(url, "sqlite:")
	var all []byte
	for _, p := range []string{path, path + "-wal"} {
		data, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, data...)
	}
	return all
}

// keyring is a keyring of a fresh random key.
func keyring(t *testing.T) *secrets.Keyring {
	t.Helper()
	k, err := secrets.LoadOrCreate(newKey(t), "")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func TestEnvironmentEncryptedAtRest(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		dataDir := t.TempDir()
		cfg := apitest.Config(url, dataDir)
		s := apitest.StartConfig(t, cfg)
		res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, withField(t, "environment", map[string]string{"API_KEY": plainSecret}), "Idempotency-Key", "sealed")
		if res.Status != http.StatusCreated {
			t.Fatalf("%d %s", res.Status, res.Body)
		}
		id, _ := res.JSON(t)["id"].(string)

		t.Run("ReadableThroughTheAPI", func(t *testing.T) {
			if got := environmentOf(t, s, id); !strings.Contains(got, plainSecret) {
				t.Fatal(got)
			}
			again := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, withField(t, "environment", map[string]string{"API_KEY": plainSecret}), "Idempotency-Key", "sealed")
			if again.Status != http.StatusCreated || string(again.Body) != string(res.Body) {
				t.Fatalf("replay: %d %s", again.Status, again.Body)
			}
		})
		t.Run("SealedInTheDatabase", func(t *testing.T) {
			values := stored(t, s, id)
			if len(values) != 2 {
				t.Fatalf("%d stored values", len(values))
			}
			for _, v := range values {
				if !secrets.IsSealed(v) || strings.Contains(v, plainSecret) {
					t.Errorf("stored in the clear: %.80s", v)
				}
			}
			if strings.HasPrefix(url, "sqlite:") && bytes.Contains(sqliteFiles(t, url), []byte(plainSecret)) {
				t.Error("the database file or its WAL holds the secret")
			}
		})
		t.Run("RowsFromBeforeEncryptionResealed", func(t *testing.T) {
			now := models.Now()
			legacy := models.Agent{ID: models.NewID(models.PrefixAgent), Name: "legacy", Runtime: "go", Region: "local", BinaryURL: "https://example.com/a",
				CPU: "0.5", Memory: "512Mi", Replicas: 1, SealedEnvironment: `{"OLD_KEY":"` + plainSecret + `-legacy"}`,
				Desired: models.DesiredRunning, Status: models.AgentDeploying, Generation: 1, Version: 1, CreatedAt: now, UpdatedAt: now}
			who, err := s.App.Auth.Authenticate(context.Background(), s.AdminToken)
			if err != nil {
				t.Fatal(err)
			}
			legacy.OrgID = who.OrgID
			if _, err := s.App.DB.NewInsert().Model(&legacy).Exec(context.Background()); err != nil {
				t.Fatal(err)
			}
			restarted := apitest.StartConfig(t, cfg) // the same database and key file
			for _, v := range stored(t, restarted, legacy.ID) {
				if !secrets.IsSealed(v) {
					t.Errorf("left in the clear: %.80s", v)
				}
			}
			if got := environmentOf(t, restarted, legacy.ID); !strings.Contains(got, plainSecret+"-legacy") {
				t.Fatal(got)
			}
			if strings.HasPrefix(url, "sqlite:") && bytes.Contains(sqliteFiles(t, url), []byte(plainSecret+"-legacy")) {
				t.Error("a copy of the old row stays in the database file or its WAL")
			}
		})
	})
}

func TestSecretKeyRotation(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		oldKey, newKey := newKey(t), newKey(t)
		cfg := apitest.Config(url, t.TempDir())
		cfg.SecretKey = oldKey
		s := apitest.StartConfig(t, cfg)
		id := mustCreate(t, s, s.AdminToken, "rotated")
		readable := func(s *apitest.Server) {
			t.Helper()
			if got := environmentOf(t, s, id); !strings.Contains(got, "LOG_LEVEL") {
				t.Fatal(got)
			}
		}
		cfg.SecretKey = newKey + "," + oldKey
		rotated := apitest.StartConfig(t, cfg)
		readable(rotated)
		kr, err := secrets.LoadOrCreate(newKey, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range stored(t, rotated, id) {
			if !kr.Current(v) {
				t.Errorf("not resealed with the new key: %.40s", v)
			}
		}
		cfg.SecretKey = newKey
		readable(apitest.StartConfig(t, cfg))
		t.Run("ErrSealingKeyMissing", func(t *testing.T) {
			cfg.SecretKey = oldKey
			cfg.DataDir = filepath.Join(t.TempDir(), "other")
			a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
			if err == nil {
				a.Close()
				t.Fatal("a server without the key that sealed the stored values started")
			}
			if !strings.Contains(err.Error(), "no key") {
				t.Fatalf("unclear error: %v", err)
			}
		})
	})
}
