package apitest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BuildAgent builds the Go program in pkgDir (a test agent) into a new
// temporary directory, for a TestMain, and returns the binary's path and a
// cleanup that removes the directory.
func BuildAgent(pkgDir string) (path string, cleanup func(), err error) {
	return build(pkgDir)
}

// BuildStaticAgent is BuildAgent without cgo: a static binary, which the
// test cluster's runner image (FROM scratch) runs.
func BuildStaticAgent(pkgDir string) (path string, cleanup func(), err error) {
	return build(pkgDir, "CGO_ENABLED=0")
}

func build(pkgDir string, env ...string) (path string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "neuais-agent-")
	if err != nil {
		return "", nil, fmt.Errorf("apitest: %w", err)
	}
	cleanup = func() { os.RemoveAll(dir) }
	path = filepath.Join(dir, "agent")
	cmd := exec.Command("go", "build", "-o", path, pkgDir)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("apitest: building %s: %w", pkgDir, err)
	}
	return path, cleanup, nil
}

// RunWithAgent is a TestMain's body for packages that run the test agent
// in pkgDir: it builds the agent, stores its path in *path, runs the tests
// and removes the build, returning the exit code.
func RunWithAgent(m *testing.M, pkgDir string, path *string) int {
	built, cleanup, err := BuildAgent(pkgDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	*path = built
	return m.Run()
}
