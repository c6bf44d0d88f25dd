package kube_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/kubetest"
	"github.com/neuais/neuais/internal/runtime"
	"github.com/neuais/neuais/models"
)

// TestAgentOnKubernetes takes one agent through its life on the cluster:
// two replicas from an uploaded binary, round robin, environment, logs
// with levels, metrics, scaling, a crash, stop, start and delete.
func TestAgentOnKubernetes(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Get(t)
	p := start(t, cluster, cluster.Namespace(t), t.TempDir(), "0")
	url, binaryID := p.upload(t, agentBinary)
	a := p.create(t, "web", url, 2, map[string]string{"GREETING": "hello kube"})
	p.waitStatus(t, a.ID, "running")
	p.waitPods(t, a.ID, 2)

	t.Run("objects", func(t *testing.T) {
		ctx := context.Background()
		dep, err := cluster.Client.AppsV1().Deployments(p.namespace).Get(ctx, strings.ReplaceAll(a.ID, "_", "-"), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ru := dep.Spec.Strategy.RollingUpdate
		if ru == nil || ru.MaxUnavailable.IntValue() != 0 || ru.MaxSurge.IntValue() != 1 {
			t.Errorf("rolling update %+v, want maxUnavailable 0, maxSurge 1", ru)
		}
		c := dep.Spec.Template.Spec.Containers[0]
		if c.Resources.Limits.Cpu().String() != "100m" || c.Resources.Limits.Memory().String() != "64Mi" ||
			c.Resources.Requests.Cpu().String() != "100m" {
			t.Errorf("resources %+v", c.Resources)
		}
		sc := c.SecurityContext
		if sc == nil || !*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation ||
			!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("security context %+v", sc)
		}
		secret, err := cluster.Client.CoreV1().Secrets(p.namespace).Get(ctx, dep.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if string(secret.Data["GREETING"]) != "hello kube" || !strings.HasPrefix(string(secret.Data["NEUAIS_RUNNER_TOKEN"]), "nrc_") {
			t.Errorf("secret data keys %v", slices.Sorted(func(yield func(string) bool) {
				for k := range secret.Data {
					if !yield(k) {
						return
					}
				}
			}))
		}
		// The test cluster's bridge does not enforce policies: that it
		// exists, selecting the agent's pods, is what can be checked.
		policy, err := cluster.Client.NetworkingV1().NetworkPolicies(p.namespace).Get(ctx, dep.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if policy.Spec.PodSelector.MatchLabels["neuais.dev/agent"] != a.ID || len(policy.Spec.Egress) != 1 ||
			!slices.Contains(policy.Spec.Egress[0].To[0].IPBlock.Except, "169.254.169.254/32") {
			t.Errorf("network policy %+v", policy.Spec)
		}
		// Applying again (the periodic reconcile) changes nothing.
		before := dep.ResourceVersion
		p.App.Runtime.Reconcile(a.ID)
		time.Sleep(2 * time.Second)
		again, err := cluster.Client.AppsV1().Deployments(p.namespace).Get(ctx, dep.Name, metav1.GetOptions{})
		if err != nil || again.ResourceVersion != before {
			t.Errorf("reconcile changed the deployment: %s → %s (%v)", before, again.ResourceVersion, err)
		}
	})

	t.Run("round robin and environment", func(t *testing.T) {
		seen := map[string]int{}
		for range 10 {
			status, body := p.proxied(t, "web", "/")
			if status != http.StatusOK {
				t.Fatalf("proxy: %d %s", status, body)
			}
			seen[body]++
		}
		if seen["replica 1"] == 0 || seen["replica 2"] == 0 || len(seen) != 2 {
			t.Errorf("answers %v, want both replicas", seen)
		}
		if status, body := p.proxied(t, "web", "/env?name=GREETING"); status != http.StatusOK || body != "hello kube" {
			t.Errorf("GREETING: %d %q", status, body)
		}
	})

	t.Run("logs with levels", func(t *testing.T) {
		for replica := 1; replica <= 2; replica++ {
			for msg, level := range map[string]string{
				`"json warn"`: "warn", "ERROR: plain error": "error", "INFO plain info": "info",
				"debug: plain debug on stderr": "debug", "[warning] bracketed warn": "warn",
				fmt.Sprintf("json debug from replica %d", replica): "debug",
			} {
				if got := p.waitLog(t, a.ID, replica, msg); got.Level != level {
					t.Errorf("replica %d %q at %s, want %s", replica, msg, got.Level, level)
				}
			}
			p.waitLog(t, a.ID, 0, fmt.Sprintf("Replica %d started", replica))
		}
	})

	t.Run("metrics", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() { p.proxied(t, "web", "/burn?ms=4000") })
		}
		apitest.Eventually(t, 60*time.Second, "the metrics", func() bool {
			cpu, mem := lastMetrics(t, p, a.ID)
			return cpu > 0 && mem > 0
		}, func() string { cpu, mem := lastMetrics(t, p, a.ID); return fmt.Sprintf("cpu %v, memory %v", cpu, mem) })
		wg.Wait()
	})

	t.Run("scale 2 to 3 to 1", func(t *testing.T) {
		for _, n := range []int{3, 1} {
			res := p.Do(http.MethodPut, "/v1/agents/"+a.ID, p.AdminToken, map[string]any{"config": map[string]any{"replicas": n}})
			if res.Status != http.StatusOK {
				t.Fatalf("scale to %d: %d %s", n, res.Status, res.Body)
			}
			p.waitPods(t, a.ID, n)
			p.waitStatus(t, a.ID, "running")
		}
	})

	t.Run("crash and restart", func(t *testing.T) {
		before := p.waitPods(t, a.ID, 1)
		p.proxied(t, "web", "/crash")
		p.waitLog(t, a.ID, 0, "exited with status 1")
		apitest.Eventually(t, 60*time.Second, "the restart", func() bool {
			now := p.pods(t, a.ID)
			return len(now) == 1 && now[0].UID == before[0].UID && now[0].Restarts == before[0].Restarts+1 && now[0].Ready
		}, func() string { return fmt.Sprintf("pods %+v, before %+v", p.pods(t, a.ID), before) })
		p.waitStatus(t, a.ID, "running")
		if status, body := p.proxied(t, "web", "/"); status != http.StatusOK {
			t.Errorf("after the restart: %d %s", status, body)
		}
	})

	t.Run("stop leaves no pod, start brings it back", func(t *testing.T) {
		if res := p.Do(http.MethodPost, "/v1/agents/"+a.ID+"/stop", p.AdminToken, nil); res.Status != http.StatusOK {
			t.Fatalf("stop: %d %s", res.Status, res.Body)
		}
		p.waitStatus(t, a.ID, "stopped")
		apitest.Eventually(t, 60*time.Second, "no pod", func() bool { return p.objects(t, a.ID) == 0 },
			func() string { return fmt.Sprintf("%d objects left", p.objects(t, a.ID)) })
		if status, _ := p.proxied(t, "web", "/"); status != http.StatusServiceUnavailable {
			t.Errorf("stopped agent's endpoint: %d, want 503", status)
		}
		if res := p.Do(http.MethodPost, "/v1/agents/"+a.ID+"/start", p.AdminToken, nil); res.Status != http.StatusOK {
			t.Fatalf("start: %d %s", res.Status, res.Body)
		}
		p.waitStatus(t, a.ID, "running")
		p.waitPods(t, a.ID, 1)
	})

	t.Run("delete leaves no object and revokes the credential", func(t *testing.T) {
		credential := p.App.RunnerCredential(a.ID)
		if res := p.Do(http.MethodGet, "/runner/v1/binaries/"+binaryID, credential, nil); res.Status != http.StatusOK {
			t.Fatalf("runner fetch before delete: %d", res.Status)
		}
		if res := p.Do(http.MethodDelete, "/v1/agents/"+a.ID, p.AdminToken, nil); res.Status != http.StatusOK {
			t.Fatalf("delete: %d %s", res.Status, res.Body)
		}
		apitest.Eventually(t, 60*time.Second, "no object", func() bool { return p.objects(t, a.ID) == 0 },
			func() string { return fmt.Sprintf("%d objects left", p.objects(t, a.ID)) })
		if res := p.Do(http.MethodGet, "/runner/v1/binaries/"+binaryID, credential, nil); res.Status != http.StatusUnauthorized {
			t.Errorf("runner fetch after delete: %d, want 401", res.Status)
		}
	})
}

// lastMetrics is the agent's latest CPU and memory samples.
func lastMetrics(t *testing.T, p *platform, id string) (cpu, memory float64) {
	t.Helper()
	res := p.Do(http.MethodGet, "/v1/agents/"+id+"/metrics", p.AdminToken, nil)
	var out struct {
		Metrics map[string][]struct{ Value float64 }
	}
	if res.Status != http.StatusOK || json.Unmarshal(res.Body, &out) != nil {
		t.Fatalf("metrics: %d %s", res.Status, res.Body)
	}
	top := func(series []struct{ Value float64 }) float64 {
		m := 0.0
		for _, s := range series {
			m = max(m, s.Value)
		}
		return m
	}
	return top(out.Metrics["cpu"]), top(out.Metrics["memory"])
}

// TestCrashLoopEndsInErrorAndRecovers: a replica killed for memory again
// and again puts the agent in error, with the reason and the kills in its
// log; a new binary brings it back.
func TestCrashLoopEndsInErrorAndRecovers(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Get(t)
	p := start(t, cluster, cluster.Namespace(t), t.TempDir(), "0")
	hostile, _ := p.upload(t, hostileBinary)
	a := p.create(t, "greedy", hostile, 1, map[string]string{"HOSTILE_MODE": "alloc"})
	p.waitStatus(t, a.ID, "error")
	p.waitLog(t, a.ID, 0, "Replica 1 was killed: out of memory (OOMKilled)")
	p.waitLog(t, a.ID, 0, "Replicas keep crashing")
	res := p.Do(http.MethodGet, "/v1/events?type=agent.error", p.AdminToken, nil)
	if res.Status != http.StatusOK || !strings.Contains(string(res.Body), a.ID) {
		t.Errorf("agent.error events: %d %s", res.Status, res.Body)
	}

	good, _ := p.upload(t, agentBinary)
	if res := p.Do(http.MethodPut, "/v1/agents/"+a.ID, p.AdminToken, map[string]any{"binary_url": good}); res.Status != http.StatusOK {
		t.Fatalf("new binary: %d %s", res.Status, res.Body)
	}
	p.waitStatus(t, a.ID, "running")
	p.waitPods(t, a.ID, 1)
	if status, body := p.proxied(t, "greedy", "/"); status != http.StatusOK || !strings.HasPrefix(body, "replica ") {
		t.Errorf("recovered agent answers %d %q", status, body)
	}
}

// TestHostileAgentIsConfinedByThePod runs the isolation checks that the
// pod's security context covers (the bridge enforces no NetworkPolicy).
func TestHostileAgentIsConfinedByThePod(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Get(t)
	p := start(t, cluster, cluster.Namespace(t), t.TempDir(), "0")
	hostile, _ := p.upload(t, hostileBinary)
	a := p.create(t, "hostile", hostile, 1, map[string]string{
		"HOSTILE_READ":  "/var/run/secrets/kubernetes.io/serviceaccount/token",
		"HOSTILE_WRITE": "/neuais,/etc/owned,/tmp/owned",
	})
	p.waitStatus(t, a.ID, "running")

	status, body := p.proxied(t, "hostile", "/probes")
	if status != http.StatusOK {
		t.Fatalf("probes: %d %s", status, body)
	}
	var probes map[string]string
	if err := json.Unmarshal([]byte(body), &probes); err != nil {
		t.Fatal(err)
	}
	if len(probes) != 4 {
		t.Errorf("probes %v, want 4", probes)
	}
	for probe, outcome := range probes {
		if !strings.HasPrefix(outcome, "refused") {
			t.Errorf("%s: %s", probe, outcome)
		}
	}

	status, body = p.proxied(t, "hostile", "/self")
	if status != http.StatusOK {
		t.Fatalf("self: %d %s", status, body)
	}
	var self struct {
		Status string
		Env    []string
	}
	if err := json.Unmarshal([]byte(body), &self); err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(self.Status, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	for field, want := range map[string]string{
		"Uid": "65532 65532 65532 65532", "CapEff": "0000000000000000", "CapPrm": "0000000000000000",
		"CapBnd": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2",
	} {
		if fields[field] != want {
			t.Errorf("%s: %q, want %q", field, fields[field], want)
		}
	}
	for _, kv := range self.Env {
		if strings.HasPrefix(kv, "NEUAIS_RUNNER_") {
			t.Errorf("the agent sees %s", kv)
		}
	}
}

// TestServerRestartAdoptsTheDeployment: a new server on the same database
// adopts the running pods without restarting them, and resumes their logs
// where the stored ones end, with no line lost or repeated.
func TestServerRestartAdoptsTheDeployment(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Get(t)
	namespace, dataDir := cluster.Namespace(t), t.TempDir()
	first := start(t, cluster, namespace, dataDir, "0")
	url, _ := first.upload(t, agentBinary)
	a := first.create(t, "steady", url, 2, nil)
	first.waitStatus(t, a.ID, "running")
	before := first.waitPods(t, a.ID, 2)
	first.proxied(t, "steady", "/say?line=before+the+restart")
	first.proxied(t, "steady", "/say?line=before+the+restart")
	first.waitLog(t, a.ID, 1, "before the restart")
	first.waitLog(t, a.ID, 2, "before the restart")
	first.stop(t)
	// Written while no control plane runs, straight to each pod.
	for _, pod := range before {
		res, err := http.Get("http://" + pod.IP + ":8080/say?line=while+no+server+runs")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}

	// While no server runs: objects of an agent the database does not
	// hold, which the next server removes, and objects not its own.
	ctx := context.Background()
	orphan := orphanAgent(t, cluster, namespace)
	for name, labels := range map[string]map[string]string{
		"bystander": nil, "other-manager": {"app.kubernetes.io/managed-by": "someone-else", "neuais.dev/agent": "agt_00000000000000aa"},
	} {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, StringData: map[string]string{"k": "v"}}
		if _, err := cluster.Client.CoreV1().Secrets(namespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	second := start(t, cluster, namespace, dataDir, first.podPort)
	second.waitStatus(t, a.ID, "running")
	apitest.Eventually(t, 60*time.Second, "the orphan's removal", func() bool { return second.objects(t, orphan) == 0 },
		func() string { return fmt.Sprintf("%d objects of %s left", second.objects(t, orphan), orphan) })
	for _, name := range []string{"bystander", "other-manager"} {
		if _, err := cluster.Client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("secret %s, not the driver's: %v", name, err)
		}
	}
	for replica := 1; replica <= 2; replica++ {
		second.waitLog(t, a.ID, replica, "while no server runs")
	}
	second.proxied(t, "steady", "/say?line=after+the+restart")
	second.proxied(t, "steady", "/say?line=after+the+restart")
	for replica := 1; replica <= 2; replica++ {
		second.waitLog(t, a.ID, replica, "after the restart")
	}
	after := second.pods(t, a.ID)
	if len(after) != 2 || !slices.ContainsFunc(after, func(p podInfo) bool { return p.UID == before[0].UID && p.Restarts == before[0].Restarts }) ||
		!slices.ContainsFunc(after, func(p podInfo) bool { return p.UID == before[1].UID && p.Restarts == before[1].Restarts }) {
		t.Errorf("pods %+v after the restart, %+v before", after, before)
	}
	counts := map[string]int{}
	for _, l := range second.logs(t, a.ID) {
		counts[fmt.Sprintf("%d %s", l.Replica, l.Message)]++
	}
	for line, n := range counts {
		if n != 1 {
			t.Errorf("%q stored %d times", line, n)
		}
	}
	for replica := 1; replica <= 2; replica++ {
		for _, msg := range []string{"INFO plain info", "before the restart", "while no server runs", "after the restart"} {
			if counts[fmt.Sprintf("%d %s", replica, msg)] != 1 {
				t.Errorf("replica %d: %q stored %d times", replica, msg, counts[fmt.Sprintf("%d %s", replica, msg)])
			}
		}
	}
	for _, pod := range before {
		if n := counts["0 Replica 1 started (pod "+pod.Name+")"] + counts["0 Replica 2 started (pod "+pod.Name+")"]; n != 1 {
			t.Errorf("pod %s reported started %d times", pod.Name, n)
		}
	}
	if n := counts["0 Agent started"]; n != 1 {
		t.Errorf("\"Agent started\" %d times: the restart was seen as a new start", n)
	}
}

// orphanAgent applies an agent that no database holds, as a server whose
// agent was deleted while it was down left it, and returns its id.
func orphanAgent(t *testing.T, cluster *kubetest.Cluster, namespace string) string {
	t.Helper()
	cfg := cluster.DriverConfig(namespace)
	cfg.Runtime = config.Default().Runtime()
	d := kubetest.StartDriver(t, cfg, discard{})
	const id = "agt_0000000000000bad"
	spec := runtime.Spec{AgentID: id, OrgID: "org_gone", Name: "gone", Generation: 1, Replicas: 1, CPU: "0.1", Memory: "64Mi",
		BinaryURL: "http://" + cluster.PodHost + ":9/none", BinarySHA256: strings.Repeat("0", 64)}
	if err := d.Apply(spec); err != nil {
		t.Fatal(err)
	}
	return id
}

type discard struct{}

func (discard) Append(models.LogLine) {}
