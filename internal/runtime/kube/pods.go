package kube

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/neuais/neuais/internal/runtime"
	"github.com/neuais/neuais/models"
)

// podTrack is what the driver knows of one pod of an agent.
type podTrack struct {
	agentID, orgID string
	name, node, ip string
	template       string
	index          int
	generation     int64
	ready          bool
	// failing says why the pod cannot run (a crash loop, an image or a
	// fetch that fails), empty while it can.
	failing string
	// instance names the running container as billing's transitions do;
	// empty between runs. restarts is the container's restart count seen.
	instance string
	restarts int32
	// follow is closed when the pod is gone, to end its log follower
	// once the stream has ended.
	follow chan struct{}
}

// podsOf lists the agent's tracked pods that are not being deleted.
func (d *Driver) podsOf(agentID string) []podTrack {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []podTrack
	for _, p := range d.tracked {
		if p.agentID == agentID {
			out = append(out, *p)
		}
	}
	return out
}

// observePod updates the pod's track: its index (given once, kept in an
// annotation the runner reads as NEUAIS_REPLICA), readiness, failures,
// and the container's starts and ends, which become platform lines and
// billing transitions.
func (d *Driver) observePod(pod *corev1.Pod) {
	agentID := pod.Labels[labelAgent]
	if agentID == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.tracked[pod.UID]
	deleted := pod.DeletionTimestamp != nil || d.podGone(pod)
	if p == nil {
		if deleted {
			return
		}
		p = &podTrack{agentID: agentID, name: pod.Name, follow: make(chan struct{})}
		d.tracked[pod.UID] = p
		if idx, err := strconv.Atoi(pod.Annotations[annotReplica]); err == nil && idx > 0 {
			p.index = idx
		} else {
			p.index = d.freeIndex(agentID)
			go d.annotateIndex(pod.Name, p.index)
		}
		d.followers.Add(1)
		go d.followLogs(p.agentID, p.name, p.index, p.follow)
	}
	p.node, p.ip, p.template = pod.Spec.NodeName, pod.Status.PodIP, pod.Labels[labelTemplate]
	p.generation, _ = strconv.ParseInt(pod.Annotations[annotGeneration], 10, 64)
	p.orgID = pod.Labels[labelOrg]
	p.ready = !deleted && podReady(pod)
	p.failing = failure(pod)
	cs := agentContainer(pod)
	d.transition(p, cs, deleted)
	if deleted {
		close(p.follow)
		delete(d.tracked, pod.UID)
	}
}

// podGone reports whether the pod has left the informer's store (a delete event).
func (d *Driver) podGone(pod *corev1.Pod) bool {
	_, exists, err := d.pods.GetStore().Get(pod)
	return err == nil && !exists
}

// freeIndex is the lowest index no live pod of the agent holds.
func (d *Driver) freeIndex(agentID string) int {
	used := map[int]bool{}
	for _, p := range d.tracked {
		if p.agentID == agentID {
			used[p.index] = true
		}
	}
	for i := 1; ; i++ {
		if !used[i] {
			return i
		}
	}
}

func (d *Driver) annotateIndex(pod string, index int) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, annotReplica, strconv.Itoa(index))
	_, err := d.client.CoreV1().Pods(d.cfg.Namespace).Patch(ctx, pod, types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: fieldManager})
	if err != nil && ignoreNotFound(err) != nil {
		d.log.Warn("kube: annotate replica index", "pod", pod, "err", err)
	}
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func agentContainer(pod *corev1.Pod) *corev1.ContainerStatus {
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == containerName {
			return &pod.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// Waiting reasons that mean the container cannot start as it is.
var failingReasons = map[string]bool{
	"CrashLoopBackOff": true, "ErrImagePull": true, "ImagePullBackOff": true, "ErrImageNeverPull": true,
	"InvalidImageName": true, "CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
}

// failure says why the pod's container cannot run, with how it last
// ended (the runner's termination message when a fetch failed).
func failure(pod *corev1.Pod) string {
	cs := agentContainer(pod)
	if cs == nil || cs.State.Waiting == nil || !failingReasons[cs.State.Waiting.Reason] {
		return ""
	}
	if t := cs.LastTerminationState.Terminated; t != nil {
		return exitReason(t)
	}
	if cs.State.Waiting.Message != "" {
		return cs.State.Waiting.Reason + ": " + cs.State.Waiting.Message
	}
	return cs.State.Waiting.Reason
}

// exitReason says how a container ended, as the local driver words it.
func exitReason(t *corev1.ContainerStateTerminated) string {
	msg := ""
	if t.Message != "" && t.Reason == "Error" {
		msg = ": " + firstLine(t.Message)
	}
	switch {
	case t.Reason == "OOMKilled":
		return "was killed: out of memory (OOMKilled)"
	case t.Signal != 0:
		return fmt.Sprintf("was killed by signal %d", t.Signal)
	default:
		return fmt.Sprintf("exited with status %d%s", t.ExitCode, msg)
	}
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	if len(s) > 300 {
		return s[:300]
	}
	return s
}

// transition reports the container starting or ending since the last look.
func (d *Driver) transition(p *podTrack, cs *corev1.ContainerStatus, deleted bool) {
	now := d.cfg.Runtime.Clock()
	if p.instance != "" {
		ended := deleted || cs == nil || cs.RestartCount != p.restarts || cs.State.Running == nil
		if !ended {
			return
		}
		at, level, reason := now, models.LevelInfo, fmt.Sprintf("Replica %d stopped", p.index)
		var term *corev1.ContainerStateTerminated
		if cs != nil {
			if term = cs.State.Terminated; term == nil && cs.RestartCount != p.restarts {
				term = cs.LastTerminationState.Terminated
			}
		}
		if term != nil && !deleted {
			at, level, reason = term.FinishedAt.UTC(), models.LevelError, fmt.Sprintf("Replica %d %s", p.index, exitReason(term))
			if term.ExitCode == 0 {
				level = models.LevelWarn
			}
		}
		d.platform(p, at, level, reason)
		d.meter(p, false, at)
		p.instance = ""
	}
	if deleted || cs == nil || cs.State.Running == nil {
		return
	}
	started := cs.State.Running.StartedAt.UTC()
	p.restarts = cs.RestartCount
	p.instance = fmt.Sprintf("%d/%s.%d/%d", p.index, p.name, cs.RestartCount, started.UnixMicro())
	// An adopted container was reported by the control plane that saw it
	// start; billing knows it again by its instance.
	if started.After(d.recovered) {
		d.platform(p, started, models.LevelInfo, fmt.Sprintf("Replica %d started (pod %s)", p.index, p.name))
	}
	d.meter(p, true, started)
}

func (d *Driver) platform(p *podTrack, at time.Time, level, message string) {
	d.sink.Append(models.LogLine{AgentID: p.agentID, OrgID: p.orgID, Timestamp: at.Truncate(time.Microsecond), Level: level, Message: message})
}

func (d *Driver) meter(p *podTrack, up bool, at time.Time) {
	if d.cfg.Runtime.Meter != nil {
		d.cfg.Runtime.Meter(runtime.Transition{AgentID: p.agentID, OrgID: p.orgID, Instance: p.instance, Up: up, At: at})
	}
}
