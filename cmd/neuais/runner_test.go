package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRunnerBinary runs `neuais runner` as a pod would: it fetches a
// script, then becomes it, in its directory and with its replica number.
func TestRunnerBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "neuais")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	script := []byte("#!/bin/sh\necho \"replica=$NEUAIS_REPLICA token=$NEUAIS_RUNNER_TOKEN pwd=$(pwd)\"\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer nrc_agt_x.sig" {
			http.Error(w, "no credential", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write(script)
	}))
	defer srv.Close()
	digest := sha256.Sum256(script)
	run := func(sum string) (dir, termination, stdout, stderr string, err error) {
		dir, termination = filepath.Join(t.TempDir(), "work"), filepath.Join(t.TempDir(), "termination-log")
		podinfo := filepath.Join(t.TempDir(), "annotations")
		if err := os.WriteFile(podinfo, []byte("neuais.dev/replica=\"2\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "runner")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "NEUAIS_RUNNER_URL=" + srv.URL + "/runner/v1/binaries/bin_x", "NEUAIS_RUNNER_TOKEN=nrc_agt_x.sig",
			"NEUAIS_RUNNER_SHA256=" + sum, "NEUAIS_RUNNER_DIR=" + dir, "NEUAIS_RUNNER_PODINFO=" + podinfo, "NEUAIS_RUNNER_TERMINATION_LOG=" + termination}
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err = cmd.Run()
		return dir, termination, out.String(), errOut.String(), err
	}
	t.Run("Runs", func(t *testing.T) {
		dir, _, stdout, stderr, err := run(hex.EncodeToString(digest[:]))
		if err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		if want := "replica=2 token= pwd=" + dir + "\n"; stdout != want {
			t.Fatalf("output %q, want %q", stdout, want)
		}
	})
	t.Run("WrongSHA256ExitsOne", func(t *testing.T) {
		_, termination, stdout, stderr, err := run(strings.Repeat("0", 64))
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != exitFailure || stdout != "" {
			t.Fatalf("%v: %q", err, stdout)
		}
		log, _ := os.ReadFile(termination)
		if !strings.HasPrefix(string(log), "fetching binary: sha256 mismatch") || stderr != "neuais: "+string(log)+"\n" {
			t.Fatalf("stderr %q, termination log %q", stderr, log)
		}
	})
	t.Run("Ready", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		if out, err := exec.Command(bin, "runner", "ready", "--port", port, "--after", "876000h").CombinedOutput(); err != nil {
			t.Fatalf("listening: %v %s", err, out)
		}
		ln.Close()
		var exit *exec.ExitError
		if err := exec.Command(bin, "runner", "ready", "--port", port, "--after", "876000h").Run(); !errors.As(err, &exit) || exit.ExitCode() != exitFailure {
			t.Fatalf("nothing listening: %v", err)
		}
	})
}
