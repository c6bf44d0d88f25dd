package e2e_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
)

// TestAgentFromUploadedBinary: a binary uploaded through REST runs as an
// agent named by neuais://binaries/…, on a server that refuses private
// download addresses (the upload needs no download), and serves its PORT.
func TestAgentFromUploadedBinary(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		cfg := runtimeConfig(url, t.TempDir())
		cfg.AllowPrivateBinaryURLs = false
		s := apitest.StartConfig(t, cfg)
		res, err := http.Get(binaries.URL + "/agent")
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(res.Body)
		res.Body.Close()
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/binaries", bytes.NewReader(data))
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Authorization", "Bearer "+s.AdminToken)
		res, err = s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var bin struct{ ID, SHA256, URL string }
		json.NewDecoder(res.Body).Decode(&bin) //nolint:errcheck // checked below
		res.Body.Close()
		if res.StatusCode != 201 || bin.SHA256 != agentSHA256 {
			t.Fatalf("upload: %d %+v", res.StatusCode, bin)
		}
		created := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, map[string]any{"name": "uploaded", "runtime": "go", "binary_url": bin.URL,
			"environment": map[string]string{"GREETING": "from-upload"}})
		agent := decodeAgent(t, created)
		waitStatus(t, s, agent.ID, "running")
		if code, body := throughProxy(t, s, "uploaded"); code != 200 || !strings.Contains(body, "replica 1") {
			t.Fatalf("agent answered %d %q", code, body)
		}
		apitest.Eventually(t, 30*time.Second, "the agent's environment in its log", func() bool {
			return strings.Contains(logMessages(t, s, agent.ID), "env GREETING=from-upload")
		})
	})
}
