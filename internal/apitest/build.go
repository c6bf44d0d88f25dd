package apitest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildAgent builds the Go program in pkgDir (a test agent) into a new
// temporary directory, for a TestMain, and returns the binary's path and a
// cleanup that removes the directory.
func BuildAgent(pkgDir string) (path string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "neuais-agent-")
	if err != nil {
		return "", nil, fmt.Errorf("apitest: %w", err)
	}
	cleanup = func() { os.RemoveAll(dir) }
	path = filepath.Join(dir, "agent")
	build := exec.Command("go", "build", "-o", path, pkgDir)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("apitest: building %s: %w", pkgDir, err)
	}
	return path, cleanup, nil
}
