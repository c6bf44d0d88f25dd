package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cgroupLimits applies CPU and memory limits through cgroup v2 when the
// server may create cgroups with the cpu and memory controllers; otherwise
// limits are advisory and reason says why.
type cgroupLimits struct {
	root   string // parent of the replicas' cgroups; "" when advisory
	reason string
}

const cgroupMount = "/sys/fs/cgroup"

func detectCgroupLimits() *cgroupLimits {
	if _, err := os.Stat(filepath.Join(cgroupMount, "cgroup.controllers")); err != nil {
		return &cgroupLimits{reason: "cgroup v2 is not mounted at " + cgroupMount}
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return &cgroupLimits{reason: "cannot read /proc/self/cgroup"}
	}
	own := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(self)), "0::"))
	parent := filepath.Join(cgroupMount, own)
	root := filepath.Join(parent, "neuais-agents")
	// cgroup v2 lets a cgroup hand controllers to its children only when
	// it has no processes itself, so the server needs a delegated parent.
	steps := []func() error{
		func() error { return os.MkdirAll(root, 0o755) },
		func() error { return enableControllers(parent) },
		func() error { return enableControllers(root) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return &cgroupLimits{reason: "cgroup v2 is not writable here: " + err.Error()}
		}
	}
	return &cgroupLimits{root: root}
}

func enableControllers(dir string) error {
	return os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+cpu +memory"), 0o644)
}

// describe is the health detail about limits.
func (l *cgroupLimits) describe() string {
	if l.root == "" {
		return "cpu and memory limits are advisory only (" + l.reason + ")"
	}
	return "cpu and memory limits enforced by cgroup v2"
}

// open creates the cgroup of one replica with its limits and returns it
// opened, for the child to start inside it (SysProcAttr.CgroupFD). It
// returns nil when limits are advisory or the agent sets none.
func (l *cgroupLimits) open(name, cpu, memory string) (*os.File, error) {
	if l.root == "" || (cpu == "" && memory == "") {
		return nil, nil
	}
	dir := filepath.Join(l.root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("runtime: cgroup: %w", err)
	}
	if cpu != "" {
		cores, err := strconv.ParseFloat(cpu, 64)
		if err != nil || cores <= 0 {
			return nil, fmt.Errorf("runtime: cgroup: invalid cpu %q", cpu)
		}
		quota := fmt.Sprintf("%d 100000", int64(cores*100000))
		if err := os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(quota), 0o644); err != nil {
			return nil, fmt.Errorf("runtime: cgroup cpu.max: %w", err)
		}
	}
	if memory != "" {
		bytes, err := parseQuantity(memory)
		if err != nil {
			return nil, fmt.Errorf("runtime: cgroup: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte(strconv.FormatInt(bytes, 10)), 0o644); err != nil {
			return nil, fmt.Errorf("runtime: cgroup memory.max: %w", err)
		}
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("runtime: cgroup: %w", err)
	}
	return f, nil
}

// remove deletes a replica's cgroup once its processes are gone.
func (l *cgroupLimits) remove(name string) {
	if l.root != "" {
		os.Remove(filepath.Join(l.root, name))
	}
}

// parseQuantity reads a memory quantity: bytes, or a number with one of
// the suffixes Ki Mi Gi Ti (powers of 1024) or K M G T (powers of 1000).
func parseQuantity(s string) (int64, error) {
	units := []struct {
		suffix string
		factor float64
	}{
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
		{"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
	}
	factor := 1.0
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, factor = strings.TrimSuffix(s, u.suffix), u.factor
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("invalid memory quantity")
	}
	return int64(n * factor), nil
}
