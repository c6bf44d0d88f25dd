package kube

import (
	"bufio"
	"context"
	"errors"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/neuais/neuais/internal/runtime"
	"github.com/neuais/neuais/models"
)

// drainGrace is how long a deleted pod's follower keeps reading what its
// container wrote last.
const drainGrace = 5 * time.Second

// followLogs copies the pod's container log into the sink until the pod
// is gone, resuming after the last line stored for the replica: a line
// the kubelet stamped at or before it is a repeat.
func (d *Driver) followLogs(agentID, pod string, replica int, gone chan struct{}) {
	defer d.followers.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-d.stop:
		case <-gone:
			select {
			case <-d.stop:
			case <-time.After(drainGrace):
			}
		}
		cancel()
	}()
	last, err := d.cfg.LastLogTime(ctx, agentID, replica)
	if err != nil {
		d.log.Warn("kube: last stored log line", "agent", agentID, "replica", replica, "err", err)
	}
	orgID := ""
	first := true
	for ctx.Err() == nil {
		obj, exists, err := d.pods.GetStore().GetByKey(d.cfg.Namespace + "/" + pod)
		p, _ := obj.(*corev1.Pod)
		if err != nil || !exists || p == nil {
			return
		}
		orgID = p.Labels[labelOrg]
		cs := agentContainer(p)
		if cs == nil || (cs.State.Running == nil && cs.State.Terminated == nil) {
			sleep(ctx, 500*time.Millisecond)
			continue
		}
		if first && cs.RestartCount > 0 {
			// Containers that ended while no control plane followed them.
			last = d.copyLog(ctx, agentID, orgID, pod, replica, last, true)
		}
		first = false
		last = d.copyLog(ctx, agentID, orgID, pod, replica, last, false)
		sleep(ctx, time.Second)
	}
}

// copyLog copies the container's lines after last (the previous
// container's when previous, else the current one's, followed) and
// returns the time of the last line copied.
func (d *Driver) copyLog(ctx context.Context, agentID, orgID, pod string, replica int, last time.Time, previous bool) time.Time {
	opts := &corev1.PodLogOptions{Container: containerName, Follow: !previous, Previous: previous, Timestamps: true}
	if !last.IsZero() {
		opts.SinceTime = &metav1.Time{Time: last} // whole seconds: the repeats are skipped below
	}
	stream, err := d.client.CoreV1().Pods(d.cfg.Namespace).GetLogs(pod, opts).Stream(ctx)
	if err != nil {
		return last
	}
	defer stream.Close()
	// The stdout and stderr lines of one stream are not in time order:
	// only lines at or before where it resumes are repeats.
	resume := last
	br := bufio.NewReaderSize(stream, 64<<10)
	for {
		chunk, err := br.ReadSlice('\n')
		if ts, msg, ok := strings.Cut(strings.TrimRight(string(chunk), "\r\n"), " "); ok {
			at, perr := time.Parse(time.RFC3339Nano, ts)
			at = at.UTC().Truncate(time.Microsecond)
			if perr == nil && at.After(resume) && strings.TrimSpace(msg) != "" {
				if at.After(last) {
					last = at
				}
				msg = strings.ToValidUTF8(msg, "\uFFFD")
				d.sink.Append(models.LogLine{
					AgentID: agentID, OrgID: orgID, Replica: replica,
					Timestamp: at, Level: runtime.LineLevel(msg, models.LevelInfo), Message: msg,
				})
			}
		}
		// As the local driver does, a line longer than the buffer is
		// kept as its first 64 KiB.
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		if err != nil {
			return last
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
