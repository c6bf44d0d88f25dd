package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var listening = regexp.MustCompile(`listening on (\S+)`)

// cli runs one command to completion and returns its output.
func runCLI(t *testing.T, getenv func(string) string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, getenv, strings.NewReader(""), &out, io.Discard)
	return out.String(), err
}

func login(t *testing.T, base, email, password string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	res, err := http.Post(base+"/v1/auth/token", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestBinary runs main's run: serve on port 0 with a temporary data
// directory, operator commands beside the running server, then shutdown.
func TestBinary(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		env := map[string]string{
			"NEUAIS_ADDR":           "127.0.0.1:0",
			"NEUAIS_DATA_DIR":       t.TempDir(),
			"NEUAIS_DATABASE_URL":   url,
			"NEUAIS_ADMIN_EMAIL":    "root@example.com",
			"NEUAIS_ADMIN_PASSWORD": "root-password-1",
			"NEUAIS_BCRYPT_COST":    "4",
			"NEUAIS_LOG_LEVEL":      "error",
		}
		getenv := func(k string) string { return env[k] }

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		out := &syncBuffer{}
		done := make(chan error, 1)
		go func() { done <- run(ctx, []string{"serve"}, getenv, strings.NewReader(""), out, io.Discard) }()
		var base string
		for deadline := time.Now().Add(30 * time.Second); base == ""; {
			if m := listening.FindStringSubmatch(out.String()); m != nil {
				base = "http://" + m[1]
				break
			}
			select {
			case err := <-done:
				t.Fatalf("serve ended: %v\n%s", err, out.String())
			case <-time.After(10 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("server did not start:\n%s", out.String())
			}
		}
		if !strings.HasPrefix(base, "http://127.0.0.1:") {
			t.Fatalf("listening on %s", base)
		}

		t.Run("ServeAnswers", func(t *testing.T) {
			if code := login(t, base, "root@example.com", "root-password-1"); code != 200 {
				t.Fatalf("login %d", code)
			}
		})
		t.Run("EndpointNamesTheListenPort", func(t *testing.T) {
			body, _ := json.Marshal(map[string]string{"email": "root@example.com", "password": "root-password-1"})
			res, err := http.Post(base+"/v1/auth/token", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			json.NewDecoder(res.Body).Decode(&tok) //nolint:errcheck // checked through the next request
			res.Body.Close()
			query, _ := json.Marshal(map[string]string{"query": `mutation { createAgent(input: {name: "web", runtime: "go", binaryUrl: "http://127.0.0.1:1/agent"}) { endpoints } }`})
			req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(query))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			res, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(res.Body)
			res.Body.Close()
			port := base[strings.LastIndexByte(base, ':')+1:]
			if want := `"http://web.default.localhost:` + port + `"`; !strings.Contains(string(got), want) {
				t.Fatalf("endpoints %s, want %s", got, want)
			}
		})
		t.Run("OrgsCreateWhileServing", func(t *testing.T) {
			got, err := runCLI(t, getenv, "orgs", "create", "acme", "--admin-email", "boss@acme.example", "--admin-password", "acme-password-1", "--tier", "pro")
			if err != nil || !strings.Contains(got, `Created organization "acme"`) || !strings.Contains(got, "slug acme,") || !strings.Contains(got, "1000 requests/minute") {
				t.Fatalf("%v\n%s", err, got)
			}
			if code := login(t, base, "boss@acme.example", "acme-password-1"); code != 200 {
				t.Fatalf("new admin cannot log in to the running server: %d", code)
			}
		})
		t.Run("OrgsCreateGeneratesPassword", func(t *testing.T) {
			got, err := runCLI(t, getenv, "orgs", "create", "--admin-email", "gen@example.com", "generated")
			m := regexp.MustCompile(`Generated password \(shown once\): (\S+)`).FindStringSubmatch(got)
			if err != nil || m == nil {
				t.Fatalf("%v\n%s", err, got)
			}
			if code := login(t, base, "gen@example.com", m[1]); code != 200 {
				t.Fatalf("login with the generated password: %d", code)
			}
		})
		t.Run("ErrOrgsCreate", func(t *testing.T) {
			for _, args := range [][]string{
				{"orgs", "create", "acme", "--admin-email", "other@acme.example", "--admin-password", "acme-password-1"},
				{"orgs", "create", "fresh", "--admin-email", "boss@acme.example", "--admin-password", "acme-password-1"},
				{"orgs", "create", "fresh", "--admin-email", "not-an-address", "--admin-password", "acme-password-1"},
				{"orgs", "create", "fresh", "--admin-email", "x@example.com", "--admin-password", "acme-password-1", "--tier", "gold"},
				{"orgs", "create", "fresh", "--admin-email", "x@example.com", "--admin-password", "acme-password-1", "--slug", "acme"},
				{"orgs", "create", "fresh", "--admin-email", "x@example.com", "--admin-password", "acme-password-1", "--slug", "Not A Label"},
				{"orgs", "create", "--admin-email", "x@example.com"},
				{"orgs", "create", "a", "b", "--admin-email", "x@example.com"},
				{"orgs"},
				{"orgs", "delete", "acme"},
			} {
				if got, err := runCLI(t, getenv, args...); err == nil {
					t.Errorf("%v succeeded:\n%s", args, got)
				}
			}
		})
		t.Run("OrgsList", func(t *testing.T) {
			got, err := runCLI(t, getenv, "orgs", "list")
			if err != nil || !strings.Contains(got, "SLUG") || !strings.Contains(got, "default") || !strings.Contains(got, "acme") || !strings.Contains(got, "pro") || !strings.Contains(got, "1000/min") {
				t.Fatalf("%v\n%s", err, got)
			}
		})
		t.Run("OrgsSetTierWhileServing", func(t *testing.T) {
			body, _ := json.Marshal(map[string]string{"email": "boss@acme.example", "password": "acme-password-1"})
			res, err := http.Post(base+"/v1/auth/token", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			json.NewDecoder(res.Body).Decode(&tok) //nolint:errcheck // checked through the next request
			res.Body.Close()
			limit := func() string {
				req, _ := http.NewRequest(http.MethodGet, base+"/v1/agents", nil)
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				return res.Header.Get("X-RateLimit-Limit")
			}
			if got := limit(); got != "1000" {
				t.Fatalf("pro limit %s", got)
			}
			got, err := runCLI(t, getenv, "orgs", "set-tier", "acme", "--tier", "enterprise", "--rate-limit", "20000")
			if err != nil || !strings.Contains(got, "tier enterprise, 20000 requests/minute") {
				t.Fatalf("%v\n%s", err, got)
			}
			if got := limit(); got != "20000" {
				t.Fatalf("after set-tier the limit is %s", got)
			}
			for _, args := range [][]string{{"orgs", "set-tier", "acme", "--tier", "gold"}, {"orgs", "set-tier", "nobody", "--tier", "pro"}, {"orgs", "set-tier", "acme"}} {
				if got, err := runCLI(t, getenv, args...); err == nil {
					t.Errorf("%v succeeded:\n%s", args, got)
				}
			}
		})
		t.Run("Invoices", func(t *testing.T) {
			if got, err := runCLI(t, getenv, "invoices", "list"); err != nil || !strings.Contains(got, "PERIOD") {
				t.Fatalf("%v\n%s", err, got)
			}
			for _, args := range [][]string{{"invoices", "mark-paid", "inv_0000000000000000"}, {"invoices", "void"}, {"invoices"}} {
				if got, err := runCLI(t, getenv, args...); err == nil {
					t.Errorf("%v succeeded:\n%s", args, got)
				}
			}
		})
		t.Run("MigrateWhileServing", func(t *testing.T) {
			got, err := runCLI(t, getenv, "migrate", "status")
			if err != nil || !strings.Contains(got, "foundation") || strings.Contains(got, "pending") {
				t.Fatalf("%v\n%s", err, got)
			}
			if got, err := runCLI(t, getenv, "migrate", "up"); err != nil || !strings.Contains(got, "Applied 0 migration(s)") {
				t.Fatalf("%v\n%s", err, got)
			}
		})
		t.Run("Version", func(t *testing.T) {
			if got, err := runCLI(t, getenv, "version"); err != nil || strings.TrimSpace(got) == "" {
				t.Fatalf("%v %q", err, got)
			}
		})
		t.Run("ErrUsage", func(t *testing.T) {
			for _, args := range [][]string{{}, {"nope"}, {"migrate"}, {"migrate", "sideways"}, {"serve", "extra"}, {"migrate", "up", "--no-such-flag"}} {
				if _, err := runCLI(t, getenv, args...); err == nil {
					t.Errorf("%v succeeded", args)
				}
			}
		})

		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop")
		}

		t.Run("MigrateDownAndUp", func(t *testing.T) {
			got, err := runCLI(t, getenv, "migrate", "down")
			if err != nil || !strings.Contains(got, "Rolled back group") {
				t.Fatalf("%v\n%s", err, got)
			}
			if got, err := runCLI(t, getenv, "migrate", "status"); err != nil || !strings.Contains(got, "pending") {
				t.Fatalf("%v\n%s", err, got)
			}
			if got, err := runCLI(t, getenv, "migrate", "up"); err != nil || strings.Contains(got, "Applied 0") {
				t.Fatalf("%v\n%s", err, got)
			}
			if got, err := runCLI(t, getenv, "migrate", "status"); err != nil || strings.Contains(got, "pending") {
				t.Fatalf("%v\n%s", err, got)
			}
		})
	})
}

func TestMigrateUpOnEmptyDatabase(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		env := map[string]string{"NEUAIS_DATA_DIR": t.TempDir(), "NEUAIS_DATABASE_URL": url}
		getenv := func(k string) string { return env[k] }
		got, err := runCLI(t, getenv, "migrate", "up")
		if err != nil || !regexp.MustCompile(`Applied [1-9]\d* migration\(s\)`).MatchString(got) {
			t.Fatalf("%v\n%s", err, got)
		}
		if got, err := runCLI(t, getenv, "migrate", "status"); err != nil || strings.Contains(got, "pending") {
			t.Fatalf("%v\n%s", err, got)
		}
	})
}

// TestBuiltBinary builds the command as a user would and checks what only
// a real build shows: the recorded VCS revision and exit codes.
func TestBuiltBinary(t *testing.T) {
	rev, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	dirs, _ := exec.Command("git", "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir").Output()
	if d := strings.Fields(string(dirs)); len(d) == 2 && d[0] != d[1] {
		t.Skip("go build records no VCS revision in a linked git worktree")
	}
	bin := filepath.Join(t.TempDir(), "neuais")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Run("VersionShowsRevision", func(t *testing.T) {
		out, err := exec.Command(bin, "version").Output()
		if err != nil || !strings.Contains(string(out), "revision "+strings.TrimSpace(string(rev))) || !strings.HasPrefix(string(out), "neuais v") {
			t.Fatalf("%v: %s", err, out)
		}
	})
	t.Run("ServeHelpExitsZero", func(t *testing.T) {
		cmd := exec.Command(bin, "serve", "--help")
		cmd.Env = append(os.Environ(), "NEUAIS_JWT_SECRET=do-not-print-this-secret-0123456789abcdef")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if strings.Contains(string(out), "do-not-print-this-secret") {
			t.Fatalf("help shows a value from the environment:\n%s", out)
		}
		flags := 0
		for _, line := range strings.Split(string(out), "\n") {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "--") || !strings.Contains(line, "[NEUAIS_") {
				continue
			}
			flags++
			if !strings.Contains(line, "(default: ") {
				t.Errorf("flag without its default: %q", line)
			}
		}
		if flags < 30 {
			t.Fatalf("%d flags in the help:\n%s", flags, out)
		}
	})
	t.Run("ErrUnknownFlagExitsNonZero", func(t *testing.T) {
		if err := exec.Command(bin, "serve", "--no-such-flag").Run(); err == nil {
			t.Fatal("exit 0")
		}
	})
}
