package runner

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The variables Run reads, which the driver sets in the pod; every one
// starting with envPrefix is removed from the agent's environment.
const (
	envPrefix      = "NEUAIS_RUNNER_"
	EnvURL         = envPrefix + "URL"
	EnvToken       = envPrefix + "TOKEN"
	EnvSHA256      = envPrefix + "SHA256"
	EnvDir         = envPrefix + "DIR"
	EnvPodinfo     = envPrefix + "PODINFO"
	envWait        = envPrefix + "WAIT"
	envTermination = envPrefix + "TERMINATION_LOG"
	// EnvReplica is the agent's replica number, taken from the pod's annotation.
	EnvReplica = "NEUAIS_REPLICA"
)

const (
	defaultDir         = "/work"
	defaultWait        = 60 * time.Second
	defaultTermination = "/dev/termination-log"
	// ReplicaAnnotation is the pod annotation holding the replica number.
	ReplicaAnnotation = "neuais.dev/replica"

	maxBytes     = 1 << 30
	tries        = 6
	firstBackoff = 500 * time.Millisecond
	pollEvery    = 100 * time.Millisecond
)

// Run fetches the agent's binary as the NEUAIS_RUNNER_* variables of env
// say and execs it in its directory; it returns only on failure, after
// writing the reason to the termination log, where Kubernetes shows it.
func Run(ctx context.Context, env []string) error {
	path, agentEnv, err := Prepare(ctx, env)
	if err == nil {
		err = execAgent(path, agentEnv)
	}
	if err != nil {
		reason := strings.ReplaceAll(err.Error(), "\n", " ")
		_ = os.WriteFile(cmp.Or(lookup(env, envTermination), defaultTermination), []byte(reason), 0o600)
	}
	return err
}

func execAgent(path string, env []string) error {
	if err := os.Chdir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("starting agent: %w", err)
	}
	// Ready's grace period counts from the binary's modification: now.
	now := time.Now()
	if err := os.Chtimes(path, now, now); err != nil {
		return fmt.Errorf("starting agent: %w", err)
	}
	err := syscall.Exec(path, []string{path}, env) //nolint:gosec // running the verified binary is the runner's job
	return fmt.Errorf("starting agent: %w", err)
}

// Prepare does all of Run but the exec: it writes the verified binary to
// DIR/agent and returns its path and the agent's environment (env without
// NEUAIS_RUNNER_*, with NEUAIS_REPLICA from the podinfo file if one is named).
func Prepare(ctx context.Context, env []string) (path string, agentEnv []string, err error) {
	s, err := settingsOf(env)
	if err != nil {
		return "", nil, err
	}
	path = filepath.Join(s.dir, "agent")
	// The previous container's binary would tell the readiness probe
	// (Ready) that this one has been running since it was written.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", nil, fmt.Errorf("removing the previous binary: %w", err)
	}
	if err := fetch(ctx, s, path); err != nil {
		return "", nil, fmt.Errorf("fetching binary: %w", err)
	}
	replica := ""
	if s.podinfo != "" {
		if replica, err = waitReplica(ctx, s.podinfo, s.wait); err != nil {
			return "", nil, fmt.Errorf("waiting for the replica: %w", err)
		}
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, envPrefix) || replica != "" && strings.HasPrefix(kv, EnvReplica+"=") {
			continue
		}
		agentEnv = append(agentEnv, kv)
	}
	if replica != "" {
		agentEnv = append(agentEnv, EnvReplica+"="+replica)
	}
	return path, agentEnv, nil
}

type settings struct {
	url, token, sum, dir, podinfo string
	wait                          time.Duration
}

func settingsOf(env []string) (settings, error) {
	s := settings{url: lookup(env, EnvURL), token: lookup(env, EnvToken), sum: strings.ToLower(lookup(env, EnvSHA256)),
		dir: cmp.Or(lookup(env, EnvDir), defaultDir), podinfo: lookup(env, EnvPodinfo), wait: defaultWait}
	if s.url == "" {
		return s, errors.New(EnvURL + " is not set")
	}
	if _, err := hex.DecodeString(s.sum); err != nil || len(s.sum) != 2*sha256.Size {
		return s, fmt.Errorf("%s must be %d hex digits, got %q", EnvSHA256, 2*sha256.Size, s.sum)
	}
	if w := lookup(env, envWait); w != "" {
		d, err := time.ParseDuration(w)
		if err != nil || d < 0 {
			return s, fmt.Errorf("%s must be a duration such as 60s, got %q", envWait, w)
		}
		s.wait = d
	}
	return s, nil
}

// lookup returns key's value in env, the last one if repeated, as os/exec does.
func lookup(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if rest, ok := strings.CutPrefix(kv, key+"="); ok {
			v = rest
		}
	}
	return v
}

// client gives up on a server that takes a connection but never answers,
// which then counts as a network error and is retried.
var client = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Transport: t}
}()

// retryable marks network errors and 5xx answers.
type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

func fetch(ctx context.Context, s settings, path string) error {
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return err
	}
	backoff := firstBackoff
	for try := 1; ; try++ {
		err := download(ctx, s, path)
		var again retryable
		if !errors.As(err, &again) {
			return err
		}
		if try == tries {
			return fmt.Errorf("%w (after %d tries)", err, tries)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// download writes the binary to a temporary file beside path and renames
// it into place once its sha256 is checked: a partial or wrong file is
// never run.
func download(ctx context.Context, s settings, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return err
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	res, err := client.Do(req)
	if err != nil {
		return retryable{err}
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		head, _ := io.ReadAll(io.LimitReader(res.Body, 200))
		err := fmt.Errorf("%s: %s", res.Status, strings.TrimSpace(string(head)))
		if res.StatusCode >= 500 {
			return retryable{err}
		}
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".agent-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	defer tmp.Close()
	body := &readErrors{r: io.LimitReader(res.Body, maxBytes+1)}
	hash := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, hash), body)
	switch {
	case body.err != nil:
		return retryable{body.err}
	case err != nil:
		return err
	case n > maxBytes:
		return fmt.Errorf("larger than %d bytes", maxBytes)
	}
	if got := hex.EncodeToString(hash.Sum(nil)); got != s.sum {
		return fmt.Errorf("sha256 mismatch: got %s, want %s", got, s.sum)
	}
	if err := tmp.Chmod(0o755); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// readErrors keeps the error of reading the body, a network error, apart
// from one of writing the file.
type readErrors struct {
	r   io.Reader
	err error
}

func (r *readErrors) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// waitReplica polls the downward-API annotations file until it holds the
// replica annotation, which the driver may set after the pod starts.
func waitReplica(ctx context.Context, path string, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		if replica, ok := replicaIn(path); ok {
			return replica, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no %s annotation in %s after %s", ReplicaAnnotation, path, wait)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-tick.C:
		}
	}
}

// replicaIn reads a line key="value" as the downward API writes them.
func replicaIn(path string) (string, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(data), "\n") {
		quoted, ok := strings.CutPrefix(line, ReplicaAnnotation+"=")
		if !ok {
			continue
		}
		v, err := strconv.Unquote(quoted)
		if n, nerr := strconv.Atoi(v); err == nil && nerr == nil && n >= 0 {
			return strconv.Itoa(n), true
		}
	}
	return "", false
}
