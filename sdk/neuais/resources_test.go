package neuais_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/sdk/neuais"
)

// TestBinaries uploads from bytes, a file and an unseekable stream, pages
// through them, reads one back, and deletes one refused while an agent
// uses it.
func TestBinaries(t *testing.T) {
	s := apitest.Start(t, "")
	bins := connect(t, s).Binaries()
	data := []byte("#!/bin/sh\necho from bytes\n")
	fromBytes, err := bins.Upload(neuais.UploadBinaryRequest{Content: bytes.NewReader(data), IdempotencyKey: "sdk-upload-1"})
	if err != nil || fromBytes.Size != int64(len(data)) || fromBytes.URL != "neuais://binaries/"+fromBytes.ID || len(fromBytes.SHA256) != 64 {
		t.Fatalf("Upload = %+v, %v", fromBytes, err)
	}
	t.Run("RetriedWithItsKey", func(t *testing.T) {
		again, err := bins.Upload(neuais.UploadBinaryRequest{Content: bytes.NewReader(data), IdempotencyKey: "sdk-upload-1"})
		if err != nil || again.ID != fromBytes.ID {
			t.Fatalf("Upload again = %+v, %v", again, err)
		}
		_, err = bins.Upload(neuais.UploadBinaryRequest{Content: strings.NewReader("#!/bin/sh\nother\n"), IdempotencyKey: "sdk-upload-1"})
		if e := apiError(t, err); e.StatusCode != 409 || e.Code != "conflict" {
			t.Fatalf("key with other bytes: %+v", e)
		}
	})
	path := filepath.Join(t.TempDir(), "agent.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho from a file\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	fromFile, err := bins.UploadFile(path)
	if err != nil || fromFile.Size != 27 {
		t.Fatalf("UploadFile = %+v, %v", fromFile, err)
	}
	// A pipe is no io.Seeker: sent chunked, of unknown length.
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeString(pw, "#!/bin/sh\necho from a stream\n")) }()
	fromStream, err := bins.Upload(neuais.UploadBinaryRequest{Content: pr})
	if err != nil || fromStream.Size != 29 {
		t.Fatalf("Upload(stream) = %+v, %v", fromStream, err)
	}
	if _, err := bins.Upload(neuais.UploadBinaryRequest{Content: strings.NewReader("<html>")}); apiError(t, err).Code != "invalid_request" {
		t.Fatalf("not executable: %v", err)
	}

	t.Run("ListAllGet", func(t *testing.T) {
		list, err := bins.List(&neuais.ListOptions{Limit: 1, Sort: "created_at:asc"})
		if err != nil || list.Total != 3 || !list.HasMore || list.Binaries[0].ID != fromBytes.ID {
			t.Fatalf("List = %+v, %v", list, err)
		}
		var ids []string
		for b, err := range bins.All(&neuais.ListOptions{Limit: 2, Sort: "created_at:asc"}) {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, b.ID)
		}
		if strings.Join(ids, " ") != fromBytes.ID+" "+fromFile.ID+" "+fromStream.ID {
			t.Fatalf("All = %v", ids)
		}
		got, err := bins.Get(fromFile.ID)
		if err != nil || *got != *fromFile {
			t.Fatalf("Get = %+v, %v; want %+v", got, err, fromFile)
		}
		if _, err := bins.Get("bin_missing"); apiError(t, err).StatusCode != 404 {
			t.Fatalf("Get(missing) = %v", err)
		}
	})
	t.Run("Content", func(t *testing.T) {
		r, err := bins.Content(fromBytes.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Content = %q, %v", got, err)
		}
		if _, err := bins.Content("bin_missing"); apiError(t, err).Code != "not_found" {
			t.Fatalf("Content(missing) = %v", err)
		}
	})
	t.Run("DeleteRefusedWhileUsed", func(t *testing.T) {
		agents := connect(t, s).Agents()
		agent, err := agents.Create(neuais.CreateAgentRequest{Name: "uses-upload", Runtime: "native", BinaryURL: fromBytes.URL})
		if err != nil {
			t.Fatalf("agent from the upload: %v", err)
		}
		if got, err := agents.Get(agent.ID); err != nil || got.BinaryURL != fromBytes.URL {
			t.Fatalf("agent = %+v, %v", got, err)
		}
		if e := apiError(t, bins.Delete(fromBytes.ID)); e.StatusCode != 409 || e.Code != "conflict" {
			t.Fatalf("delete in use: %+v", e)
		}
		if err := agents.Delete(agent.ID); err != nil {
			t.Fatal(err)
		}
		if err := bins.Delete(fromBytes.ID); err != nil {
			t.Fatalf("delete unused: %v", err)
		}
		if _, err := bins.Get(fromBytes.ID); apiError(t, err).Code != "not_found" {
			t.Fatalf("after delete: %v", err)
		}
	})
}

func writeString(w io.Writer, s string) error {
	_, err := io.WriteString(w, s)
	return err
}

// TestTokens creates tokens, uses one as a second client's bearer, pages
// through them and revokes one, which is refused from then on.
func TestTokens(t *testing.T) {
	s := apitest.Start(t, "")
	client := connect(t, s)
	tokens := client.Tokens()
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	req := neuais.CreateAPITokenRequest{Name: "sdk-ci", Role: "developer", ExpiresAt: &exp, IdempotencyKey: "sdk-token-1"}
	tok, err := tokens.Create(req)
	if err != nil || !strings.HasPrefix(tok.Token, "nat_") || tok.Role != "developer" || tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(exp) {
		t.Fatalf("Create = %+v, %v", tok, err)
	}
	if again, err := tokens.Create(req); err != nil || again.ID != tok.ID || again.Token != tok.Token {
		t.Fatalf("Create again with its key = %+v, %v", again, err)
	}
	other, err := tokens.Create(neuais.CreateAPITokenRequest{Name: "sdk-other", Role: "viewer"})
	if err != nil || other.ExpiresAt != nil {
		t.Fatalf("Create(no expiry) = %+v, %v", other, err)
	}
	if _, err := tokens.Create(neuais.CreateAPITokenRequest{Name: "bad", Role: "root"}); apiError(t, err).Code != "invalid_request" {
		t.Fatalf("bad role: %v", err)
	}

	ci := neuais.NewClient(tok.Token, neuais.WithBaseURL(s.URL))
	if list, err := ci.Agents().List(); err != nil || list.Total != 0 {
		t.Fatalf("List with the token = %+v, %v", list, err)
	}
	t.Run("ListAll", func(t *testing.T) {
		list, err := tokens.List(&neuais.ListOptions{Limit: 1, Sort: "name"})
		if err != nil || list.Total != 2 || !list.HasMore || list.Tokens[0].Name != "sdk-ci" || list.Tokens[0].UserID != tok.UserID {
			t.Fatalf("List = %+v, %v", list, err)
		}
		var names []string
		for tk, err := range tokens.All(&neuais.ListOptions{Limit: 1, Sort: "name"}) {
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, tk.Name)
		}
		if strings.Join(names, " ") != "sdk-ci sdk-other" {
			t.Fatalf("All = %v", names)
		}
	})
	t.Run("Revoke", func(t *testing.T) {
		if err := tokens.Revoke(tok.ID); err != nil {
			t.Fatal(err)
		}
		_, err := ci.Agents().List()
		if e := apiError(t, err); e.StatusCode != 401 || e.Code != "unauthorized" {
			t.Fatalf("revoked token: %+v", e)
		}
		if e := apiError(t, tokens.Revoke(tok.ID)); e.Code != "not_found" {
			t.Fatalf("revoke twice: %+v", e)
		}
	})
}
