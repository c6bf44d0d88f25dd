package app_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/models"
)

func TestRunnerBinary(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		upload := func(token string, data []byte) (id, url string) {
			t.Helper()
			res := s.Do(http.MethodPost, "/v1/binaries", token, data, "Content-Type", "application/octet-stream")
			var b struct{ ID, URL string }
			if res.Status != http.StatusCreated || json.Unmarshal(res.Body, &b) != nil {
				t.Fatalf("upload: %d %s", res.Status, res.Body)
			}
			return b.ID, b.URL
		}
		data := []byte("#!/bin/sh\necho runner\n")
		binaryID, binaryURL := upload(s.AdminToken, data)
		res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, map[string]any{"name": "pod-agent", "runtime": "native", "binary_url": binaryURL})
		if res.Status != http.StatusCreated {
			t.Fatalf("create agent: %d %s", res.Status, res.Body)
		}
		agentID := res.JSON(t)["id"].(string)
		credential := s.App.RunnerCredential(agentID)
		path := "/runner/v1/binaries/" + binaryID

		t.Run("Serves", func(t *testing.T) {
			res := s.Do(http.MethodGet, path, credential, nil)
			digest := sha256.Sum256(data)
			if res.Status != http.StatusOK || !bytes.Equal(res.Body, data) || res.Header.Get("X-Content-SHA256") != hex.EncodeToString(digest[:]) ||
				res.Header.Get("Content-Type") != "application/octet-stream" {
				t.Fatalf("%d %q %v", res.Status, res.Body, res.Header)
			}
		})
		t.Run("ErrBadCredential", func(t *testing.T) {
			tampered := []byte(credential)
			tampered[len(tampered)-1] ^= 1
			for name, header := range map[string]string{
				"none":          "",
				"garbled":       "Bearer nrc_garbage",
				"tampered":      "Bearer " + string(tampered),
				"not bearer":    "Basic " + credential,
				"user token":    "Bearer " + s.AdminToken,
				"unknown agent": "Bearer " + s.App.RunnerCredential("agt_nosuchagent"),
			} {
				res := s.Do(http.MethodGet, path, "", nil, "Authorization", header)
				if res.Status != http.StatusUnauthorized || res.ErrorCode() != string(models.CodeUnauthorized) {
					t.Errorf("%s: %d %s", name, res.Status, res.Body)
				}
			}
			// Nor is the credential a user's token on the public API.
			if res := s.Do(http.MethodGet, "/v1/binaries/"+binaryID+"/content", credential, nil); res.Status != http.StatusUnauthorized {
				t.Errorf("public API: %d %s", res.Status, res.Body)
			}
		})
		t.Run("ErrOtherOrgsBinary", func(t *testing.T) {
			other := s.CreateOrg("other", "other@example.com", models.TierFree)
			otherID, _ := upload(other.Token, []byte("#!/bin/sh\necho other\n"))
			for _, id := range []string{otherID, "bin_nosuchbinary"} {
				res := s.Do(http.MethodGet, "/runner/v1/binaries/"+id, credential, nil)
				if res.Status != http.StatusNotFound || res.ErrorCode() != string(models.CodeNotFound) {
					t.Errorf("%s: %d %s", id, res.Status, res.Body)
				}
			}
		})
		t.Run("ErrAgentDeleted", func(t *testing.T) {
			if res := s.Do(http.MethodDelete, "/v1/agents/"+agentID, s.AdminToken, nil); res.Status != http.StatusOK {
				t.Fatalf("delete agent: %d %s", res.Status, res.Body)
			}
			if res := s.Do(http.MethodGet, path, credential, nil); res.Status != http.StatusUnauthorized || res.ErrorCode() != string(models.CodeUnauthorized) {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
	})
}
