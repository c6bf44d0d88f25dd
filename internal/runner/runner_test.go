package runner_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/runner"
)

func TestCredential(t *testing.T) {
	key := runner.Key([]byte("jwt secret"))
	cred := runner.Credential(key, "agt_one")
	if !strings.HasPrefix(cred, "nrc_agt_one.") || strings.ContainsAny(cred, "+/=") {
		t.Fatalf("credential %q", cred)
	}
	if id, ok := runner.AgentOf(key, cred); !ok || id != "agt_one" {
		t.Fatalf("round trip: %q %v", id, ok)
	}
	other := runner.Credential(key, "agt_two")
	sig := cred[strings.LastIndexByte(cred, '.')+1:]
	flipped := []byte(cred)
	flipped[len(flipped)-2] ^= 1
	refused := map[string]string{
		"tampered signature":     string(flipped),
		"other agent's id":       "nrc_agt_two." + sig,
		"other agent's sig":      "nrc_agt_one." + other[strings.LastIndexByte(other, '.')+1:],
		"other key":              runner.Credential(runner.Key([]byte("other secret")), "agt_one"),
		"no prefix":              strings.TrimPrefix(cred, "nrc_"),
		"no signature":           "nrc_agt_one",
		"empty signature":        "nrc_agt_one.",
		"no id":                  "nrc_." + sig,
		"signature not base64":   "nrc_agt_one.!!!",
		"signature with padding": cred + "=",
		"empty":                  "",
	}
	// Every other last character, those that decode to the same MAC
	// (its unused low bits) included.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, c := range alphabet {
		if last := rune(cred[len(cred)-1]); c != last {
			refused["last character "+string(c)] = cred[:len(cred)-1] + string(c)
		}
	}
	for name, c := range refused {
		if id, ok := runner.AgentOf(key, c); ok || id != "" {
			t.Errorf("%s: %q accepted as %q", name, c, id)
		}
	}
	if id, ok := runner.AgentOf(key, other); !ok || id != "agt_two" {
		t.Fatalf("other agent: %q %v", id, ok)
	}
}

func sum(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// serve answers GET / with body after failing the first failures requests
// with 503, and counts requests and the bearer tokens seen.
func serve(t *testing.T, body []byte, failures int, status int) (url string, requests *atomic.Int32, tokens chan string) {
	requests = new(atomic.Int32)
	tokens = make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		tokens <- r.Header.Get("Authorization")
		switch {
		case int(n) <= failures:
			http.Error(w, "try later", http.StatusServiceUnavailable)
		case status != http.StatusOK:
			http.Error(w, "no such binary\nsecond line", status)
		default:
			_, _ = w.Write(body)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/binary", requests, tokens
}

func TestPrepare(t *testing.T) {
	binary := []byte("#!/bin/sh\necho hello\n")
	t.Run("Good", func(t *testing.T) {
		url, _, tokens := serve(t, binary, 0, http.StatusOK)
		dir := filepath.Join(t.TempDir(), "work")
		podinfo := filepath.Join(t.TempDir(), "annotations")
		if err := os.WriteFile(podinfo, []byte("kubectl.kubernetes.io/restartedAt=\"now\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		go func() {
			time.Sleep(300 * time.Millisecond)
			_ = os.WriteFile(podinfo, []byte("kubectl.kubernetes.io/restartedAt=\"now\"\nneuais.dev/replica=\"3\"\nother=\"x\"\n"), 0o600)
		}()
		env := []string{"HOME=/root", "NEUAIS_REPLICA=stale", "PORT=8080", "NEUAIS_RUNNER_URL=" + url, "NEUAIS_RUNNER_TOKEN=nrc_x.y",
			"NEUAIS_RUNNER_SHA256=" + strings.ToUpper(sum(binary)), "NEUAIS_RUNNER_DIR=" + dir, "NEUAIS_RUNNER_PODINFO=" + podinfo,
			"NEUAIS_RUNNER_WAIT=5s", "NEUAIS_RUNNER_TERMINATION_LOG=" + filepath.Join(dir, "termination")}
		start := time.Now()
		path, agentEnv, err := runner.Prepare(context.Background(), env)
		if err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited < 300*time.Millisecond {
			t.Errorf("returned after %v, before the annotation was written", waited)
		}
		if path != filepath.Join(dir, "agent") {
			t.Errorf("path %q", path)
		}
		if got := <-tokens; got != "Bearer nrc_x.y" {
			t.Errorf("authorization %q", got)
		}
		data, err := os.ReadFile(path)
		if err != nil || string(data) != string(binary) {
			t.Fatalf("%q %v", data, err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o755 {
			t.Fatalf("mode %v %v", fi.Mode(), err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("left in the directory: %v", entries)
		}
		if want := []string{"HOME=/root", "PORT=8080", "NEUAIS_REPLICA=3"}; !slices.Equal(agentEnv, want) {
			t.Fatalf("env %q, want %q", agentEnv, want)
		}
	})
	t.Run("WithoutPodinfoKeepsReplica", func(t *testing.T) {
		url, _, tokens := serve(t, binary, 0, http.StatusOK)
		_, agentEnv, err := runner.Prepare(context.Background(), []string{"NEUAIS_REPLICA=0", "NEUAIS_RUNNER_URL=" + url,
			"NEUAIS_RUNNER_SHA256=" + sum(binary), "NEUAIS_RUNNER_DIR=" + t.TempDir()})
		if err != nil || !slices.Equal(agentEnv, []string{"NEUAIS_REPLICA=0"}) {
			t.Fatalf("%q %v", agentEnv, err)
		}
		if got := <-tokens; got != "" {
			t.Errorf("authorization %q without a token", got)
		}
	})
	t.Run("WrongSHA256", func(t *testing.T) {
		url, requests, _ := serve(t, binary, 0, http.StatusOK)
		dir := t.TempDir()
		termination := filepath.Join(t.TempDir(), "termination-log")
		want := strings.Repeat("ab", 32)
		err := runner.Run(context.Background(), []string{"NEUAIS_RUNNER_URL=" + url, "NEUAIS_RUNNER_SHA256=" + want,
			"NEUAIS_RUNNER_DIR=" + dir, "NEUAIS_RUNNER_TERMINATION_LOG=" + termination})
		reason := "fetching binary: sha256 mismatch: got " + sum(binary) + ", want " + want
		if err == nil || err.Error() != reason {
			t.Fatalf("error %v", err)
		}
		if got, _ := os.ReadFile(termination); string(got) != reason {
			t.Fatalf("termination log %q", got)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("left in the directory: %v", entries)
		}
		if n := requests.Load(); n != 1 {
			t.Errorf("%d requests", n)
		}
	})
	t.Run("NotFoundFailsAtOnce", func(t *testing.T) {
		url, requests, _ := serve(t, binary, 0, http.StatusNotFound)
		termination := filepath.Join(t.TempDir(), "termination-log")
		err := runner.Run(context.Background(), []string{"NEUAIS_RUNNER_URL=" + url, "NEUAIS_RUNNER_SHA256=" + sum(binary),
			"NEUAIS_RUNNER_DIR=" + t.TempDir(), "NEUAIS_RUNNER_TERMINATION_LOG=" + termination})
		if err == nil || !strings.Contains(err.Error(), "404 Not Found: no such binary") {
			t.Fatalf("error %v", err)
		}
		if n := requests.Load(); n != 1 {
			t.Fatalf("%d requests", n)
		}
		if got, _ := os.ReadFile(termination); string(got) != "fetching binary: 404 Not Found: no such binary second line" {
			t.Fatalf("termination log %q", got)
		}
	})
	t.Run("RetriesUnavailable", func(t *testing.T) {
		url, requests, _ := serve(t, binary, 2, http.StatusOK)
		path, _, err := runner.Prepare(context.Background(), []string{"NEUAIS_RUNNER_URL=" + url, "NEUAIS_RUNNER_SHA256=" + sum(binary),
			"NEUAIS_RUNNER_DIR=" + t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if data, _ := os.ReadFile(path); string(data) != string(binary) || requests.Load() != 3 {
			t.Fatalf("%q after %d requests", data, requests.Load())
		}
	})
	t.Run("Settings", func(t *testing.T) {
		termination := filepath.Join(t.TempDir(), "termination-log")
		for _, c := range []struct{ env, want string }{
			{"NEUAIS_RUNNER_SHA256=" + sum(binary), "NEUAIS_RUNNER_URL is not set"},
			{"NEUAIS_RUNNER_URL=http://127.0.0.1:1/", "NEUAIS_RUNNER_SHA256 must be 64 hex digits"},
			{"NEUAIS_RUNNER_URL=http://127.0.0.1:1/ NEUAIS_RUNNER_SHA256=" + sum(binary) + " NEUAIS_RUNNER_WAIT=soon", "NEUAIS_RUNNER_WAIT must be a duration"},
		} {
			env := append(strings.Fields(c.env), "NEUAIS_RUNNER_DIR="+t.TempDir(), "NEUAIS_RUNNER_TERMINATION_LOG="+termination)
			err := runner.Run(context.Background(), env)
			if got, _ := os.ReadFile(termination); err == nil || !strings.HasPrefix(err.Error(), c.want) || string(got) != err.Error() {
				t.Errorf("%s: %v, log %q", c.env, err, got)
			}
		}
	})
	t.Run("ReplicaNeverSet", func(t *testing.T) {
		url, _, _ := serve(t, binary, 0, http.StatusOK)
		_, _, err := runner.Prepare(context.Background(), []string{"NEUAIS_RUNNER_URL=" + url, "NEUAIS_RUNNER_SHA256=" + sum(binary),
			"NEUAIS_RUNNER_DIR=" + t.TempDir(), "NEUAIS_RUNNER_PODINFO=" + filepath.Join(t.TempDir(), "absent"), "NEUAIS_RUNNER_WAIT=300ms"})
		if err == nil || !strings.HasPrefix(err.Error(), "waiting for the replica: no neuais.dev/replica annotation") {
			t.Fatalf("error %v", err)
		}
	})
}

func TestReady(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	binary := filepath.Join(t.TempDir(), "agent")
	const long = 100 * 365 * 24 * time.Hour
	if !runner.Ready(port, long, binary) {
		t.Fatal("not ready while listening")
	}
	ln.Close()
	if runner.Ready(port, 0, binary) {
		t.Fatal("ready with nothing listening and no binary written yet")
	}
	if err := os.WriteFile(binary, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if runner.Ready(port, long, binary) {
		t.Fatal("ready with nothing listening, before the grace period")
	}
	if !runner.Ready(port, 0, binary) {
		t.Fatal("not ready after the grace period")
	}
}
