// Package e2e_test drives whole servers with the real local runtime
// through the public API, the way a user's scripts would.
package e2e_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
)

// binaries serves the test agent at /agent, a text file at /text, and 404s.
var (
	binaries    *httptest.Server
	agentSHA256 string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	agent, cleanup, err := apitest.BuildAgent("../internal/runtime/testdata/agent")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	data, err := os.ReadFile(agent)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sum := sha256.Sum256(data)
	agentSHA256 = hex.EncodeToString(sum[:])
	mux := http.NewServeMux()
	mux.HandleFunc("GET /agent", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, agent) })
	mux.HandleFunc("GET /text", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "<html>not a binary</html>") })
	binaries = httptest.NewServer(mux)
	defer binaries.Close()
	return m.Run()
}
