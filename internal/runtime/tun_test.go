package runtime_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/neuais/neuais/internal/runtime"
)

// TestTunUsable: a tap device that pasta's user cannot open is refused at
// start with the fix in the message, instead of replicas without network.
func TestTunUsable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mknod needs root")
	}
	dir := t.TempDir()
	dev := func(name string, mode uint32, uid, gid int) string {
		p := filepath.Join(dir, name)
		if err := syscall.Mknod(p, syscall.S_IFCHR|mode, int(10<<8|200)); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, os.FileMode(mode)); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const uid = 999_999
	for _, ok := range []string{dev("world", 0o666, 0, 0), dev("owner", 0o600, uid, 0), dev("group", 0o660, 0, uid)} {
		if err := runtime.TunUsable(ok, uid); err != nil {
			t.Errorf("%s: %v", filepath.Base(ok), err)
		}
	}
	err := runtime.TunUsable(dev("rootonly", 0o600, 0, 0), uid)
	if err == nil || !strings.Contains(err.Error(), "chmod 0666") {
		t.Errorf("root-only device: %v", err)
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := runtime.TunUsable(plain, uid); err == nil {
		t.Error("a regular file passed")
	}
	if err := runtime.TunUsable(filepath.Join(dir, "missing"), uid); err == nil {
		t.Error("a missing device passed")
	}
}
