package binaries_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/binaries"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/models"
)

// script is a small executable the server accepts.
func script(body string) []byte { return []byte("#!/bin/sh\n" + body + "\n") }

func sum(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

type binary struct {
	ID        string `json:"id"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	URL       string `json:"url"`
	CreatedAt string `json:"created_at"`
}

// post sends body to path with content type ct and token.
func post(t *testing.T, s *apitest.Server, path, token, ct string, body io.Reader) *apitest.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return &apitest.Response{Status: res.StatusCode, Header: res.Header, Body: data}
}

func uploadRaw(t *testing.T, s *apitest.Server, token string, data []byte) *apitest.Response {
	return post(t, s, "/v1/binaries", token, "application/octet-stream", bytes.NewReader(data))
}

// restMultipart is POST /v1/binaries with a form field, then the file.
func restMultipart(t *testing.T, s *apitest.Server, token string, data []byte) *apitest.Response {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("note", "skipped"); err != nil {
		t.Fatal(err)
	}
	fw, _ := mw.CreateFormFile("file", "agent")
	if _, err := fw.Write(data); err != nil {
		t.Fatal(err)
	}
	mw.Close()
	return post(t, s, "/v1/binaries", token, mw.FormDataContentType(), &buf)
}

// graphqlMultipart sends uploadBinary as a GraphQL multipart request, as
// apollo-upload-client and graphql-request do: operations, map, file "0".
func graphqlMultipart(t *testing.T, s *apitest.Server, token string, data []byte) *apitest.GraphQLResponse {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("operations", `{"query":"mutation ($file: Upload!) { uploadBinary(file: $file) { id sha256 size url createdAt } }","variables":{"file":null}}`); err != nil {
		t.Fatal(err)
	}
	if err := mw.WriteField("map", `{"0":["variables.file"]}`); err != nil {
		t.Fatal(err)
	}
	fw, _ := mw.CreateFormFile("0", "agent")
	if _, err := fw.Write(data); err != nil {
		t.Fatal(err)
	}
	mw.Close()
	res := post(t, s, "/graphql", token, mw.FormDataContentType(), &buf)
	var out apitest.GraphQLResponse
	if err := json.Unmarshal(res.Body, &out); err != nil {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	return &out
}

func decode(t *testing.T, res *apitest.Response, want int) binary {
	t.Helper()
	if res.Status != want {
		t.Fatalf("status %d, want %d: %s", res.Status, want, res.Body)
	}
	var b binary
	if err := json.Unmarshal(res.Body, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUpload(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		admin := s.Admin()
		data := script("echo raw")

		var raw binary
		t.Run("RawREST", func(t *testing.T) {
			res := uploadRaw(t, s, s.AdminToken, data)
			raw = decode(t, res, http.StatusCreated)
			if !strings.HasPrefix(raw.ID, "bin_") || raw.SHA256 != sum(data) || raw.Size != int64(len(data)) || raw.URL != "neuais://binaries/"+raw.ID {
				t.Fatalf("%+v", raw)
			}
			if _, err := time.Parse(time.RFC3339, raw.CreatedAt); err != nil || !strings.HasSuffix(raw.CreatedAt, "Z") {
				t.Fatalf("created_at %q", raw.CreatedAt)
			}
			if loc := res.Header.Get("Location"); loc != "/v1/binaries/"+raw.ID {
				t.Fatalf("Location %q", loc)
			}
		})
		t.Run("DedupMultipartREST", func(t *testing.T) {
			again := decode(t, restMultipart(t, s, s.AdminToken, data), http.StatusCreated)
			if again.ID != raw.ID {
				t.Fatalf("same content stored twice: %s and %s", raw.ID, again.ID)
			}
			dir := filepath.Join(binaries.Dir(s.App.Config.DataDir), admin.OrgID)
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Fatalf("%d files in %s", len(entries), dir)
			}
			for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, raw.SHA256): 0o600, binaries.Dir(s.App.Config.DataDir): 0o700} {
				if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
					t.Errorf("%s: %v %v, want %v", path, fi.Mode().Perm(), err, want)
				}
			}
		})
		t.Run("GraphQLMultipart", func(t *testing.T) {
			other := script("echo graphql")
			out := graphqlMultipart(t, s, s.AdminToken, other)
			var got struct {
				UploadBinary struct {
					ID     string `json:"id"`
					SHA256 string `json:"sha256"`
					Size   int64  `json:"size"`
				} `json:"uploadBinary"`
			}
			if len(out.Errors) > 0 || json.Unmarshal(out.Data, &got) != nil || got.UploadBinary.SHA256 != sum(other) || got.UploadBinary.Size != int64(len(other)) {
				t.Fatalf("%s %+v", out.Data, out.Errors)
			}
		})
		t.Run("ErrNotExecutable", func(t *testing.T) {
			res := uploadRaw(t, s, s.AdminToken, []byte("<html>not a binary</html>"))
			if res.Status != 400 || res.ErrorField() != "file" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			if res := uploadRaw(t, s, s.AdminToken, nil); res.Status != 400 {
				t.Fatalf("empty: %d %s", res.Status, res.Body)
			}
		})
		t.Run("ErrMediaType", func(t *testing.T) {
			res := post(t, s, "/v1/binaries", s.AdminToken, "application/json", strings.NewReader(`{}`))
			if res.Status != 415 || res.ErrorCode() != "unsupported_media_type" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("ListGetContent", func(t *testing.T) {
			list := s.Do(http.MethodGet, "/v1/binaries?limit=1&sort=created_at:asc", s.AdminToken, nil)
			var page struct {
				Binaries []binary `json:"binaries"`
				Total    int      `json:"total"`
				HasMore  bool     `json:"has_more"`
			}
			if list.Status != 200 || json.Unmarshal(list.Body, &page) != nil || page.Total != 2 || !page.HasMore || page.Binaries[0].ID != raw.ID {
				t.Fatalf("%d %s", list.Status, list.Body)
			}
			if got := decode(t, s.Do(http.MethodGet, "/v1/binaries/"+raw.ID, s.AdminToken, nil), 200); got != raw {
				t.Fatalf("%+v != %+v", got, raw)
			}
			content := s.Do(http.MethodGet, "/v1/binaries/"+raw.ID+"/content", s.AdminToken, nil)
			if content.Status != 200 || !bytes.Equal(content.Body, data) || content.Header.Get("X-Content-SHA256") != raw.SHA256 {
				t.Fatalf("%d %q %v", content.Status, content.Body, content.Header)
			}
		})
		t.Run("AgentRefersAndDeleteInUse", func(t *testing.T) {
			for i, ref := range []string{raw.URL, s.URL + "/v1/binaries/" + raw.ID + "/content"} {
				name := []string{"uses-scheme", "uses-rest-url"}[i]
				res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, map[string]any{"name": name, "runtime": "native", "binary_url": ref})
				if res.Status != 201 {
					t.Fatalf("%s: %d %s", ref, res.Status, res.Body)
				}
				if res := s.Do(http.MethodPost, "/v1/agents/"+res.JSON(t)["id"].(string)+"/stop", s.AdminToken, nil); res.Status != 200 {
					t.Fatalf("stop: %d %s", res.Status, res.Body)
				}
			}
			res := s.Do(http.MethodDelete, "/v1/binaries/"+raw.ID, s.AdminToken, nil)
			if res.Status != 409 || res.ErrorCode() != "conflict" || !strings.Contains(string(res.Body), "uses-rest-url") {
				t.Fatalf("delete in use: %d %s", res.Status, res.Body)
			}
			res = s.Do(http.MethodPost, "/v1/agents", s.AdminToken, map[string]any{"name": "wrong-sum", "runtime": "native", "binary_url": raw.URL, "binary_sha256": strings.Repeat("0", 64)})
			if res.Status != 400 || res.ErrorField() != "binary_sha256" {
				t.Fatalf("sha256 mismatch: %d %s", res.Status, res.Body)
			}
			for _, name := range []string{"uses-scheme", "uses-rest-url"} {
				list := s.Do(http.MethodGet, "/v1/agents?name_prefix="+name, s.AdminToken, nil)
				id := list.JSON(t)["agents"].([]any)[0].(map[string]any)["id"].(string)
				if res := s.Do(http.MethodDelete, "/v1/agents/"+id, s.AdminToken, nil); res.Status != 200 {
					t.Fatalf("delete agent: %d %s", res.Status, res.Body)
				}
			}
			if res := s.Do(http.MethodDelete, "/v1/binaries/"+raw.ID, s.AdminToken, nil); res.Status != 200 {
				t.Fatalf("delete: %d %s", res.Status, res.Body)
			}
			if _, err := os.Stat(filepath.Join(binaries.Dir(s.App.Config.DataDir), admin.OrgID, raw.SHA256)); !os.IsNotExist(err) {
				t.Fatalf("file kept: %v", err)
			}
			if res := s.Do(http.MethodGet, "/v1/binaries/"+raw.ID, s.AdminToken, nil); res.Status != 404 {
				t.Fatalf("after delete: %d", res.Status)
			}
		})
		t.Run("CrossOrg", func(t *testing.T) {
			mine := decode(t, uploadRaw(t, s, s.AdminToken, script("echo mine")), 201)
			other := s.CreateOrg("other", "other@example.com", models.TierFree)
			for _, req := range [][2]string{{"GET", "/v1/binaries/" + mine.ID}, {"GET", "/v1/binaries/" + mine.ID + "/content"}, {"DELETE", "/v1/binaries/" + mine.ID}} {
				if res := s.Do(req[0], req[1], other.Token, nil); res.Status != 404 || res.ErrorCode() != "not_found" {
					t.Errorf("%v: %d %s", req, res.Status, res.Body)
				}
			}
			res := s.Do(http.MethodPost, "/v1/agents", other.Token, map[string]any{"name": "thief", "runtime": "native", "binary_url": mine.URL})
			if res.Status != 400 || res.ErrorField() != "binary_url" {
				t.Fatalf("agent from another org's binary: %d %s", res.Status, res.Body)
			}
			if list := s.Do(http.MethodGet, "/v1/binaries", other.Token, nil); list.JSON(t)["total"].(float64) != 0 {
				t.Fatalf("other org lists %s", list.Body)
			}
			// The same content in another organization is its own binary.
			theirs := decode(t, uploadRaw(t, s, other.Token, script("echo mine")), 201)
			if theirs.ID == mine.ID {
				t.Fatal("binary shared across organizations")
			}
		})
		t.Run("Roles", func(t *testing.T) {
			dev := s.CreateUser(s.AdminToken, "dev@example.com", models.RoleDeveloper)
			viewer := s.CreateUser(s.AdminToken, "viewer@example.com", models.RoleViewer)
			devBin := decode(t, uploadRaw(t, s, dev.Token, script("echo dev")), 201)
			if res := uploadRaw(t, s, viewer.Token, script("echo viewer")); res.Status != 403 {
				t.Errorf("viewer upload: %d", res.Status)
			}
			if out := graphqlMultipart(t, s, viewer.Token, script("echo viewer")); out.Code() != "forbidden" {
				t.Errorf("viewer GraphQL upload: %+v", out.Errors)
			}
			if res := uploadRaw(t, s, "", script("echo anonymous")); res.Status != 401 {
				t.Errorf("anonymous upload: %d", res.Status)
			}
			for _, path := range []string{"/v1/binaries", "/v1/binaries/" + devBin.ID, "/v1/binaries/" + devBin.ID + "/content"} {
				if res := s.Do(http.MethodGet, path, viewer.Token, nil); res.Status != 200 {
					t.Errorf("viewer GET %s: %d", path, res.Status)
				}
			}
			if res := s.Do(http.MethodDelete, "/v1/binaries/"+devBin.ID, viewer.Token, nil); res.Status != 403 {
				t.Errorf("viewer delete: %d", res.Status)
			}
			if res := s.Do(http.MethodDelete, "/v1/binaries/"+devBin.ID, dev.Token, nil); res.Status != 200 {
				t.Errorf("developer delete: %d", res.Status)
			}
		})
	})
}

// TestUploadIdempotencyKey: a retried upload with its key answers the first
// binary; the key with other bytes is a conflict that leaves nothing behind.
func TestUploadIdempotencyKey(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		admin := s.Admin()
		keyed := func(key string, data []byte) *apitest.Response {
			res := s.Do(http.MethodPost, "/v1/binaries", s.AdminToken, data, "Idempotency-Key", key, "Content-Type", "application/octet-stream")
			return res
		}
		data := script("echo keyed")
		first := decode(t, keyed("bin-1", data), http.StatusCreated)
		if again := decode(t, keyed("bin-1", data), http.StatusCreated); again.ID != first.ID {
			t.Fatalf("retry: %+v, first %+v", again, first)
		}
		other := script("echo other bytes")
		if res := keyed("bin-1", other); res.Status != 409 || res.ErrorCode() != "conflict" {
			t.Fatalf("same key, other bytes: %d %s", res.Status, res.Body)
		}
		if _, err := os.Stat(filepath.Join(binaries.Dir(s.App.Config.DataDir), admin.OrgID, sum(other))); !os.IsNotExist(err) {
			t.Fatalf("the refused upload's file stayed: %v", err)
		}
		if res := s.Do(http.MethodDelete, "/v1/binaries/"+first.ID, s.AdminToken, nil); res.Status != 200 {
			t.Fatalf("delete: %d %s", res.Status, res.Body)
		}
		// The record went with the binary: the key stores the other bytes now.
		if b := decode(t, keyed("bin-1", other), http.StatusCreated); b.SHA256 != sum(other) {
			t.Fatalf("%+v", b)
		}
	})
}

func TestUploadCap(t *testing.T) {
	s := apitest.Start(t, "sqlite:"+filepath.Join(t.TempDir(), "test.db"), func(c *config.Config) { c.MaxBinaryBytes = 1024 })
	big := script(strings.Repeat("x", 2048))
	t.Run("DeclaredLength", func(t *testing.T) {
		res := uploadRaw(t, s, s.AdminToken, big)
		if res.Status != 413 || res.ErrorCode() != "payload_too_large" {
			t.Fatalf("%d %s", res.Status, res.Body)
		}
	})
	t.Run("Chunked", func(t *testing.T) {
		// No Content-Length: the cap holds while reading.
		res := post(t, s, "/v1/binaries", s.AdminToken, "application/octet-stream", io.MultiReader(bytes.NewReader(big)))
		if res.Status != 413 || res.ErrorCode() != "payload_too_large" {
			t.Fatalf("%d %s", res.Status, res.Body)
		}
	})
	t.Run("Multipart", func(t *testing.T) {
		if res := restMultipart(t, s, s.AdminToken, big); res.Status != 413 {
			t.Fatalf("%d %s", res.Status, res.Body)
		}
		if out := graphqlMultipart(t, s, s.AdminToken, big); out.Code() != "payload_too_large" {
			t.Fatalf("%+v", out.Errors)
		}
	})
	entries, _ := os.ReadDir(filepath.Join(binaries.Dir(s.App.Config.DataDir), "tmp"))
	if len(entries) != 0 {
		t.Fatalf("%d temporary files left", len(entries))
	}
	if res := uploadRaw(t, s, s.AdminToken, script("small")); res.Status != 201 {
		t.Fatalf("small: %d %s", res.Status, res.Body)
	}
}

// TestUploadTooSlow: a client that stops sending is cut off after the rate
// window, not after the 30 s body deadline.
func TestUploadTooSlow(t *testing.T) {
	s := apitest.Start(t, "sqlite:"+filepath.Join(t.TempDir(), "test.db"), func(c *config.Config) {
		c.FetchMinRate = 1000
		c.FetchRateWindow = time.Second
	})
	conn, err := net.Dial("tcp", s.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "POST /v1/binaries HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+s.AdminToken+
		"\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n#!/bin/sh\n"); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	reply, _ := io.ReadAll(conn)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("cut off after %s", took)
	}
	if !bytes.HasPrefix(reply, []byte("HTTP/1.1 408")) || !bytes.Contains(reply, []byte(`"code":"timeout"`)) {
		t.Fatalf("%s", reply)
	}
}

// filler is an endless executable: "#!" then bytes of a counter.
type filler struct{ n uint64 }

func (f *filler) Read(p []byte) (int, error) {
	for i := range p {
		switch f.n {
		case 0:
			p[i] = '#'
		case 1:
			p[i] = '!'
		default:
			p[i] = byte(f.n*2654435761>>13) | 1
		}
		f.n++
	}
	return len(p), nil
}

// TestUpload200MiB streams 200 MiB through REST and checks that the
// server's heap stays flat: the body goes to disk as it arrives.
func TestUpload200MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("200 MiB upload")
	}
	const size = 200 << 20
	s := apitest.Start(t, "sqlite:"+filepath.Join(t.TempDir(), "test.db"))
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak, peakRSS atomic.Uint64
	baseRSS := rss()
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			if r := rss(); r > peakRSS.Load() {
				peakRSS.Store(r)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	hash := sha256.New()
	body := io.TeeReader(io.LimitReader(&filler{}, size), hash)
	start := time.Now()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/binaries", body)
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Authorization", "Bearer "+s.AdminToken)
	res, err := s.Client().Do(req)
	close(done)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	took := time.Since(start)
	var b binary
	if res.StatusCode != 201 || json.Unmarshal(data, &b) != nil || b.Size != size || b.SHA256 != hex.EncodeToString(hash.Sum(nil)) {
		t.Fatalf("%d %s", res.StatusCode, data)
	}
	growth := int64(peak.Load()) - int64(base.HeapInuse)
	rssGrowth := int64(peakRSS.Load()) - int64(baseRSS)
	t.Logf("200 MiB in %s; heap in use %d MiB before, peak %d MiB (growth %d MiB); RSS %d MiB before, peak %d MiB (growth %d MiB)",
		took.Round(time.Millisecond), base.HeapInuse>>20, peak.Load()>>20, growth>>20, baseRSS>>20, peakRSS.Load()>>20, rssGrowth>>20)
	if growth > 32<<20 || rssGrowth > 64<<20 {
		t.Fatalf("memory grew during a 200 MiB upload: heap %d MiB, RSS %d MiB", growth>>20, rssGrowth>>20)
	}
	if took > 2*time.Minute {
		t.Fatalf("took %s", took)
	}
}

// rss returns the process's resident set size in bytes (0 off Linux).
func rss() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb uint64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d", &kb); err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
