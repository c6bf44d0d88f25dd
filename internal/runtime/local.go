package runtime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/neuais/neuais/models"
)

// LocalDriver runs every replica as a child process of the server, in its
// own process group and working directory under the data directory, and
// restarts crashed replicas with exponential backoff.
type LocalDriver struct {
	cfg      Config
	sink     LogSink
	log      *slog.Logger
	onChange atomic.Pointer[func(agentID string)]
	groups   *groupFile
	limits   *cgroupLimits
	// sandbox runs replicas isolated; nil with isolation off, or when
	// this host cannot, and then isolationErr says why.
	sandbox      *sandbox
	isolationErr error
	// abandoned is closed to let go of every process without stopping it,
	// as a crashing server would; tests use it to check Recover.
	abandoned chan struct{}

	mu     sync.Mutex
	agents map[string]*localAgent
}

// NewLocalDriver returns the local driver. Replica output and replica
// platform lines go to sink.
func NewLocalDriver(cfg Config, sink LogSink, logger *slog.Logger) (*LocalDriver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	groups, err := newGroupFile(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	d := &LocalDriver{
		cfg:       cfg,
		sink:      sink,
		log:       logger,
		groups:    groups,
		limits:    detectCgroupLimits(),
		abandoned: make(chan struct{}),
		agents:    map[string]*localAgent{},
	}
	switch cfg.Isolation {
	case IsolationOn:
		d.sandbox, d.isolationErr = detectSandbox(cfg.DataDir, cfg.SandboxDir, cfg.SandboxLimits, logger)
		if d.isolationErr != nil {
			logger.Error("runtime: agents cannot be sandboxed on this host, so none will start", "reason", d.isolationErr)
		}
	case IsolationOff:
	default:
		return nil, fmt.Errorf("runtime: config: isolation %q: want on or off", cfg.Isolation)
	}
	return d, nil
}

// OnChange implements Driver.
func (d *LocalDriver) OnChange(f func(agentID string)) { d.onChange.Store(&f) }

// Recover implements Driver: it kills the process groups and removes the
// containers a crashed server left running.
func (d *LocalDriver) Recover(context.Context) error {
	n, err := d.groups.killStale()
	if n > 0 {
		d.log.Warn("runtime: killed stale process groups of a previous server", "count", n)
	}
	if d.sandbox != nil {
		c, cerr := d.sandbox.recover()
		if c > 0 {
			d.log.Warn("runtime: removed stale containers of a previous server", "count", c)
		}
		err = errors.Join(err, cerr)
	}
	return err
}

// Isolation implements Driver.
func (d *LocalDriver) Isolation() (bool, string) {
	switch {
	case d.sandbox != nil:
		return true, d.sandbox.describe()
	case d.isolationErr != nil:
		return false, "isolation unavailable, so agents cannot start: " + d.isolationErr.Error() + " (NEUAIS_RUNTIME_ISOLATION=off runs them unsandboxed)"
	}
	return false, "UNSAFE: isolation off (NEUAIS_RUNTIME_ISOLATION=off): replicas run as the server's user with its file system and network; " + d.limits.describe()
}

// Apply implements Driver.
func (d *LocalDriver) Apply(spec Spec) error {
	d.mu.Lock()
	a := d.agents[spec.AgentID]
	if a == nil {
		a = &localAgent{
			d:     d,
			id:    spec.AgentID,
			cpu:   newCPUSampler(),
			kick:  make(chan struct{}, 1),
			quit:  make(chan struct{}),
			done:  make(chan struct{}),
			slots: map[int]*slot{},
		}
		d.agents[spec.AgentID] = a
		go a.control()
	}
	d.mu.Unlock()

	a.mu.Lock()
	if !a.spec.SameTemplate(spec) {
		a.resetCrashesLocked() // a new spec deserves a fresh start
	}
	a.spec = spec
	a.mu.Unlock()
	a.kickController()
	return nil
}

// Scale implements Driver.
func (d *LocalDriver) Scale(agentID string, replicas int) error {
	a := d.agent(agentID)
	if a == nil {
		return fmt.Errorf("runtime: scale: agent %s is not deployed", agentID)
	}
	a.mu.Lock()
	a.spec.Replicas = replicas
	a.mu.Unlock()
	a.kickController()
	return nil
}

// Restart implements Driver.
func (d *LocalDriver) Restart(agentID string) error {
	a := d.agent(agentID)
	if a == nil {
		return fmt.Errorf("runtime: restart: agent %s is not deployed", agentID)
	}
	a.mu.Lock()
	a.epoch++
	a.resetCrashesLocked()
	a.mu.Unlock()
	a.kickController()
	return nil
}

// Stop implements Driver.
func (d *LocalDriver) Stop(ctx context.Context, agentID string) error {
	d.mu.Lock()
	a := d.agents[agentID]
	delete(d.agents, agentID)
	d.mu.Unlock()
	if a == nil {
		return nil
	}
	a.mu.Lock()
	a.stopping = true // no slot starts after this
	slots := slices.Collect(maps.Values(a.slots))
	a.mu.Unlock()
	close(a.quit)

	var wg sync.WaitGroup
	for _, s := range slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.requestStop()
			select {
			case <-s.exited:
			case <-ctx.Done():
				s.hurry()
				<-s.exited
			}
		}()
	}
	wg.Wait()
	<-a.done
	return ctx.Err()
}

// Shutdown implements Driver.
func (d *LocalDriver) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	ids := slices.Collect(maps.Keys(d.agents))
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.Stop(ctx, id) //nolint:errcheck // ctx.Err is reported below
		}()
	}
	wg.Wait()
	if d.sandbox != nil {
		os.Remove(d.sandbox.bundles) // only once empty: every run removed its own
	}
	return ctx.Err()
}

// State implements Driver.
func (d *LocalDriver) State(agentID string) AgentState {
	a := d.agent(agentID)
	if a == nil {
		return AgentState{}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.looping && time.Since(a.crashes[len(a.crashes)-1]) >= d.cfg.CrashLoopWindow {
		a.looping = false // a whole window without a crash: stable again
	}
	st := AgentState{Desired: a.spec.Replicas, CrashLoop: a.looping, LastExit: a.lastExit}
	for i, s := range a.slots {
		if i <= a.spec.Replicas && s.isUp() {
			st.Up++
		}
	}
	return st
}

// Agents implements Driver.
func (d *LocalDriver) Agents() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Collect(maps.Keys(d.agents))
}

// Replicas implements Driver.
func (d *LocalDriver) Replicas(agentID string) []Replica {
	a := d.agent(agentID)
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	list := make([]Replica, 0, len(a.slots))
	for _, s := range a.slots {
		list = append(list, s.describe())
	}
	slices.SortFunc(list, func(x, y Replica) int { return x.Index - y.Index })
	return list
}

// Usage implements Driver. It measures every process of the replicas'
// runs (their containers, or their process groups), so what a replica
// spawns counts too.
func (d *LocalDriver) Usage(agentID string) Usage {
	a := d.agent(agentID)
	if a == nil {
		return Usage{}
	}
	a.mu.Lock()
	slots := slices.Collect(maps.Values(a.slots))
	a.mu.Unlock()
	var pids []int
	for _, s := range slots {
		pids = append(pids, s.members()...)
	}
	if len(pids) == 0 {
		return Usage{}
	}
	cpu, mem := a.cpu.sample(pids)
	return Usage{CPUPercent: cpu, MemoryMiB: mem}
}

// abandon lets go of every replica without stopping it.
func (d *LocalDriver) abandon() { close(d.abandoned) }

func (d *LocalDriver) agent(id string) *localAgent {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.agents[id]
}

// localAgent is one agent's replicas and the controller goroutine that
// moves them to the latest spec.
type localAgent struct {
	d    *LocalDriver
	id   string
	cpu  *cpuSampler
	kick chan struct{} // wakes the controller; capacity 1
	quit chan struct{} // closed by Stop
	done chan struct{} // closed when the controller has returned

	mu       sync.Mutex
	spec     Spec
	epoch    int // bumped by Restart: every replica of an older epoch is replaced
	stopping bool
	slots    map[int]*slot
	crashes  []time.Time // within the crash-loop window
	looping  bool
	lastExit string
}

func (a *localAgent) kickController() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// changed tells the controller and the driver's owner that replicas changed.
func (a *localAgent) changed() {
	a.kickController()
	if f := a.d.onChange.Load(); f != nil {
		(*f)(a.id)
	}
}

func (a *localAgent) control() {
	defer close(a.done)
	for {
		select {
		case <-a.quit:
			return
		case <-a.d.abandoned:
			return
		case <-a.kick:
		}
		a.converge()
	}
}

// converge stops extra replicas (highest first), replaces outdated ones
// one at a time, then starts missing ones.
func (a *localAgent) converge() {
	a.mu.Lock()
	spec, epoch := a.spec, a.epoch
	highest := 0
	for i := range a.slots {
		highest = max(highest, i)
	}
	a.mu.Unlock()

	for i := highest; i > spec.Replicas; i-- {
		if !a.stopSlot(i) {
			return
		}
	}
	for i := 1; i <= spec.Replicas; i++ {
		s := a.slot(i)
		if s == nil || s.runs(spec, epoch) {
			continue
		}
		// Hold the roll while a replaced replica is not up, so that a bad
		// update does not take down every working replica.
		if !a.updatedUp(spec, epoch) {
			break
		}
		if !a.stopSlot(i) {
			return
		}
		ns := a.startSlot(i, spec, epoch)
		if ns == nil {
			return
		}
		if !a.waitUp(ns) {
			break
		}
	}
	for i := 1; i <= spec.Replicas; i++ {
		if a.slot(i) == nil && a.startSlot(i, spec, epoch) == nil {
			return
		}
	}
}

func (a *localAgent) slot(i int) *slot {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.slots[i]
}

func (a *localAgent) updatedUp(spec Spec, epoch int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.slots {
		if s.runs(spec, epoch) && !s.isUp() {
			return false
		}
	}
	return true
}

// stopSlot stops replica i and waits for it; false when the agent is
// being stopped meanwhile (Stop then owns the wait).
func (a *localAgent) stopSlot(i int) bool {
	s := a.slot(i)
	if s == nil {
		return true
	}
	s.requestStop()
	select {
	case <-s.exited:
	case <-a.quit:
		return false
	case <-a.d.abandoned:
		return false
	}
	a.mu.Lock()
	if a.slots[i] == s {
		delete(a.slots, i)
	}
	a.mu.Unlock()
	a.changed()
	return true
}

// startSlot starts supervising replica i; nil when the agent is stopping.
func (a *localAgent) startSlot(i int, spec Spec, epoch int) *slot {
	s := &slot{
		index:   i,
		spec:    spec,
		epoch:   epoch,
		name:    spec.AgentID + "-" + strconv.Itoa(i),
		stop:    make(chan struct{}),
		rush:    make(chan struct{}),
		exited:  make(chan struct{}),
		ready:   make(chan struct{}),
		crashed: make(chan struct{}),
	}
	a.mu.Lock()
	if a.stopping {
		a.mu.Unlock()
		return nil
	}
	a.slots[i] = s
	a.mu.Unlock()
	go a.supervise(s)
	return s
}

// waitUp waits until s is up; false when it crashed first or the agent
// is stopping.
func (a *localAgent) waitUp(s *slot) bool {
	select {
	case <-s.ready:
		return true
	case <-s.crashed:
	case <-a.quit:
	case <-a.d.abandoned:
	}
	return false
}

func (a *localAgent) resetCrashesLocked() {
	a.crashes, a.looping, a.lastExit = nil, false, ""
}

func (a *localAgent) recordCrash(reason string) {
	cfg := a.d.cfg
	now := time.Now()
	a.mu.Lock()
	if !a.looping {
		a.lastExit = reason // keeps the reason of a loop stable while it lasts
	}
	a.crashes = slices.DeleteFunc(a.crashes, func(t time.Time) bool { return now.Sub(t) >= cfg.CrashLoopWindow })
	a.crashes = append(a.crashes, now)
	if len(a.crashes) >= cfg.CrashLoopThreshold {
		a.looping = true
	}
	a.mu.Unlock()
	a.changed()
}

// platform writes a line about the agent to its log as replica 0, at
// the time of what it reports.
func (a *localAgent) platform(spec Spec, at time.Time, level, message string) {
	a.d.sink.Append(models.LogLine{
		AgentID: spec.AgentID, OrgID: spec.OrgID, Replica: 0,
		Timestamp: at, Level: level, Message: message,
	})
}

// supervise runs replica s until it is asked to stop, restarting it with
// exponential backoff whenever it ends on its own.
func (a *localAgent) supervise(s *slot) {
	defer close(s.exited)
	cfg := a.d.cfg
	failures := 0
	for {
		started := time.Now()
		p, err := a.start(s)
		if err != nil {
			reason := fmt.Sprintf("Replica %d failed to start: %v", s.index, err)
			a.platform(s.spec, a.d.cfg.Clock(), models.LevelError, reason)
			s.markCrashed()
			a.recordCrash(reason)
		} else if a.watch(s, p) {
			return
		}
		if time.Since(started) > cfg.BackoffMax {
			failures = 0 // it ran stably for a while: start over from the base
		}
		delay := min(cfg.BackoffBase<<min(failures, 30), cfg.BackoffMax)
		failures++
		select {
		case <-s.stop:
			return
		case <-a.d.abandoned:
			return
		case <-time.After(delay):
		}
	}
}

// process is one run of a replica.
type process struct {
	cmd    *exec.Cmd
	pid    int
	port   int
	waited chan struct{} // closed once the process has been reaped
	output sync.WaitGroup
	run    run
}

// run is what differs between a plain and a sandboxed run of a replica.
type run interface {
	// signal sends sig to every process of the run.
	signal(sig syscall.Signal)
	// listening reports whether the replica accepts connections on port.
	listening(port int) bool
	// members returns the pids of the run's processes, for usage.
	members() []int
	// exitReason says how the run ended, after "Replica N ".
	exitReason(st *os.ProcessState) string
	// release frees what the run held once it has ended.
	release()
}

// start starts one run of replica s.
func (a *localAgent) start(s *slot) (*process, error) {
	spec := s.spec
	if a.d.isolationErr != nil {
		return nil, fmt.Errorf("agents cannot run unsandboxed: %v (NEUAIS_RUNTIME_ISOLATION=off runs them as plain processes, for one trusted tenant only)", a.d.isolationErr)
	}
	dir := filepath.Join(a.d.cfg.DataDir, "agents", spec.AgentID, "replica-"+strconv.Itoa(s.index))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("working directory: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("pipe: %w", err)
	}
	var (
		cmd *exec.Cmd
		r   run
	)
	if a.d.sandbox != nil {
		var sr *sandboxRun
		cmd, sr, err = a.d.sandbox.start(spec, s.index, port, dir, outW, errW, a.d.groups)
		r = sr
	} else {
		cmd, r, err = a.startPlain(s, port, dir, outW, errW)
	}
	outW.Close() // the child holds its own copies
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, port: port, waited: make(chan struct{}), run: r}
	if sr, ok := r.(*sandboxRun); ok && sr.initPID != 0 {
		p.pid = sr.initPID
	}
	p.output.Add(2)
	go a.read(spec, s.index, outR, models.LevelInfo, &p.output)
	go a.read(spec, s.index, errR, models.LevelError, &p.output)
	go func() {
		cmd.Wait() //nolint:errcheck // the exit status is read from ProcessState
		close(p.waited)
	}()
	return p, nil
}

// startPlain starts replica s as a child process in its own process
// group, inside a cgroup with its limits where cgroup v2 allows.
func (a *localAgent) startPlain(s *slot, port int, dir string, stdout, stderr *os.File) (*exec.Cmd, run, error) {
	spec := s.spec
	newCmd := func() *exec.Cmd {
		cmd := exec.Command(spec.BinaryPath)
		cmd.Dir = dir
		cmd.Env = replicaEnv(spec, s.index, port, dir)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		return cmd
	}
	cmd := newCmd()
	cgroup, err := a.d.limits.open(s.name, spec.CPU, spec.Memory)
	if err != nil {
		a.d.log.Warn("runtime: limits not applied", "agent", spec.AgentID, "err", err)
	}
	if cgroup != nil {
		defer cgroup.Close()
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(cgroup.Fd())
	}
	err = cmd.Start()
	if err != nil && cgroup != nil {
		// A kernel that refuses to start the child in its cgroup must not
		// keep the agent from running: limits are advisory for this run.
		a.d.log.Warn("runtime: limits not applied", "agent", spec.AgentID, "err", err)
		cmd = newCmd()
		err = cmd.Start()
	}
	if err != nil {
		return nil, nil, err
	}
	r := &plainRun{d: a.d, pgid: cmd.Process.Pid, cgroup: s.name}
	if err := a.d.groups.add(r.pgid); err != nil {
		a.d.log.Warn("runtime: process group not recorded", "agent", spec.AgentID, "err", err)
	}
	return cmd, r, nil
}

// plainRun is a replica run as the server's child, leading its own
// process group.
type plainRun struct {
	d      *LocalDriver
	pgid   int
	cgroup string
}

func (r *plainRun) signal(sig syscall.Signal) {
	syscall.Kill(-r.pgid, sig) //nolint:errcheck // the group may be gone already
}

func (r *plainRun) listening(port int) bool {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 200*time.Millisecond)
	if err == nil {
		conn.Close()
	}
	return err == nil
}

func (r *plainRun) members() []int { return groupMembers([]int{r.pgid}) }

func (r *plainRun) exitReason(st *os.ProcessState) string { return "exited with " + exitStatus(st) }

func (r *plainRun) release() {
	if err := r.d.groups.remove(r.pgid); err != nil {
		r.d.log.Warn("runtime: process group not forgotten", "err", err)
	}
	r.d.limits.remove(r.cgroup)
}

// watch runs until process p ends: true when it was asked to stop (or the
// driver abandoned it), false when it ended on its own.
func (a *localAgent) watch(s *slot, p *process) bool {
	started := s.setRunning(p, a.d.cfg)
	a.platform(s.spec, started, models.LevelInfo, fmt.Sprintf("Replica %d started (pid %d, port %d)", s.index, p.pid, p.port))
	go a.probe(s, p)
	select {
	case <-p.waited:
		ended := a.reap(s, p)
		level := models.LevelError
		if p.cmd.ProcessState.ExitCode() == 0 {
			level = models.LevelWarn
		}
		reason := fmt.Sprintf("Replica %d %s", s.index, p.run.exitReason(p.cmd.ProcessState))
		a.platform(s.spec, ended, level, reason)
		s.markCrashed()
		a.recordCrash(reason)
		return false
	case <-s.stop:
		p.run.signal(syscall.SIGTERM)
		select {
		case <-p.waited:
		case <-s.rush:
		case <-time.After(a.d.cfg.StopGrace):
		}
		ended := a.reap(s, p)
		a.platform(s.spec, ended, models.LevelInfo, fmt.Sprintf("Replica %d stopped", s.index))
		return true
	case <-a.d.abandoned:
		return true
	}
}

// reap kills what is left of p, waits for the process and its output,
// and releases what the run held. It returns when the process ended.
func (a *localAgent) reap(s *slot, p *process) time.Time {
	p.run.signal(syscall.SIGKILL)
	<-p.waited
	ended := s.setDown(a.d.cfg)
	outputDone := make(chan struct{})
	go func() {
		p.output.Wait()
		close(outputDone)
	}()
	select {
	case <-outputDone:
	case <-time.After(time.Second): // a process that left the group holds the pipe
	}
	p.run.release()
	a.changed()
	return ended
}

// probe marks s up once it accepts connections on its port, or once it
// has stayed alive for ReadyAfter.
func (a *localAgent) probe(s *slot, p *process) {
	deadline := time.Now().Add(a.d.cfg.ReadyAfter)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		listening := p.run.listening(p.port)
		if listening || time.Now().After(deadline) {
			if s.setUp(p.pid) {
				a.changed()
			}
			return
		}
		select {
		case <-p.waited:
			return
		case <-tick.C:
		}
	}
}

// read sends each line of a replica's output to the sink.
func (a *localAgent) read(spec Spec, replica int, r *os.File, fallback string, wg *sync.WaitGroup) {
	defer wg.Done()
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		chunk, err := br.ReadSlice('\n')
		if line := strings.TrimRight(string(chunk), "\r\n"); strings.TrimSpace(line) != "" {
			line = strings.ToValidUTF8(line, "\uFFFD")
			a.d.sink.Append(models.LogLine{
				AgentID: spec.AgentID, OrgID: spec.OrgID, Replica: replica,
				Timestamp: models.Now(), Level: LineLevel(line, fallback), Message: line,
			})
		}
		// A line longer than the buffer goes to the sink as its first
		// 64 KiB, which the sink cuts and marks; the rest is skipped rather
		// than logged piece by piece.
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		if err != nil {
			return
		}
	}
}

// replicaEnv is the replica's environment: a minimal base (the server's
// own environment holds secrets), the agent's variables, then the
// platform's, which win.
func replicaEnv(spec Spec, replica, port int, dir string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + dir}
	for _, k := range slices.Sorted(maps.Keys(spec.Environment)) {
		env = append(env, k+"="+spec.Environment[k])
	}
	return append(env,
		"NEUAIS_AGENT_ID="+spec.AgentID,
		"NEUAIS_AGENT_NAME="+spec.Name,
		"NEUAIS_REPLICA="+strconv.Itoa(replica),
		"PORT="+strconv.Itoa(port),
	)
}

// Replica ports come from below Linux's default ephemeral range
// (32768–60999), which the kernel hands out to outgoing connections: a
// port picked there could be taken by a client socket before the replica
// binds it.
const (
	replicaPortMin = 20000
	replicaPortMax = 32767
)

// freePort returns a port that nothing listens on now, preferring the
// replica range and falling back to one the kernel picks.
func freePort() (int, error) {
	for range 20 {
		port := replicaPortMin + rand.IntN(replicaPortMax-replicaPortMin+1) //nolint:gosec // spreads ports, guards nothing
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			l.Close()
			return port, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func exitStatus(st *os.ProcessState) string {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return "status " + strconv.Itoa(st.ExitCode())
}

// slot is one replica index of an agent and its supervisor.
type slot struct {
	index int
	spec  Spec
	epoch int
	name  string // of its cgroup

	stop    chan struct{} // closed to stop the replica
	rush    chan struct{} // closed to skip the rest of the grace period
	exited  chan struct{} // closed when the supervisor has returned
	ready   chan struct{} // closed when first up
	crashed chan struct{} // closed when a run first ends on its own

	stopOnce, rushOnce, readyOnce, crashOnce sync.Once

	mu       sync.Mutex
	pid      int
	port     int
	up       bool
	proc     *process // the current run, nil between runs
	instance string   // the current run's name in its transitions
}

// runs reports whether s runs spec's processes in epoch.
func (s *slot) runs(spec Spec, epoch int) bool {
	return s.epoch == epoch && s.spec.SameTemplate(spec)
}

func (s *slot) requestStop() {
	s.mu.Lock()
	s.up = false // stop routing to it right away
	s.mu.Unlock()
	s.stopOnce.Do(func() { close(s.stop) })
}

func (s *slot) hurry()       { s.rushOnce.Do(func() { close(s.rush) }) }
func (s *slot) markCrashed() { s.crashOnce.Do(func() { close(s.crashed) }) }

// setRunning makes p the current run and reports its start, under the
// lock so that its end cannot be reported first; it returns the start.
func (s *slot) setRunning(p *process, cfg Config) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	at := cfg.Clock()
	s.pid, s.port, s.up, s.proc = p.pid, p.port, false, p
	s.instance = fmt.Sprintf("%d/%d/%d", s.index, p.pid, at.UnixMicro())
	s.report(cfg, true, at)
	return at
}

// setUp marks the run of pid up; false when that run is over or stopping.
func (s *slot) setUp(pid int) bool {
	select {
	case <-s.stop:
		return false
	default:
	}
	s.mu.Lock()
	if s.pid != pid {
		s.mu.Unlock()
		return false
	}
	s.up = true
	s.mu.Unlock()
	s.readyOnce.Do(func() { close(s.ready) })
	return true
}

// setDown ends the current run and reports its end; it returns the end.
func (s *slot) setDown(cfg Config) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	at := cfg.Clock()
	s.report(cfg, false, at)
	s.pid, s.up, s.proc, s.instance = 0, false, nil, ""
	return at
}

// report tells cfg.Meter of the current run's start or end; callers hold s.mu.
func (s *slot) report(cfg Config, up bool, at time.Time) {
	if cfg.Meter != nil {
		cfg.Meter(Transition{AgentID: s.spec.AgentID, OrgID: s.spec.OrgID, Instance: s.instance, Up: up, At: at})
	}
}

// members returns the pids of the current run's processes.
func (s *slot) members() []int {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.run.members()
}

func (s *slot) isUp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.up
}

func (s *slot) describe() Replica {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Replica{Index: s.index, PID: s.pid, Port: s.port, Up: s.up, Generation: s.spec.Generation, Instance: s.instance}
}
