package kube

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"

	"github.com/neuais/neuais/internal/runtime"
)

// statsTTL bounds how often the cluster is asked: the sampler asks for
// every agent in turn.
const statsTTL = 5 * time.Second

// stats reads pods' CPU and memory: from metrics.k8s.io when the cluster
// serves it, else from the kubelet summary of each node.
type stats struct {
	client  kubernetes.Interface
	cfg     Config
	kubelet *http.Client

	mu      sync.Mutex
	at      time.Time
	byPod   map[string]runtime.Usage
	noAPI   bool // metrics.k8s.io answered 404
	lastErr error
}

func newStats(client kubernetes.Interface, cfg Config, hc *http.Client) *stats {
	if cfg.KubeletURL != "" {
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // kubelets serve self-signed certificates; see Config.KubeletURL
	}
	return &stats{client: client, cfg: cfg, kubelet: hc}
}

func (s *stats) usage(pods, nodes []string) runtime.Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.at) > statsTTL {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.byPod, s.lastErr = s.read(ctx, nodes)
		cancel()
		s.at = time.Now()
	}
	var u runtime.Usage
	for _, p := range pods {
		u.CPUPercent += s.byPod[p].CPUPercent
		u.MemoryMiB += s.byPod[p].MemoryMiB
	}
	return u
}

func (s *stats) read(ctx context.Context, nodes []string) (map[string]runtime.Usage, error) {
	if !s.noAPI && s.cfg.KubeletURL == "" {
		out, err := s.readMetricsAPI(ctx)
		if err == nil {
			return out, nil
		}
		s.noAPI = true
	}
	out := map[string]runtime.Usage{}
	if s.cfg.KubeletURL != "" {
		return out, s.readSummary(ctx, s.cfg.KubeletURL, out)
	}
	for _, node := range nodes {
		if node == "" {
			continue
		}
		body, err := s.client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", node, "proxy", "stats", "summary").DoRaw(ctx)
		if err != nil {
			return out, fmt.Errorf("kube: kubelet summary of %s: %w", node, err)
		}
		if err := s.addSummary(body, out); err != nil {
			return out, err
		}
	}
	return out, nil
}

// readMetricsAPI reads metrics.k8s.io's pod metrics of the namespace.
func (s *stats) readMetricsAPI(ctx context.Context) (map[string]runtime.Usage, error) {
	body, err := s.client.CoreV1().RESTClient().Get().
		AbsPath("/apis/metrics.k8s.io/v1beta1/namespaces", s.cfg.Namespace, "pods").
		Param("labelSelector", selectorManaged).DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []struct {
			Metadata   struct{ Name string } `json:"metadata"`
			Containers []struct {
				Usage map[string]string `json:"usage"`
			} `json:"containers"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, err
	}
	out := map[string]runtime.Usage{}
	for _, it := range list.Items {
		var u runtime.Usage
		for _, c := range it.Containers {
			u.CPUPercent += quantity(c.Usage["cpu"]) * 100
			u.MemoryMiB += quantity(c.Usage["memory"]) / (1 << 20)
		}
		out[it.Metadata.Name] = u
	}
	return out, nil
}

func (s *stats) readSummary(ctx context.Context, url string, out map[string]runtime.Usage) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := s.kubelet.Do(req)
	if err != nil {
		return fmt.Errorf("kube: kubelet summary: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("kube: kubelet summary: %s", res.Status)
	}
	var body json.RawMessage
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return fmt.Errorf("kube: kubelet summary: %w", err)
	}
	return s.addSummary(body, out)
}

// addSummary adds the namespace's pods of a kubelet summary to out.
func (s *stats) addSummary(body []byte, out map[string]runtime.Usage) error {
	var summary struct {
		Pods []struct {
			PodRef struct{ Name, Namespace string } `json:"podRef"`
			CPU    struct {
				UsageNanoCores *float64 `json:"usageNanoCores"`
			} `json:"cpu"`
			Memory struct {
				WorkingSetBytes *float64 `json:"workingSetBytes"`
			} `json:"memory"`
		} `json:"pods"`
	}
	if err := json.Unmarshal(body, &summary); err != nil {
		return fmt.Errorf("kube: kubelet summary: %w", err)
	}
	for _, p := range summary.Pods {
		if p.PodRef.Namespace != s.cfg.Namespace {
			continue
		}
		var u runtime.Usage
		if p.CPU.UsageNanoCores != nil {
			u.CPUPercent = *p.CPU.UsageNanoCores / 1e7
		}
		if p.Memory.WorkingSetBytes != nil {
			u.MemoryMiB = *p.Memory.WorkingSetBytes / (1 << 20)
		}
		out[p.PodRef.Name] = u
	}
	return nil
}

// quantity reads a resource quantity ("250m", "12345n", "64Mi") as a number.
func quantity(v string) float64 {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return 0
	}
	return q.AsApproximateFloat64()
}
