package webhooks_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
)

// The neuais binary, built once for the tests that kill it.
var (
	serverOnce sync.Once
	serverDir  string
	serverBin  string
	serverErr  error
)

func buildServer(t *testing.T) string {
	t.Helper()
	serverOnce.Do(func() {
		if serverDir, serverErr = os.MkdirTemp("", "neuais-server-"); serverErr != nil {
			return
		}
		serverBin = filepath.Join(serverDir, "neuais")
		out, err := exec.Command("go", "build", "-o", serverBin, "../../cmd/neuais").CombinedOutput()
		if err != nil {
			serverErr = &buildError{err: err, out: string(out)}
		}
	})
	if serverErr != nil {
		t.Fatal(serverErr)
	}
	return serverBin
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "build neuais: " + e.err.Error() + "\n" + e.out }

var listening = regexp.MustCompile(`listening on (\S+)`)

// serverProcess is a running neuais binary.
type serverProcess struct {
	cmd   *exec.Cmd
	Base  string
	token string
}

// serverEnv is the environment of a killable server on databaseURL and
// dataDir: no runtime, deliveries to 127.0.0.1 allowed, retries a second apart.
func serverEnv(databaseURL, dataDir string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"NEUAIS_ADDR=127.0.0.1:0",
		"NEUAIS_DATA_DIR=" + dataDir,
		"NEUAIS_DATABASE_URL=" + databaseURL,
		"NEUAIS_ADMIN_EMAIL=" + apitest.AdminEmail,
		"NEUAIS_ADMIN_PASSWORD=" + apitest.AdminPassword,
		"NEUAIS_BCRYPT_COST=4",
		"NEUAIS_LOG_LEVEL=error",
		"NEUAIS_RUNTIME_DRIVER=none",
		"NEUAIS_RATE_LIMIT_MIN=1000000",
		"NEUAIS_ALLOW_PRIVATE_WEBHOOK_URLS=true",
		"NEUAIS_WEBHOOK_TIMEOUT=5s",
		"NEUAIS_WEBHOOK_RETRY_SCHEDULE=" + strings.TrimSuffix(strings.Repeat("1s,", 30), ","),
	}
}

func startServer(t *testing.T, env []string) *serverProcess {
	t.Helper()
	cmd := exec.Command(buildServer(t), "serve")
	cmd.Env = env
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd}
	t.Cleanup(func() { p.kill() })
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
	case <-time.After(waitFor):
		t.Fatal("server did not start")
	}
	p.token = p.login(t)
	return p
}

func (p *serverProcess) login(t *testing.T) string {
	t.Helper()
	res := p.do(t, http.MethodPost, "/v1/auth/token", "", map[string]string{"email": apitest.AdminEmail, "password": apitest.AdminPassword})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if res.status != 200 || json.Unmarshal(res.body, &tok) != nil {
		t.Fatalf("login: %d %s", res.status, res.body)
	}
	return tok.AccessToken
}

type response struct {
	status int
	body   []byte
	err    error
}

// do sends a request; a transport error (the server killed) is in err.
func (p *serverProcess) do(t *testing.T, method, path, token string, body any) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
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
		return response{err: err}
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return response{status: res.StatusCode, body: data, err: err}
}

// kill ends the server with SIGKILL: no shutdown code runs.
func (p *serverProcess) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGKILL) //nolint:errcheck // it may have ended
		p.cmd.Wait()                          //nolint:errcheck // killed
	}
}

// stop ends the server with SIGTERM, as an operator's restart does.
func (p *serverProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("server ended with %v", err)
	}
}
