package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// groupFile persists the process groups of the running replicas, so that
// the next server can kill those a crashed server left behind.
type groupFile struct {
	path string

	mu     sync.Mutex
	groups map[int]uint64 // pgid → start time of its leader in clock ticks
}

type groupFileContent struct {
	BootID string         `json:"boot_id"`
	Groups map[int]uint64 `json:"groups"`
}

func newGroupFile(dataDir string) (*groupFile, error) {
	dir := filepath.Join(dataDir, "runtime")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("runtime: state dir: %w", err)
	}
	return &groupFile{path: filepath.Join(dir, "process-groups.json"), groups: map[int]uint64{}}, nil
}

// killStale SIGKILLs every group listed by a previous server on this boot
// whose leader is gone (its orphans) or is still the same process, and
// then forgets them. A pgid cannot be handed out again while its group
// has members, so a group without a leader is always one of ours.
func (g *groupFile) killStale() (int, error) {
	data, err := os.ReadFile(g.path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("runtime: read process groups: %w", err)
	}
	var old groupFileContent
	if err := json.Unmarshal(data, &old); err != nil {
		return 0, fmt.Errorf("runtime: parse process groups: %w", err)
	}
	killed := 0
	if old.BootID == bootID() {
		for pgid, start := range old.Groups {
			if st, err := readStat(pgid); err == nil && st.startTicks != start {
				continue // the pid was reused by an unrelated process
			}
			if syscall.Kill(-pgid, syscall.SIGKILL) == nil {
				killed++
			}
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return killed, g.saveLocked()
}

func (g *groupFile) add(pgid int) error {
	st, err := readStat(pgid)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.groups[pgid] = st.startTicks
	return g.saveLocked()
}

func (g *groupFile) remove(pgid int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.groups, pgid)
	return g.saveLocked()
}

func (g *groupFile) saveLocked() error {
	data, err := json.Marshal(groupFileContent{BootID: bootID(), Groups: g.groups})
	if err != nil {
		return fmt.Errorf("runtime: save process groups: %w", err)
	}
	if err := writeFileAtomic(g.path, data); err != nil {
		return fmt.Errorf("runtime: save process groups: %w", err)
	}
	return nil
}

func bootID() string {
	data, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(data))
}

// procStat holds the fields of /proc/<pid>/stat the runtime uses.
type procStat struct {
	state      byte
	pgrp       int
	cpuTicks   uint64 // utime + stime
	startTicks uint64
	rssPages   int64
}

func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name is in parentheses and may hold spaces; fields
	// after it are counted from the last ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("runtime: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 22 {
		return procStat{}, fmt.Errorf("runtime: short /proc/%d/stat", pid)
	}
	// f[0] is field 3 (state); field n is f[n-3].
	pgrp, _ := strconv.Atoi(f[2])
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	start, _ := strconv.ParseUint(f[19], 10, 64)
	rss, _ := strconv.ParseInt(f[21], 10, 64)
	return procStat{state: f[0][0], pgrp: pgrp, cpuTicks: utime + stime, startTicks: start, rssPages: rss}, nil
}

// groupMembers returns the pids of every process in the process groups
// pgids, so that usage includes what replicas spawn.
func groupMembers(pgids []int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return pgids
	}
	var members []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil && slices.Contains(pgids, st.pgrp) {
			members = append(members, pid)
		}
	}
	return members
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuSampler turns cumulative CPU ticks of processes into percentages of
// one core since the previous sample of the same process.
type cpuSampler struct {
	mu   sync.Mutex
	last map[int]cpuSample
}

type cpuSample struct {
	start uint64
	ticks uint64
	at    time.Time
}

func newCPUSampler() *cpuSampler { return &cpuSampler{last: map[int]cpuSample{}} }

// sample returns the CPU % and RSS (MiB) of pids, and forgets pids that
// are no longer asked about.
func (s *cpuSampler) sample(pids []int) (float64, float64) {
	now := time.Now()
	page := float64(os.Getpagesize())
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[int]bool{}
	var cpu, mem float64
	for _, pid := range pids {
		st, err := readStat(pid)
		if err != nil {
			continue
		}
		seen[pid] = true
		mem += float64(st.rssPages) * page / (1 << 20)
		prev, ok := s.last[pid]
		if ok && prev.start == st.startTicks && now.After(prev.at) {
			cpu += float64(st.cpuTicks-prev.ticks) / clockTicks / now.Sub(prev.at).Seconds() * 100
		} else if up := uptimeTicks(); up > st.startTicks {
			// First sample of a process: its average since it started.
			cpu += float64(st.cpuTicks) / float64(up-st.startTicks) * 100
		}
		s.last[pid] = cpuSample{start: st.startTicks, ticks: st.cpuTicks, at: now}
	}
	for pid := range s.last {
		if !seen[pid] {
			delete(s.last, pid)
		}
	}
	return cpu, mem
}

func uptimeTicks() uint64 {
	data, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	secs, _ := strconv.ParseFloat(f[0], 64)
	return uint64(secs * clockTicks)
}
