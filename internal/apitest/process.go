package apitest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The neuais binary, built once per test binary for the tests that kill it.
var (
	serverOnce sync.Once
	serverDir  string
	serverBin  string
	serverErr  error
)

// ServerBinary builds ./cmd/neuais once and returns its path;
// RemoveServerBinary, from TestMain, deletes it.
func ServerBinary(tb testing.TB) string {
	tb.Helper()
	serverOnce.Do(func() {
		if serverDir, serverErr = os.MkdirTemp("", "neuais-server-"); serverErr != nil {
			return
		}
		serverBin = filepath.Join(serverDir, "neuais")
		if out, err := exec.Command("go", "build", "-o", serverBin, "github.com/neuais/neuais/cmd/neuais").CombinedOutput(); err != nil {
			serverErr = fmt.Errorf("build neuais: %w\n%s", err, out)
		}
	})
	if serverErr != nil {
		tb.Fatal(serverErr)
	}
	return serverBin
}

// RemoveServerBinary deletes what ServerBinary built, if anything.
func RemoveServerBinary() {
	if serverDir != "" {
		os.RemoveAll(serverDir)
	}
}

// processStartTimeout bounds a server's start; generous for loaded machines.
const processStartTimeout = time.Minute

var listening = regexp.MustCompile(`listening on (\S+)`)

// Process is a running neuais binary.
type Process struct {
	Cmd   *exec.Cmd
	Base  string // http://host:port it listens on
	Token string // the bootstrap admin's (AdminEmail, AdminPassword)
}

// StartProcess runs the built server with env (NEUAIS_ADDR=127.0.0.1:0
// and the admin's credentials among it) and logs in. Unless killed or
// stopped before, it is stopped with SIGTERM when the test ends, so that
// its replicas stop too.
func StartProcess(t *testing.T, env []string) *Process {
	t.Helper()
	cmd := exec.Command(ServerBinary(t), "serve")
	cmd.Env = env
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{Cmd: cmd}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			p.Stop(t)
		}
	})
	found := make(chan string, 1)
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			if m := listening.FindStringSubmatch(lines.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		io.Copy(io.Discard, stdout) //nolint:errcheck // keeps the pipe drained
	}()
	select {
	case addr := <-found:
		p.Base = "http://" + addr
	case <-time.After(processStartTimeout):
		t.Fatal("server did not start")
	}
	res := p.Do(t, http.MethodPost, "/v1/auth/token", "", map[string]string{"email": AdminEmail, "password": AdminPassword})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if res.Err != nil || res.Status != http.StatusOK || json.Unmarshal(res.Body, &tok) != nil {
		t.Fatalf("login: %d %s %v", res.Status, res.Body, res.Err)
	}
	p.Token = tok.AccessToken
	return p
}

// ProcessResponse is an answer of a Process; Err is a transport error
// (the server killed, say).
type ProcessResponse struct {
	Status int
	Body   []byte
	Err    error
}

// Do sends a JSON request with token (none when empty).
func (p *Process) Do(t *testing.T, method, path, token string, body any) ProcessResponse {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.Base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return ProcessResponse{Err: err}
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return ProcessResponse{Status: res.StatusCode, Body: data, Err: err}
}

// Kill ends the server with SIGKILL: no shutdown code runs, and its
// replicas are left running for the next server to clean up.
func (p *Process) Kill() {
	if p.Cmd.ProcessState == nil {
		p.Cmd.Process.Signal(syscall.SIGKILL) //nolint:errcheck // it may have ended
		p.Cmd.Wait()                          //nolint:errcheck // killed
	}
}

// Stop ends the server with SIGTERM, as an operator's restart does, and
// fails the test unless it exits cleanly.
func (p *Process) Stop(t *testing.T) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.Cmd.Wait(); err != nil {
		t.Errorf("server ended with %v", err)
	}
}
