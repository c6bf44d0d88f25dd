// Package typescript_test runs the TypeScript SDK's tests (node --test)
// against a real server that this Go test starts, as test/live drives its
// npm clients: the server URL, tokens, the test agent's URL and a control
// URL that restarts the server are in the tests' environment.
package typescript_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/models"
)

// tool returns the path of node, skipping the test outside CI when it or
// the installed and built package is missing.
func tool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("node")
	_, statErr := os.Stat(filepath.Join("dist", "index.js"))
	if err != nil || statErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs node and a built sdk/typescript: %v %v", err, statErr)
		}
		t.Skip("node or dist/ missing: run `npm ci && npm run build` in sdk/typescript")
	}
	return path
}

// billedBytes is the network of the admin's invoiced month: 123.4 GB, whose
// price (6.17) no binary float holds exactly.
const billedBytes = 123_400_000_000

func TestTypeScriptSDK(t *testing.T) {
	node := tool(t)
	agent, cleanup, err := apitest.BuildAgent("../../test/live/testdata/agent")
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	cfg := apitest.Config("sqlite:"+filepath.Join(t.TempDir(), "test.db"), t.TempDir())
	cfg.RuntimeDriver = config.RuntimeLocal
	cfg.AllowFileURLs = true
	cfg.AllowPrivateWebhookURLs = true // the webhook tests' receiver is on 127.0.0.1
	cfg.MetricsInterval = time.Second
	cfg.RateLimitMin = 0
	cfg.RateLimitWindow = 2 * time.Second
	var mu sync.Mutex
	s := apitest.StartConfig(t, cfg)
	cfg.Addr = s.Listener.Addr().String()
	ctx := context.Background()
	// The admin's organization is all but unlimited; "limited" has 3 requests per 2 s.
	limited := s.CreateOrg("limited", "limited@example.com", models.TierFree)
	for org, limit := range map[string]int{s.Admin().OrgID: 1_000_000, limited.OrgID: 3} {
		if _, err := s.App.DB.NewUpdate().Table("organizations").Set("rate_limit = ?", limit).Where("id = ?", org).Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// Two invoiced months of the admin's organization, one of another's.
	invs, err := apitest.CloseMonths(ctx, s.App, s.Admin().OrgID, "agt_ts_billed", 2, billedBytes)
	if err != nil {
		t.Fatal(err)
	}
	other := s.CreateOrg("other", "other@example.com", models.TierFree)
	theirs, err := apitest.CloseMonths(ctx, s.App, other.OrgID, "agt_ts_other", 1, 1)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("ModelsMatchOpenAPI", func(t *testing.T) {
		res := s.Do(http.MethodGet, "/v1/openapi.json", "", nil)
		doc := filepath.Join(t.TempDir(), "openapi.json")
		if err := os.WriteFile(doc, res.Body, 0o600); err != nil {
			t.Fatal(err)
		}
		want, err := exec.Command(node, "scripts/models.mjs", doc).Output()
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile("src/models.ts"); !bytes.Equal(got, want) {
			t.Fatal("src/models.ts is not what the server's /v1/openapi.json gives: run `node scripts/models.mjs openapi.json > src/models.ts` and build")
		}
	})

	// POST /restart kills the server (connections cut) and starts it again
	// on the same address and database.
	control := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		s.CloseClientConnections()
		s.Close()
		if err := s.App.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		s = apitest.StartConfig(t, cfg)
		w.WriteHeader(http.StatusNoContent)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go control.Serve(ln)
	defer control.Close()

	cmd := exec.Command(node, "--test", "--test-reporter=spec", "test/")
	cmd.Env = append(os.Environ(),
		"NEUAIS_URL="+s.URL,
		"NEUAIS_TOKEN="+s.AdminToken,
		"NEUAIS_TEST_LIMITED_TOKEN="+limited.Token,
		"NEUAIS_TEST_AGENT_URL=file://"+agent,
		"NEUAIS_TEST_CONTROL=http://"+ln.Addr().String(),
		"NEUAIS_TEST_UNAVAILABLE_URL="+apitest.Unavailable(t, s.URL),
		"NEUAIS_TEST_INVOICES="+strconv.Itoa(len(invs)),
		"NEUAIS_TEST_BILLED_BYTES="+strconv.Itoa(billedBytes),
		"NEUAIS_TEST_OTHER_INVOICE="+theirs[0].ID,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	if err != nil {
		t.Fatalf("node --test: %v", err)
	}
}
