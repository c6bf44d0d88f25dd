// Package kube_test drives whole servers whose agents run on the test
// Kubernetes cluster (test/kube/cluster), through the public API.
package kube_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/kubetest"
)

// The agents' binaries, static: the runner image is FROM scratch.
var agentBinary, hostileBinary []byte

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	for _, b := range []struct {
		dir string
		out *[]byte
	}{{"../../internal/runtime/testdata/agent", &agentBinary}, {"../../e2e/testdata/hostile", &hostileBinary}} {
		path, cleanup, err := apitest.BuildStaticAgent(b.dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		*b.out, err = os.ReadFile(path)
		cleanup()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// platform is a server whose agents run in a namespace of its own.
type platform struct {
	*apitest.Server
	cluster   *kubetest.Cluster
	namespace string
	cfg       config.Config
	podPort   string
	podServer *http.Server
}

// stop closes the server and its pod listener, as a server going down does.
func (p *platform) stop(t *testing.T) {
	t.Helper()
	p.podServer.Close()
	p.Close()
	if err := p.App.Close(); err != nil {
		t.Fatal(err)
	}
}

// start runs a server on SQLite in dataDir with the kubernetes driver; a
// second listener on the pod bridge (podPort "0": any) serves the pods.
func start(t *testing.T, cluster *kubetest.Cluster, namespace, dataDir, podPort string) *platform {
	t.Helper()
	ln := cluster.Listen(t, podPort)
	cfg := apitest.Config("", dataDir)
	cfg.RuntimeDriver = config.RuntimeKubernetes
	cfg.Kube = config.Kube{
		Kubeconfig: cluster.Kubeconfig, Namespace: namespace, RunnerImage: cluster.RunnerImage,
		PullPolicy: "Never", ControlURL: "http://" + ln.Addr().String(),
		EgressDeny: "169.254.169.254/32", KubeletURL: cluster.KubeletURL,
	}
	cfg.ReplicaReadyAfter = time.Second
	cfg.StopGrace = 2 * time.Second
	cfg.MetricsInterval = time.Second
	s := apitest.StartConfig(t, cfg)
	srv := &http.Server{Handler: s.App.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return &platform{Server: s, cluster: cluster, namespace: namespace, cfg: cfg, podPort: port, podServer: srv}
}

// upload stores data as a binary and returns its neuais:// URL.
func (p *platform) upload(t *testing.T, data []byte) (url, id string) {
	t.Helper()
	res := p.Do(http.MethodPost, "/v1/binaries", p.AdminToken, data, "Content-Type", "application/octet-stream")
	if res.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s", res.Status, res.Body)
	}
	var b struct{ ID, URL string }
	if err := json.Unmarshal(res.Body, &b); err != nil {
		t.Fatal(err)
	}
	return b.URL, b.ID
}

type agentJSON struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Status       string   `json:"status"`
	StatusReason string   `json:"status_reason"`
	Endpoints    []string `json:"endpoints"`
}

// create makes an agent with one-tenth of a core and 64 MiB per replica.
func (p *platform) create(t *testing.T, name, binaryURL string, replicas int, env map[string]string) agentJSON {
	t.Helper()
	res := p.Do(http.MethodPost, "/v1/agents", p.AdminToken, map[string]any{
		"name": name, "runtime": "go", "binary_url": binaryURL, "environment": env,
		"config": map[string]any{"replicas": replicas, "cpu": "0.1", "memory": "64Mi"},
	})
	if res.Status != http.StatusCreated {
		t.Fatalf("create %s: %d %s", name, res.Status, res.Body)
	}
	var a agentJSON
	if err := json.Unmarshal(res.Body, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func (p *platform) agent(t *testing.T, id string) agentJSON {
	t.Helper()
	res := p.Do(http.MethodGet, "/v1/agents/"+id, p.AdminToken, nil)
	var a agentJSON
	if res.Status != http.StatusOK || json.Unmarshal(res.Body, &a) != nil {
		t.Fatalf("get %s: %d %s", id, res.Status, res.Body)
	}
	return a
}

func (p *platform) waitStatus(t *testing.T, id, status string) agentJSON {
	t.Helper()
	var a agentJSON
	apitest.Eventually(t, 120*time.Second, "agent "+id, func() bool {
		a = p.agent(t, id)
		return a.Status == status
	}, func() string { return fmt.Sprintf("status %s (%s), want %s", a.Status, a.StatusReason, status) })
	return a
}

type logJSON struct {
	Level   string `json:"level"`
	Message string `json:"message"`
	Replica int    `json:"replica"`
}

func (p *platform) logs(t *testing.T, id string) []logJSON {
	t.Helper()
	res := p.Do(http.MethodGet, "/v1/agents/"+id+"/logs?tail=1000", p.AdminToken, nil)
	var out struct{ Logs []logJSON }
	if res.Status != http.StatusOK || json.Unmarshal(res.Body, &out) != nil {
		t.Fatalf("logs: %d %s", res.Status, res.Body)
	}
	return out.Logs
}

// waitLog waits for a line of the replica (0: platform) containing substr
// and returns it.
func (p *platform) waitLog(t *testing.T, id string, replica int, substr string) logJSON {
	t.Helper()
	var found logJSON
	apitest.Eventually(t, 120*time.Second, "log line "+substr, func() bool {
		for _, l := range p.logs(t, id) {
			if l.Replica == replica && strings.Contains(l.Message, substr) {
				found = l
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprintf("no line %q of replica %d in %+v", substr, replica, p.logs(t, id)) })
	return found
}

// proxied sends GET path to the agent's endpoint through the server.
func (p *platform) proxied(t *testing.T, name, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = name + ".default.localhost"
	res, err := p.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// selector finds the cluster's objects of one agent.
func selector(agentID string) metav1.ListOptions {
	return metav1.ListOptions{LabelSelector: "neuais.dev/agent=" + agentID}
}

// pods lists the agent's pods not being deleted.
func (p *platform) pods(t *testing.T, agentID string) []podInfo {
	t.Helper()
	list, err := p.cluster.Client.CoreV1().Pods(p.namespace).List(context.Background(), selector(agentID))
	if err != nil {
		t.Fatal(err)
	}
	var out []podInfo
	for _, pod := range list.Items {
		if pod.DeletionTimestamp != nil {
			continue
		}
		info := podInfo{UID: string(pod.UID), Name: pod.Name, IP: pod.Status.PodIP}
		for _, c := range pod.Status.Conditions {
			if c.Type == "Ready" && c.Status == "True" {
				info.Ready = true
			}
		}
		for _, cs := range pod.Status.ContainerStatuses {
			info.Restarts += int(cs.RestartCount)
		}
		out = append(out, info)
	}
	return out
}

type podInfo struct {
	UID, Name, IP string
	Ready         bool
	Restarts      int
}

// waitPods waits for exactly n pods of the agent, all ready.
func (p *platform) waitPods(t *testing.T, agentID string, n int) []podInfo {
	t.Helper()
	var pods []podInfo
	apitest.Eventually(t, 120*time.Second, "the pods", func() bool {
		pods = p.pods(t, agentID)
		ready := 0
		for _, pod := range pods {
			if pod.Ready {
				ready++
			}
		}
		return len(pods) == n && ready == n
	}, func() string { return fmt.Sprintf("pods %+v, want %d ready", p.pods(t, agentID), n) })
	return pods
}

// objects counts the agent's Deployments, Secrets, NetworkPolicies and pods.
func (p *platform) objects(t *testing.T, agentID string) int {
	t.Helper()
	ctx := context.Background()
	c := p.cluster.Client
	deps, err1 := c.AppsV1().Deployments(p.namespace).List(ctx, selector(agentID))
	secrets, err2 := c.CoreV1().Secrets(p.namespace).List(ctx, selector(agentID))
	policies, err3 := c.NetworkingV1().NetworkPolicies(p.namespace).List(ctx, selector(agentID))
	pods, err4 := c.CoreV1().Pods(p.namespace).List(ctx, selector(agentID))
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return len(deps.Items) + len(secrets.Items) + len(policies.Items) + len(pods.Items)
}
