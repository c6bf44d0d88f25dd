// Package kube is the Kubernetes runtime driver: an agent is a Deployment
// of runner pods (each fetches the agent's binary from the control plane,
// checks its sha256 and execs it), a Secret with its environment and a
// NetworkPolicy, all labelled so that the driver finds only its own
// objects. Status, replica output and usage come from what the cluster
// reports.
package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/neuais/neuais/internal/runner"
	"github.com/neuais/neuais/internal/runtime"
)

// Labels and annotations the driver writes; selectorManaged finds its objects.
const (
	labelManaged    = "app.kubernetes.io/managed-by"
	managedBy       = "neuais"
	labelAgent      = "neuais.dev/agent"
	labelTemplate   = "neuais.dev/template"
	labelOrg        = "neuais.dev/organization"
	annotGeneration = "neuais.dev/generation"
	annotReplica    = runner.ReplicaAnnotation
	selectorManaged = labelManaged + "=" + managedBy
	fieldManager    = "neuais"
	containerName   = "agent"
	// agentPort is the PORT every replica listens on: each pod has its own IP.
	agentPort = 8080
)

// Config configures the driver (config.Config.Kube holds the server's values).
type Config struct {
	// Kubeconfig is a kubeconfig file; empty uses the in-cluster service account.
	Kubeconfig string
	Namespace  string
	// RunnerImage holds the neuais binary at /neuais: its runner command
	// fetches and execs the agent's binary.
	RunnerImage string
	PullPolicy  corev1.PullPolicy
	// ControlURL is the control plane as pods reach it, for uploaded binaries.
	ControlURL string
	// Credential returns the agent's runner credential, kept in its Secret.
	Credential func(agentID string) string
	// EgressDeny are the CIDRs the agents' NetworkPolicy denies (the
	// control plane's database, cloud metadata).
	EgressDeny []string
	// KubeletURL, when set, is read for the kubelet summary instead of the
	// API server's node proxy (which refuses nodes named localhost). Its
	// TLS certificate is not verified: kubelets serve self-signed ones.
	KubeletURL string
	// LastLogTime is the time of the replica's last stored log line, where
	// following its pod's log resumes after a control-plane restart.
	LastLogTime func(ctx context.Context, agentID string, replica int) (time.Time, error)
	// Runtime holds what every driver honours: ReadyAfter, StopGrace, Meter, Clock.
	Runtime runtime.Config
}

// Driver implements runtime.Driver on a Kubernetes cluster.
type Driver struct {
	cfg    Config
	client kubernetes.Interface
	sink   runtime.LogSink
	log    *slog.Logger
	stats  *stats

	factory   informers.SharedInformerFactory
	pods      cache.SharedIndexInformer
	deploys   cache.SharedIndexInformer
	stop      chan struct{}
	followers sync.WaitGroup
	// recovered is when Recover began: containers started before are adopted.
	recovered time.Time
	onChange  atomic.Pointer[func(string)]

	mu     sync.Mutex
	agents map[string]*agentState
	// adopted are agents whose objects Recover found, until Apply or Stop.
	adopted map[string]bool
	tracked map[types.UID]*podTrack
}

// agentState is what the driver last applied for an agent.
type agentState struct {
	spec runtime.Spec
	// template names the pod template (binary, environment, limits);
	// generation is the spec generation pods of that template report.
	template   string
	generation int64
}

var _ runtime.Driver = (*Driver)(nil)

// New connects to the cluster; Recover starts watching it.
func New(cfg Config, sink runtime.LogSink, logger *slog.Logger) (*Driver, error) {
	if cfg.Namespace == "" || cfg.RunnerImage == "" || cfg.ControlURL == "" || cfg.Credential == nil || cfg.LastLogTime == nil {
		return nil, errors.New("kube: Namespace, RunnerImage, ControlURL, Credential and LastLogTime are required")
	}
	rc, err := restConfig(cfg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kube: client: %w", err)
	}
	return NewWithClient(cfg, client, sink, logger), nil
}

// NewWithClient is New with a client already built.
func NewWithClient(cfg Config, client kubernetes.Interface, sink runtime.LogSink, logger *slog.Logger) *Driver {
	if cfg.PullPolicy == "" {
		cfg.PullPolicy = corev1.PullIfNotPresent
	}
	d := &Driver{
		cfg: cfg, client: client, sink: sink, log: logger,
		stop:    make(chan struct{}),
		agents:  map[string]*agentState{},
		adopted: map[string]bool{},
		tracked: map[types.UID]*podTrack{},
	}
	d.stats = newStats(client, cfg, &http.Client{Timeout: 5 * time.Second})
	d.factory = informers.NewSharedInformerFactoryWithOptions(client, 10*time.Minute,
		informers.WithNamespace(cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selectorManaged }))
	d.pods = d.factory.Core().V1().Pods().Informer()
	d.deploys = d.factory.Apps().V1().Deployments().Informer()
	return d
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kube: no kubeconfig and not in a cluster: %w", err)
		}
		return rc, nil
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kube: kubeconfig %s: %w", kubeconfig, err)
	}
	return rc, nil
}

// OnChange implements runtime.Driver.
func (d *Driver) OnChange(f func(agentID string)) { d.onChange.Store(&f) }

func (d *Driver) changed(agentID string) {
	if f := d.onChange.Load(); f != nil && agentID != "" {
		(*f)(agentID)
	}
}

// Recover implements runtime.Driver: it starts watching the driver's pods
// and Deployments and adopts what it finds, pods left running.
func (d *Driver) Recover(ctx context.Context) error {
	d.recovered = time.Now().Add(-time.Second) // startedAt has whole seconds
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { d.observe(obj) },
		UpdateFunc: func(_, obj any) { d.observe(obj) },
		DeleteFunc: func(obj any) { d.observe(obj) },
	}
	if _, err := d.pods.AddEventHandler(handler); err != nil {
		return fmt.Errorf("kube: watch pods: %w", err)
	}
	if _, err := d.deploys.AddEventHandler(handler); err != nil {
		return fmt.Errorf("kube: watch deployments: %w", err)
	}
	d.factory.Start(d.stop)
	for typ, ok := range d.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("kube: %v not synced: %w", typ, ctx.Err())
		}
	}
	// Secrets and policies left without a Deployment (a stop cut short)
	// belong to agents too.
	opts := metav1.ListOptions{LabelSelector: selectorManaged}
	secrets, err := d.client.CoreV1().Secrets(d.cfg.Namespace).List(ctx, opts)
	if err != nil {
		return fmt.Errorf("kube: list secrets: %w", err)
	}
	policies, err := d.client.NetworkingV1().NetworkPolicies(d.cfg.Namespace).List(ctx, opts)
	if err != nil {
		return fmt.Errorf("kube: list network policies: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range secrets.Items {
		d.adopted[s.Labels[labelAgent]] = true
	}
	for _, p := range policies.Items {
		d.adopted[p.Labels[labelAgent]] = true
	}
	for _, obj := range d.deploys.GetStore().List() {
		d.adopted[labels(obj)[labelAgent]] = true
	}
	delete(d.adopted, "")
	return nil
}

func labels(obj any) map[string]string {
	if m, ok := obj.(metav1.Object); ok {
		return m.GetLabels()
	}
	return nil
}

// observe follows every change of the driver's pods and Deployments.
func (d *Driver) observe(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		d.observePod(pod)
	}
	d.changed(labels(obj)[labelAgent])
}

// Isolation implements runtime.Driver.
func (d *Driver) Isolation() (bool, string) {
	return true, fmt.Sprintf("kubernetes namespace %s: pods run as non-root with a read-only root file system, "+
		"no privilege escalation and no capabilities; a NetworkPolicy denies egress to %v where the network plugin enforces it",
		d.cfg.Namespace, d.cfg.EgressDeny)
}

// Apply implements runtime.Driver: the agent's Secret, NetworkPolicy and
// Deployment by server-side apply, so applying the same spec twice
// changes nothing. A template that differs rolls the pods one at a time.
func (d *Driver) Apply(spec runtime.Spec) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	template := templateHash(spec, d.cfg)
	generation := spec.Generation
	d.mu.Lock()
	if st := d.agents[spec.AgentID]; st != nil && st.template == template {
		generation = st.generation
	}
	d.mu.Unlock()
	if live := d.deployment(spec.AgentID); live != nil && live.Spec.Template.Labels[labelTemplate] == template {
		// Adopted, or applied before: its pods keep running.
		if g, err := strconv.ParseInt(live.Spec.Template.Annotations[annotGeneration], 10, 64); err == nil {
			generation = g
		}
	}
	if err := d.apply(ctx, spec, template, generation); err != nil {
		return err
	}
	d.mu.Lock()
	d.agents[spec.AgentID] = &agentState{spec: spec, template: template, generation: generation}
	delete(d.adopted, spec.AgentID)
	d.mu.Unlock()
	return nil
}

func (d *Driver) apply(ctx context.Context, spec runtime.Spec, template string, generation int64) error {
	ns := d.cfg.Namespace
	opts := metav1.ApplyOptions{FieldManager: fieldManager, Force: true}
	if _, err := d.client.CoreV1().Secrets(ns).Apply(ctx, secretFor(spec, d.cfg), opts); err != nil {
		return fmt.Errorf("kube: apply secret: %w", err)
	}
	if _, err := d.client.NetworkingV1().NetworkPolicies(ns).Apply(ctx, policyFor(spec, d.cfg), opts); err != nil {
		return fmt.Errorf("kube: apply network policy: %w", err)
	}
	if _, err := d.client.AppsV1().Deployments(ns).Apply(ctx, deploymentFor(spec, d.cfg, template, generation), opts); err != nil {
		return fmt.Errorf("kube: apply deployment: %w", err)
	}
	return nil
}

// Scale implements runtime.Driver.
func (d *Driver) Scale(agentID string, replicas int) error {
	st := d.state(agentID)
	if st == nil {
		return fmt.Errorf("kube: scale: agent %s not applied", agentID)
	}
	st.spec.Replicas = replicas
	return d.Apply(st.spec)
}

// Restart implements runtime.Driver: a new template generation rolls
// every pod, one at a time.
func (d *Driver) Restart(agentID string) error {
	st := d.state(agentID)
	if st == nil {
		return fmt.Errorf("kube: restart: agent %s not applied", agentID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.apply(ctx, st.spec, st.template, st.spec.Generation); err != nil {
		return err
	}
	d.mu.Lock()
	if cur := d.agents[agentID]; cur != nil {
		cur.generation = st.spec.Generation
	}
	d.mu.Unlock()
	return nil
}

// state returns a copy of what was applied for the agent, or nil.
func (d *Driver) state(agentID string) *agentState {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.agents[agentID]
	if st == nil {
		return nil
	}
	cp := *st
	return &cp
}

// deployment is the agent's Deployment as the informer last saw it, or nil.
func (d *Driver) deployment(agentID string) *appsv1.Deployment {
	obj, ok, err := d.deploys.GetStore().GetByKey(d.cfg.Namespace + "/" + objectName(agentID))
	if err != nil || !ok {
		return nil
	}
	dep, _ := obj.(*appsv1.Deployment)
	return dep
}

// Stop implements runtime.Driver: the Deployment, Secret and NetworkPolicy
// go, and it returns once no pod of the agent is left, force-deleting them
// when ctx ends first. Stopped agents keep no object in the cluster.
func (d *Driver) Stop(ctx context.Context, agentID string) error {
	d.mu.Lock()
	_, applied := d.agents[agentID]
	adopted := d.adopted[agentID]
	d.mu.Unlock()
	if !applied && !adopted && d.deployment(agentID) == nil && len(d.podsOf(agentID)) == 0 {
		return nil
	}
	ns, name := d.cfg.Namespace, objectName(agentID)
	background := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &background}
	errs := []error{
		ignoreNotFound(d.client.AppsV1().Deployments(ns).Delete(ctx, name, del)),
		ignoreNotFound(d.client.CoreV1().Secrets(ns).Delete(ctx, name, del)),
		ignoreNotFound(d.client.NetworkingV1().NetworkPolicies(ns).Delete(ctx, name, del)),
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kube: stop: %w", err)
	}
	d.mu.Lock()
	delete(d.agents, agentID)
	delete(d.adopted, agentID)
	d.mu.Unlock()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		left, err := d.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labelAgent + "=" + agentID})
		if err == nil && len(left.Items) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return d.forceDelete(agentID)
		case <-tick.C:
		}
	}
}

// forceDelete removes the agent's pods at once, when stopping them took too long.
func (d *Driver) forceDelete(agentID string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	zero := int64(0)
	err := d.client.CoreV1().Pods(d.cfg.Namespace).DeleteCollection(ctx,
		metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{LabelSelector: labelAgent + "=" + agentID})
	return errors.Join(errors.New("kube: stop: pods were force-deleted"), err)
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// State implements runtime.Driver.
func (d *Driver) State(agentID string) runtime.AgentState {
	st := d.state(agentID)
	var s runtime.AgentState
	if st != nil {
		s.Desired = st.spec.Replicas
	} else if dep := d.deployment(agentID); dep != nil && dep.Spec.Replicas != nil {
		s.Desired = int(*dep.Spec.Replicas)
	} else {
		return s
	}
	template := ""
	if st != nil {
		template = st.template
	}
	for _, p := range d.podsOf(agentID) {
		if p.ready {
			s.Up++
		}
		if p.template == template && p.failing != "" {
			s.CrashLoop, s.LastExit = true, fmt.Sprintf("replica %d: %s", p.index, p.failing)
		}
	}
	return s
}

// Replicas implements runtime.Driver: the agent's pods by index, those
// being deleted left out.
func (d *Driver) Replicas(agentID string) []runtime.Replica {
	var reps []runtime.Replica
	for _, p := range d.podsOf(agentID) {
		reps = append(reps, runtime.Replica{
			Index: p.index, Port: agentPort, Host: p.ip, Up: p.ready,
			Generation: p.generation, Instance: p.instance,
		})
	}
	slices.SortFunc(reps, func(x, y runtime.Replica) int { return x.Index - y.Index })
	return reps
}

// Agents implements runtime.Driver.
func (d *Driver) Agents() []string {
	d.mu.Lock()
	ids := map[string]bool{}
	maps.Copy(ids, d.adopted)
	for id := range d.agents {
		ids[id] = true
	}
	for _, p := range d.tracked {
		ids[p.agentID] = true
	}
	d.mu.Unlock()
	for _, obj := range d.deploys.GetStore().List() {
		if id := labels(obj)[labelAgent]; id != "" {
			ids[id] = true
		}
	}
	return slices.Collect(maps.Keys(ids))
}

// Usage implements runtime.Driver.
func (d *Driver) Usage(agentID string) runtime.Usage {
	pods := d.podsOf(agentID)
	names := make([]string, 0, len(pods))
	nodes := map[string]bool{}
	for _, p := range pods {
		names = append(names, p.name)
		nodes[p.node] = true
	}
	return d.stats.usage(names, slices.Collect(maps.Keys(nodes)))
}

// Shutdown implements runtime.Driver. Pods are left running: the next
// control plane adopts them, as a restart must not restart agents.
func (d *Driver) Shutdown(ctx context.Context) error {
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	d.factory.Shutdown()
	done := make(chan struct{})
	go func() { d.followers.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kube: shutdown: log followers: %w", ctx.Err())
	}
}
