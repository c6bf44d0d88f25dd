package runtime

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Isolation modes of the local driver.
const (
	// IsolationOn runs every replica in an OCI container (runc) with its
	// own user, PID, IPC, UTS, mount, cgroup and network namespaces, and
	// user-mode networking (pasta) that reaches the outside world but
	// none of the host's own addresses.
	IsolationOn = "on"
	// IsolationOff runs replicas as plain child processes of the server:
	// for local development with one trusted tenant only.
	IsolationOff = "off"
)

// Host users of the sandboxes: pasta, which makes a replica's outbound
// connections, runs as sandboxNetUID, so that the host firewall can tell
// its sockets apart; each agent's containers map their users 0–65535 onto
// a range of their own from sandboxUIDBase.
const (
	sandboxNetUID    = 999_999
	sandboxUIDBase   = 1_000_000
	sandboxUIDRanges = 16_384
	sandboxAgentUID  = 65534 // the user replicas run as, inside
)

// SandboxLimits are the per-replica limits beside cpu and memory.
type SandboxLimits struct {
	Processes int    // most processes and threads at once (pids cgroup)
	OpenFiles uint64 // RLIMIT_NOFILE
	FileBytes uint64 // RLIMIT_FSIZE: the largest file a replica may write
}

// sandbox starts replicas in containers. Its zero value is not usable;
// detectSandbox builds one or says why the host cannot.
type sandbox struct {
	runc, pasta, tini, sleep string
	root                     string // runc's state
	bundles                  string // one folder per run; traversable by the containers' users
	cgroupV2                 bool
	limits                   SandboxLimits
	log                      *slog.Logger

	mu       sync.Mutex
	uids     map[string]*uidRange
	uidsUsed [sandboxUIDRanges]bool
}

// detectSandbox checks that this host can sandbox replicas and installs
// the host firewall rules for their traffic. dir holds the runs' bundles.
func detectSandbox(dataDir, dir string, limits SandboxLimits, logger *slog.Logger) (*sandbox, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the server does not run as root, which runc needs to map each agent to users of its own")
	}
	sb := &sandbox{root: filepath.Join(dataDir, "runtime", "runc"), limits: limits, log: logger, uids: map[string]*uidRange{}}
	for _, tool := range []struct {
		path *string
		name string
		pkg  string
	}{{&sb.runc, "runc", "runc"}, {&sb.pasta, "pasta", "passt"}, {&sb.tini, "tini", "tini"}, {&sb.sleep, "sleep", "coreutils"}} {
		p, err := exec.LookPath(tool.name)
		if err != nil {
			return nil, fmt.Errorf("%s is not installed (Debian package %s)", tool.name, tool.pkg)
		}
		*tool.path = p
	}
	if !strings.HasPrefix(sb.tini, "/usr/") || !strings.HasPrefix(sb.sleep, "/usr/") {
		return nil, errors.New("tini and sleep must live under /usr, which is all of the host a replica sees")
	}
	if err := tunUsable(tunDevice, sandboxNetUID); err != nil {
		return nil, err
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		sb.cgroupV2 = true
	} else {
		for _, c := range []string{"memory", "cpu", "pids"} {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c)); err != nil {
				return nil, fmt.Errorf("the %s cgroup controller is not mounted", c)
			}
		}
	}
	if err := os.MkdirAll(sb.root, 0o700); err != nil {
		return nil, fmt.Errorf("runc state: %w", err)
	}
	if dir == "" {
		sum := sha256.Sum256([]byte(dataDir))
		dir = filepath.Join("/run/neuais-sandbox", hex.EncodeToString(sum[:6]))
	}
	if err := ownedDir(filepath.Dir(dir)); err != nil {
		return nil, err
	}
	if err := ownedDir(dir); err != nil {
		return nil, err
	}
	sb.bundles = dir
	if err := installFirewall(); err != nil {
		return nil, fmt.Errorf("host firewall for replicas' traffic: %w", err)
	}
	return sb, nil
}

// tunDevice is where pasta opens the tap device of a replica's namespace.
const tunDevice = "/dev/net/tun"

// tunUsable reports an error unless uid, which pasta runs as, may open
// path for reading and writing. Without it pasta keeps running with no
// network in the namespace, and connections to replicas hang.
func tunUsable(path string, uid int) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s, which pasta needs for replicas' network: %w", path, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	mode := fi.Mode().Perm()
	switch {
	case fi.Mode()&fs.ModeCharDevice == 0 || !ok:
		return fmt.Errorf("%s is not a character device", path)
	case mode&0o006 == 0o006,
		int(st.Uid) == uid && mode&0o600 == 0o600,
		int(st.Gid) == uid && mode&0o060 == 0o060:
		return nil
	}
	return fmt.Errorf("%s (mode %04o) cannot be opened by uid %d, which pasta runs as for replicas' network: "+
		"give it its usual mode with chmod 0666 %s", path, mode, uid, path)
}

// ownedDir makes dir a root-owned folder others may traverse but not list,
// refusing a symlink or another owner's folder planted in its place.
func ownedDir(dir string) error {
	if err := os.Mkdir(dir, 0o711); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("sandbox folder: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("sandbox folder: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || st.Uid != 0 {
		return fmt.Errorf("sandbox folder %s: not a folder owned by root", dir)
	}
	return os.Chmod(dir, 0o711)
}

// installFirewall rejects new connections that pasta opens on behalf of
// replicas towards the host's own addresses and private, link-local and
// shared ranges (database, bus, the API, metadata services, the local
// network), except DNS to the host's resolvers. It replaces its own table
// atomically, so several servers on one host agree.
func installFirewall() error {
	var dns []string
	if data, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) == 2 && f[0] == "nameserver" && net.ParseIP(f[1]) != nil {
				dns = append(dns, f[1])
			}
		}
	}
	uid := strconv.Itoa(sandboxNetUID)
	var rules strings.Builder
	for _, ip := range dns {
		family := "ip"
		if strings.Contains(ip, ":") {
			family = "ip6"
		}
		fmt.Fprintf(&rules, "    meta skuid %s %s daddr %s meta l4proto { tcp, udp } th dport 53 accept\n", uid, family, ip)
	}
	fmt.Fprintf(&rules, "    meta skuid %s ct state new fib daddr type local reject\n", uid)
	fmt.Fprintf(&rules, "    meta skuid %s ct state new ip daddr { 0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, 169.254.0.0/16, 172.16.0.0/12, 192.168.0.0/16, 224.0.0.0/3 } reject\n", uid)
	fmt.Fprintf(&rules, "    meta skuid %s ct state new ip6 daddr { ::/127, ::ffff:0:0/96, fc00::/7, fe80::/10, ff00::/8 } reject\n", uid)
	script := "table inet neuais_sandbox\nflush table inet neuais_sandbox\ntable inet neuais_sandbox {\n  chain output {\n    type filter hook output priority 0; policy accept;\n" +
		rules.String() + "  }\n}\n"
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// describe is the health detail of the sandbox.
func (sb *sandbox) describe() string {
	cg := "cgroup v1"
	if sb.cgroupV2 {
		cg = "cgroup v2"
	}
	return fmt.Sprintf("replicas sandboxed by runc (own user, PID, IPC, UTS, mount and network namespaces, no capabilities, no_new_privs, "+
		"read-only /usr and binary, private /tmp); network through pasta without the host's addresses, private ranges or metadata; "+
		"limits enforced: cpu, memory and %d processes by %s, %d open files, %d-byte files", sb.limits.Processes, cg, sb.limits.OpenFiles, sb.limits.FileBytes)
}

// recover removes the containers a crashed server left behind.
func (sb *sandbox) recover() (int, error) {
	out, err := exec.Command(sb.runc, "--root", sb.root, "list", "-q").Output()
	if err != nil {
		return 0, fmt.Errorf("runc list: %w", err)
	}
	n := 0
	for _, id := range strings.Fields(string(out)) {
		if exec.Command(sb.runc, "--root", sb.root, "delete", "--force", id).Run() == nil {
			n++
		}
		os.RemoveAll(filepath.Join(sb.bundles, id))
	}
	return n, nil
}

// uidRange is an agent's range of host uids and how many of its replicas
// hold it.
type uidRange struct{ index, runs int }

// acquireUIDs returns the first host uid of agentID's range, the same for
// all its replicas while any runs. A range is another agent's again only
// once none of them runs; none is ever shared.
func (sb *sandbox) acquireUIDs(agentID string) (int, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	u := sb.uids[agentID]
	if u == nil {
		i := 0
		for i < sandboxUIDRanges && sb.uidsUsed[i] {
			i++
		}
		if i == sandboxUIDRanges {
			return 0, fmt.Errorf("all %d host uid ranges are in use: a new agent starts once another stops", sandboxUIDRanges)
		}
		u = &uidRange{index: i}
		sb.uids[agentID] = u
		sb.uidsUsed[i] = true
	}
	u.runs++
	return sandboxUIDBase + u.index*65536, nil
}

// releaseUIDs gives back one replica's hold on agentID's range.
func (sb *sandbox) releaseUIDs(agentID string) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if u := sb.uids[agentID]; u != nil {
		if u.runs--; u.runs == 0 {
			delete(sb.uids, agentID)
			sb.uidsUsed[u.index] = false
		}
	}
}

// sandboxRun is one replica run in a container.
type sandboxRun struct {
	sb       *sandbox
	id       string
	bundle   string
	pasta    int // pid, leader of pasta's process group
	pastaCmd *exec.Cmd
	runc     int // pid of `runc run`, leader of its group
	initPID  int // host pid of the container's init (tini)
	events   *exec.Cmd
	oom      atomic.Bool
	groups   *groupFile
	// uidsOf is the agent whose uid range this run holds, until released.
	uidsOf      string
	releaseUIDs sync.Once
}

// start starts replica index of spec in a new container, its output on
// stdout and stderr, its working directory dir as /work, reachable on
// 127.0.0.1:port through pasta.
func (sb *sandbox) start(spec Spec, index, port int, dir string, stdout, stderr *os.File, groups *groupFile) (*exec.Cmd, *sandboxRun, error) {
	var suffix [3]byte
	rand.Read(suffix[:]) //nolint:errcheck // crypto/rand.Read does not fail
	r := &sandboxRun{sb: sb, id: fmt.Sprintf("%s-%d-%x", spec.AgentID, index, suffix), groups: groups}
	r.bundle = filepath.Join(sb.bundles, r.id)
	fail := func(err error) (*exec.Cmd, *sandboxRun, error) {
		r.release()
		return nil, nil, err
	}
	base, err := sb.acquireUIDs(spec.AgentID)
	if err != nil {
		return fail(err)
	}
	r.uidsOf = spec.AgentID
	if err := chownTree(dir, base+sandboxAgentUID); err != nil {
		return fail(fmt.Errorf("working directory: %w", err))
	}
	if err := r.writeBundle(spec.Name); err != nil {
		return fail(err)
	}
	netns, err := r.startPasta(port)
	if err != nil {
		return fail(err)
	}
	if err := r.writeConfig(spec, index, port, dir, base, netns); err != nil {
		return fail(err)
	}
	cmd := exec.Command(sb.runc, "--root", sb.root, "run", "--bundle", r.bundle, "--pid-file", filepath.Join(r.bundle, "init.pid"), r.id)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("runc: %w", err))
	}
	r.runc = cmd.Process.Pid
	if err := groups.add(r.runc); err != nil {
		sb.log.Warn("runtime: process group not recorded", "agent", spec.AgentID, "err", err)
	}
	// runc writes the init's pid once the container runs; a runc that
	// ended first has put its reason in the replica's log.
	for deadline := time.Now().Add(30 * time.Second); r.initPID == 0; {
		if data, err := os.ReadFile(filepath.Join(r.bundle, "init.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
				r.initPID = pid
				break
			}
		}
		if st, err := readStat(r.runc); err != nil || st.state == 'Z' {
			return cmd, r, nil
		}
		if time.Now().After(deadline) {
			syscall.Kill(-r.runc, syscall.SIGKILL) //nolint:errcheck // it may have ended
			return cmd, r, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.watchOOM()
	return cmd, r, nil
}

// writeBundle lays out the container's root: empty folders and the mount
// points of what it sees of the host, a passwd of its own.
func (r *sandboxRun) writeBundle(hostname string) error {
	rootfs := filepath.Join(r.bundle, "rootfs")
	// The bundle holds config.json (0600); the root holds only mount
	// points, which the container's mapped root must read.
	if err := os.Mkdir(r.bundle, 0o711); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	for _, d := range []string{"usr", "etc", "app", "work", "proc", "dev", "tmp"} {
		if err := os.Mkdir(filepath.Join(rootfs, d), 0o755); err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
	}
	for _, l := range []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"} {
		if target, err := os.Readlink("/" + l); err == nil && strings.HasPrefix(strings.TrimPrefix(target, "/"), "usr/") {
			if err := os.Symlink(strings.TrimPrefix(target, "/"), filepath.Join(rootfs, l)); err != nil {
				return fmt.Errorf("bundle: %w", err)
			}
		} else if _, err := os.Stat("/" + l); err == nil {
			if err := os.Mkdir(filepath.Join(rootfs, l), 0o755); err != nil {
				return fmt.Errorf("bundle: %w", err)
			}
		}
	}
	files := map[string]string{
		"etc/passwd":   fmt.Sprintf("root:x:0:0:root:/:/usr/sbin/nologin\nagent:x:%d:%d:agent:/work:/usr/sbin/nologin\n", sandboxAgentUID, sandboxAgentUID),
		"etc/group":    fmt.Sprintf("root:x:0:\nagent:x:%d:\n", sandboxAgentUID),
		"etc/hosts":    "127.0.0.1 localhost\n::1 localhost\n",
		"etc/hostname": hostname + "\n",
		"app/agent":    "",
	}
	for _, f := range []string{"etc/resolv.conf", "etc/localtime"} {
		files[f] = ""
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(rootfs, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
	}
	for _, d := range []string{"etc/ssl", "etc/ca-certificates"} {
		if _, err := os.Stat("/" + d); err == nil {
			if err := os.Mkdir(filepath.Join(rootfs, d), 0o755); err != nil {
				return fmt.Errorf("bundle: %w", err)
			}
		}
	}
	return nil
}

// startPasta starts the replica's network: a namespace held by a sleeping
// process, reached from the host on 127.0.0.1:port, and returns the
// namespace's path.
func (r *sandboxRun) startPasta(port int) (string, error) {
	logFile, err := os.OpenFile(filepath.Join(r.bundle, "pasta.log"), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("bundle: %w", err)
	}
	defer logFile.Close()
	// -T none -U none: no port of the namespace's loopback leads to the
	// host's; --no-map-gw: the gateway is not the host either. pasta lives
	// as long as the namespace's holder.
	cmd := exec.Command(r.sb.pasta, "--config-net", "--no-map-gw", "-T", "none", "-U", "none",
		"-t", "127.0.0.1/"+strconv.Itoa(port), "-q", "-f", "--", r.sb.sleep, "infinity")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: &syscall.Credential{Uid: sandboxNetUID, Gid: sandboxNetUID}}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("pasta: %w", err)
	}
	r.pastaCmd, r.pasta = cmd, cmd.Process.Pid
	if err := r.groups.add(r.pasta); err != nil {
		r.sb.log.Warn("runtime: process group not recorded", "err", err)
	}
	// Ready once the holder runs in the new namespace and the port the
	// proxy dials listens on the host.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st, err := readStat(r.pasta); err != nil || st.state == 'Z' {
			log, _ := os.ReadFile(filepath.Join(r.bundle, "pasta.log"))
			return "", fmt.Errorf("pasta ended: %s", strings.TrimSpace(string(log)))
		}
		children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", r.pasta, r.pasta))
		if f := strings.Fields(string(children)); len(f) > 0 && listensOn(os.Getpid(), port) {
			return "/proc/" + f[0] + "/ns/net", nil
		}
	}
	return "", errors.New("pasta: the namespace holder did not start")
}

// ociSpec is the part of the OCI runtime specification the sandbox sets.
type ociSpec struct {
	OCIVersion string     `json:"ociVersion"`
	Process    ociProcess `json:"process"`
	Root       struct {
		Path     string `json:"path"`
		Readonly bool   `json:"readonly"`
	} `json:"root"`
	Hostname string     `json:"hostname"`
	Mounts   []ociMount `json:"mounts"`
	Linux    ociLinux   `json:"linux"`
}

type ociProcess struct {
	User struct {
		UID int `json:"uid"`
		GID int `json:"gid"`
	} `json:"user"`
	Args            []string         `json:"args"`
	Env             []string         `json:"env"`
	Cwd             string           `json:"cwd"`
	NoNewPrivileges bool             `json:"noNewPrivileges"`
	Capabilities    map[string][]int `json:"capabilities"`
	Rlimits         []ociRlimit      `json:"rlimits"`
	OOMScoreAdj     int              `json:"oomScoreAdj"`
}

type ociRlimit struct {
	Type string `json:"type"`
	Hard uint64 `json:"hard"`
	Soft uint64 `json:"soft"`
}

type ociMount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type"`
	Source      string   `json:"source"`
	Options     []string `json:"options,omitempty"`
}

type ociIDMap struct {
	ContainerID int `json:"containerID"`
	HostID      int `json:"hostID"`
	Size        int `json:"size"`
}

type ociNamespace struct {
	Type string `json:"type"`
	Path string `json:"path,omitempty"`
}

type ociLinux struct {
	Namespaces    []ociNamespace `json:"namespaces"`
	UIDMappings   []ociIDMap     `json:"uidMappings"`
	GIDMappings   []ociIDMap     `json:"gidMappings"`
	Resources     ociResources   `json:"resources"`
	CgroupsPath   string         `json:"cgroupsPath"`
	MaskedPaths   []string       `json:"maskedPaths"`
	ReadonlyPaths []string       `json:"readonlyPaths"`
}

type ociResources struct {
	Memory *struct {
		Limit int64 `json:"limit"`
	} `json:"memory,omitempty"`
	CPU *struct {
		Quota  int64  `json:"quota"`
		Period uint64 `json:"period"`
	} `json:"cpu,omitempty"`
	Pids struct {
		Limit int64 `json:"limit"`
	} `json:"pids"`
}

// writeConfig writes the container's config.json (mode 0600: it holds
// the agent's environment).
func (r *sandboxRun) writeConfig(spec Spec, index, port int, dir string, base int, netns string) error {
	var s ociSpec
	s.OCIVersion = "1.0.2"
	s.Hostname = spec.Name
	s.Root.Path, s.Root.Readonly = "rootfs", true
	s.Process.User.UID, s.Process.User.GID = sandboxAgentUID, sandboxAgentUID
	// tini as init forwards signals to the replica's process group and
	// reaps orphans; when it ends, the kernel ends the whole PID namespace.
	s.Process.Args = []string{r.sb.tini, "-g", "--", "/app/agent"}
	s.Process.Env = replicaEnv(spec, index, port, "/work")
	s.Process.Env[0] = "PATH=/usr/local/bin:/usr/bin:/bin" // the host's PATH means nothing inside
	// tini's own warnings would land in the agent's log as its lines.
	s.Process.Env = append([]string{"TINI_VERBOSITY=0"}, s.Process.Env...)
	s.Process.Cwd = "/work"
	s.Process.NoNewPrivileges = true
	s.Process.OOMScoreAdj = 500 // under memory pressure, replicas go before the server
	s.Process.Capabilities = map[string][]int{"bounding": {}, "effective": {}, "inheritable": {}, "permitted": {}, "ambient": {}}
	s.Process.Rlimits = []ociRlimit{
		{Type: "RLIMIT_NOFILE", Hard: r.sb.limits.OpenFiles, Soft: r.sb.limits.OpenFiles},
		{Type: "RLIMIT_FSIZE", Hard: r.sb.limits.FileBytes, Soft: r.sb.limits.FileBytes},
		{Type: "RLIMIT_CORE", Hard: 0, Soft: 0},
	}
	ro := []string{"bind", "ro", "nosuid", "nodev"}
	s.Mounts = []ociMount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", "size=262144k"}},
		{Destination: "/usr", Type: "bind", Source: "/usr", Options: []string{"rbind", "ro", "nosuid", "nodev"}},
		{Destination: "/app/agent", Type: "bind", Source: spec.BinaryPath, Options: ro},
		{Destination: "/work", Type: "bind", Source: dir, Options: []string{"bind", "rw", "nosuid", "nodev"}},
	}
	for _, l := range []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"} {
		if fi, err := os.Lstat("/" + l); err == nil && fi.IsDir() {
			s.Mounts = append(s.Mounts, ociMount{Destination: "/" + l, Type: "bind", Source: "/" + l, Options: []string{"rbind", "ro", "nosuid", "nodev"}})
		}
	}
	for _, f := range []string{"/etc/resolv.conf", "/etc/localtime", "/etc/ssl", "/etc/ca-certificates"} {
		if real, err := filepath.EvalSymlinks(f); err == nil {
			s.Mounts = append(s.Mounts, ociMount{Destination: f, Type: "bind", Source: real, Options: []string{"rbind", "ro", "nosuid", "nodev"}})
		}
	}
	s.Linux.Namespaces = []ociNamespace{{Type: "pid"}, {Type: "ipc"}, {Type: "uts"}, {Type: "mount"}, {Type: "user"}, {Type: "cgroup"}, {Type: "network", Path: netns}}
	s.Linux.UIDMappings = []ociIDMap{{ContainerID: 0, HostID: base, Size: 65536}}
	s.Linux.GIDMappings = []ociIDMap{{ContainerID: 0, HostID: base, Size: 65536}}
	s.Linux.CgroupsPath = "/neuais/" + r.id
	s.Linux.Resources.Pids.Limit = int64(r.sb.limits.Processes)
	if spec.Memory != "" {
		bytes, err := parseQuantity(spec.Memory)
		if err != nil {
			return fmt.Errorf("memory: %w", err)
		}
		s.Linux.Resources.Memory = &struct {
			Limit int64 `json:"limit"`
		}{bytes}
	}
	if spec.CPU != "" {
		cores, err := strconv.ParseFloat(spec.CPU, 64)
		if err != nil || cores <= 0 {
			return fmt.Errorf("invalid cpu %q", spec.CPU)
		}
		s.Linux.Resources.CPU = &struct {
			Quota  int64  `json:"quota"`
			Period uint64 `json:"period"`
		}{int64(cores * 100000), 100000}
	}
	s.Linux.MaskedPaths = []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
		"/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"}
	s.Linux.ReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return os.WriteFile(filepath.Join(r.bundle, "config.json"), data, 0o600)
}

// watchOOM follows runc's events of the container and remembers whether
// the kernel killed a process of it for memory.
func (r *sandboxRun) watchOOM() {
	cmd := exec.Command(r.sb.runc, "--root", r.sb.root, "events", r.id)
	out, err := cmd.StdoutPipe()
	if err != nil || cmd.Start() != nil {
		return
	}
	r.events = cmd
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var ev struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Type == "oom" {
				r.oom.Store(true)
			}
		}
		cmd.Wait() //nolint:errcheck // it ends with the container
	}()
}

// signal sends sig to the container's init, which passes it on to the
// replica's processes; SIGKILL ends the whole PID namespace.
func (r *sandboxRun) signal(sig syscall.Signal) {
	if r.initPID == 0 {
		syscall.Kill(-r.runc, syscall.SIGKILL) //nolint:errcheck // no container yet
		return
	}
	exec.Command(r.sb.runc, "--root", r.sb.root, "kill", r.id, strconv.Itoa(int(sig))).Run() //nolint:errcheck // it may have ended
}

// listening reports whether the replica listens on port, in its own
// network namespace (pasta accepts on the host before the replica does).
func (r *sandboxRun) listening(port int) bool {
	return r.initPID != 0 && listensOn(r.initPID, port)
}

// members returns the host pids of every process of the container.
func (r *sandboxRun) members() []int {
	path := filepath.Join("/sys/fs/cgroup/pids", "neuais", r.id, "cgroup.procs")
	if r.sb.cgroupV2 {
		path = filepath.Join("/sys/fs/cgroup", "neuais", r.id, "cgroup.procs")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// exitReason says how the run ended: tini exits with 128+n when the
// replica died of signal n.
func (r *sandboxRun) exitReason(st *os.ProcessState) string {
	if r.oom.Load() {
		return "was killed: out of memory"
	}
	code := st.ExitCode()
	if code > 128 && code < 128+65 {
		return "exited with signal " + syscall.Signal(code-128).String()
	}
	return "exited with " + exitStatus(st)
}

// release removes the container, its network and its bundle.
func (r *sandboxRun) release() {
	exec.Command(r.sb.runc, "--root", r.sb.root, "delete", "--force", r.id).Run() //nolint:errcheck // it may not exist
	if r.events != nil && r.events.Process != nil {
		r.events.Process.Kill() //nolint:errcheck // it may have ended
	}
	for _, pgid := range []int{r.pasta, r.runc} {
		if pgid != 0 {
			syscall.Kill(-pgid, syscall.SIGKILL) //nolint:errcheck // it may have ended
			r.groups.remove(pgid)                //nolint:errcheck // a stale entry is only killed again
		}
	}
	if r.pastaCmd != nil {
		r.pastaCmd.Wait() //nolint:errcheck // killed above
	}
	os.RemoveAll(r.bundle)
	r.releaseUIDs.Do(func() {
		if r.uidsOf != "" {
			r.sb.releaseUIDs(r.uidsOf)
		}
	})
}

// chownTree gives dir and everything in it to uid, unless dir is its
// already (the common case of a restart).
func chownTree(dir string, uid int) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid {
		return nil
	}
	// Within an os.Root, so that a symlink planted in the tree by the agent's
	// previous owner cannot lead the walk outside it.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return fs.WalkDir(root.FS(), ".", func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return root.Lchown(path, uid, uid)
	})
}

// listensOn reports whether a socket of pid's network namespace listens
// on TCP port.
func listensOn(pid, port int) bool {
	want := fmt.Sprintf(":%04X", port)
	for _, name := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, name))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 3 && strings.HasSuffix(f[1], want) && f[3] == "0A" {
				return true
			}
		}
	}
	return false
}
