// Package kubetest gives tests the Kubernetes cluster CI starts
// (test/kube/cluster): without NEUAIS_TEST_KUBECONFIG they skip, except
// under CI, where they fail, so that the driver is always tested there.
package kubetest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/neuais/neuais/internal/runtime"
	"github.com/neuais/neuais/internal/runtime/kube"
	"github.com/neuais/neuais/models"
)

// Cluster is the test cluster and where its pods reach the test's servers.
type Cluster struct {
	Kubeconfig string
	Client     kubernetes.Interface
	// RunnerImage is the imported image with the neuais binary at /neuais.
	RunnerImage string
	// PodHost is the host's address on the pod bridge, the one address
	// besides 127.0.0.1 that test servers listen on, for pods to reach.
	PodHost string
	// KubeletURL is the kubelet summary (the node proxy refuses loopback nodes).
	KubeletURL string
}

// Get returns the cluster, or skips (fails under CI) without one.
func Get(t testing.TB) *Cluster {
	t.Helper()
	path := os.Getenv("NEUAIS_TEST_KUBECONFIG")
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("NEUAIS_TEST_KUBECONFIG is not set: CI runs the Kubernetes driver's tests against test/kube/cluster")
		}
		t.Skip("NEUAIS_TEST_KUBECONFIG is not set (test/kube/cluster/start.sh starts a cluster)")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return &Cluster{
		Kubeconfig:  path,
		Client:      client,
		RunnerImage: env("NEUAIS_TEST_KUBE_RUNNER_IMAGE", "localhost/neuais-runner:test"),
		PodHost:     env("NEUAIS_TEST_KUBE_POD_HOST", "10.88.0.1"),
		KubeletURL:  env("NEUAIS_TEST_KUBELET_URL", "https://127.0.0.1:10250/stats/summary"),
	}
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// Namespace creates a namespace of the test's own, deleted when it ends.
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	name := strings.ReplaceAll(models.NewID("neuais-test-"), "_", "-")
	ctx := context.Background()
	_, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The service account controller makes "default", which pods need.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := c.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s has no default service account", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(func() {
		zero := int64(0)
		_ = c.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	})
	return name
}

// Listen listens on the pod bridge's host address, for pods to reach;
// port is "0", or a port to listen on again.
func (c *Cluster) Listen(t testing.TB, port string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(c.PodHost, port))
	if err != nil {
		t.Fatalf("listen on the pod bridge (%s): %v", c.PodHost, err)
	}
	return ln
}

// DriverConfig is the driver's configuration for namespace, without a
// control plane: binaries come from URLs, no log line was stored before.
func (c *Cluster) DriverConfig(namespace string) kube.Config {
	return kube.Config{
		Kubeconfig: c.Kubeconfig, Namespace: namespace, RunnerImage: c.RunnerImage, PullPolicy: corev1.PullNever,
		ControlURL: "http://" + c.PodHost, Credential: func(string) string { return "" },
		EgressDeny: []string{"169.254.169.254/32"}, KubeletURL: c.KubeletURL,
		LastLogTime: func(context.Context, string, int) (time.Time, error) { return time.Time{}, nil },
	}
}

// StartDriver starts the driver over cfg (Recover: it watches the
// namespace), shut down when the test ends.
func StartDriver(t testing.TB, cfg kube.Config, sink runtime.LogSink) *kube.Driver {
	t.Helper()
	d, err := kube.New(cfg, sink, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown(context.Background()) }) //nolint:errcheck
	return d
}
