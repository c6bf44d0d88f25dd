package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsac "k8s.io/client-go/applyconfigurations/apps/v1"
	coreac "k8s.io/client-go/applyconfigurations/core/v1"
	metaac "k8s.io/client-go/applyconfigurations/meta/v1"
	netac "k8s.io/client-go/applyconfigurations/networking/v1"

	"github.com/neuais/neuais/internal/runner"
	"github.com/neuais/neuais/internal/runtime"
)

// Runner settings in the pod: the binary is written to workDir (an
// emptyDir, the root file system being read-only), the replica index is
// read from the downward-API file of the pod's annotations.
const (
	runnerPath = "/neuais"
	workDir    = "/work"
	podinfoDir = "/etc/podinfo"
	runAsUser  = 65532
)

// objectName names an agent's objects: agent ids ("agt_0123abcd…") with
// the underscore a DNS label cannot hold.
func objectName(agentID string) string { return strings.ReplaceAll(agentID, "_", "-") }

func agentLabels(agentID string) map[string]string {
	return map[string]string{labelManaged: managedBy, labelAgent: agentID}
}

// binaryURL is where the agent's runner fetches its binary: the control
// plane for an uploaded one (with the agent's credential), else the URL
// the agent names.
func binaryURL(spec runtime.Spec, cfg Config) string {
	if spec.BinaryID != "" {
		return strings.TrimRight(cfg.ControlURL, "/") + "/runner/v1/binaries/" + spec.BinaryID
	}
	return spec.BinaryURL
}

// templateHash names what a pod runs: a different hash is a rollout.
func templateHash(spec runtime.Spec, cfg Config) string {
	h := sha256.New()
	env, _ := json.Marshal(spec.Environment) // map keys marshal sorted
	for _, part := range []string{binaryURL(spec, cfg), spec.BinarySHA256, spec.Name, spec.CPU, spec.Memory, string(env), cfg.RunnerImage} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func secretFor(spec runtime.Spec, cfg Config) *coreac.SecretApplyConfiguration {
	data := map[string][]byte{runner.EnvToken: []byte(cfg.Credential(spec.AgentID))}
	for k, v := range spec.Environment {
		data[k] = []byte(v)
	}
	return coreac.Secret(objectName(spec.AgentID), cfg.Namespace).
		WithLabels(agentLabels(spec.AgentID)).
		WithType(corev1.SecretTypeOpaque).
		WithData(data)
}

func policyFor(spec runtime.Spec, cfg Config) *netac.NetworkPolicyApplyConfiguration {
	v4, v6 := byFamily(cfg.EgressDeny)
	return netac.NetworkPolicy(objectName(spec.AgentID), cfg.Namespace).
		WithLabels(agentLabels(spec.AgentID)).
		WithSpec(netac.NetworkPolicySpec().
			WithPodSelector(metaac.LabelSelector().WithMatchLabels(agentLabels(spec.AgentID))).
			WithPolicyTypes(networkingv1.PolicyTypeEgress).
			WithEgress(netac.NetworkPolicyEgressRule().WithTo(
				netac.NetworkPolicyPeer().WithIPBlock(netac.IPBlock().WithCIDR("0.0.0.0/0").WithExcept(v4...)),
				netac.NetworkPolicyPeer().WithIPBlock(netac.IPBlock().WithCIDR("::/0").WithExcept(v6...)),
			)))
}

// byFamily splits CIDRs into IPv4 and IPv6 ones: an except must lie in
// its block.
func byFamily(cidrs []string) (v4, v6 []string) {
	for _, c := range cidrs {
		if strings.Contains(c, ":") {
			v6 = append(v6, c)
		} else {
			v4 = append(v4, c)
		}
	}
	return v4, v6
}

func deploymentFor(spec runtime.Spec, cfg Config, template string, generation int64) *appsac.DeploymentApplyConfiguration {
	name := objectName(spec.AgentID)
	podLabels := agentLabels(spec.AgentID)
	podLabels[labelTemplate] = template
	podLabels[labelOrg] = spec.OrgID
	env := []*coreac.EnvVarApplyConfiguration{
		coreac.EnvVar().WithName("PORT").WithValue(strconv.Itoa(agentPort)),
		// Reached on the pod's IP, unlike the local driver's loopback.
		coreac.EnvVar().WithName("HOST").WithValue("0.0.0.0"),
		coreac.EnvVar().WithName("NEUAIS_AGENT_ID").WithValue(spec.AgentID),
		coreac.EnvVar().WithName("NEUAIS_AGENT_NAME").WithValue(spec.Name),
		coreac.EnvVar().WithName("HOME").WithValue(workDir),
		coreac.EnvVar().WithName("TMPDIR").WithValue(workDir),
		coreac.EnvVar().WithName(runner.EnvURL).WithValue(binaryURL(spec, cfg)),
		coreac.EnvVar().WithName(runner.EnvSHA256).WithValue(spec.BinarySHA256),
		coreac.EnvVar().WithName(runner.EnvDir).WithValue(workDir),
		coreac.EnvVar().WithName(runner.EnvPodinfo).WithValue(podinfoDir + "/annotations"),
	}
	limits := corev1.ResourceList{}
	if q, err := resource.ParseQuantity(spec.CPU); err == nil && spec.CPU != "" {
		limits[corev1.ResourceCPU] = q
	}
	if q, err := resource.ParseQuantity(spec.Memory); err == nil && spec.Memory != "" {
		limits[corev1.ResourceMemory] = q
	}
	grace := int64(cfg.Runtime.StopGrace.Seconds())
	if grace < 1 {
		grace = 1
	}
	readyAfter := cfg.Runtime.ReadyAfter.String()
	container := coreac.Container().
		WithName(containerName).
		WithImage(cfg.RunnerImage).
		WithImagePullPolicy(cfg.PullPolicy).
		WithCommand(runnerPath, "runner").
		WithEnv(env...).
		// The agent's variables come from its Secret; the platform's above win.
		WithEnvFrom(coreac.EnvFromSource().WithSecretRef(coreac.SecretEnvSource().WithName(name))).
		WithPorts(coreac.ContainerPort().WithName("http").WithContainerPort(agentPort)).
		WithResources(coreac.ResourceRequirements().WithLimits(limits).WithRequests(limits)).
		WithReadinessProbe(coreac.Probe().
			WithExec(coreac.ExecAction().WithCommand(runnerPath, "runner", "ready", "--port", strconv.Itoa(agentPort), "--after", readyAfter, "--binary", workDir+"/agent")).
			WithPeriodSeconds(1).WithTimeoutSeconds(2).WithFailureThreshold(1)).
		WithTerminationMessagePolicy(corev1.TerminationMessageFallbackToLogsOnError).
		WithSecurityContext(coreac.SecurityContext().
			WithRunAsNonRoot(true).
			WithRunAsUser(runAsUser).WithRunAsGroup(runAsUser).
			WithReadOnlyRootFilesystem(true).
			WithAllowPrivilegeEscalation(false).
			WithPrivileged(false).
			WithCapabilities(coreac.Capabilities().WithDrop("ALL")).
			WithSeccompProfile(coreac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))).
		WithVolumeMounts(
			coreac.VolumeMount().WithName("work").WithMountPath(workDir),
			coreac.VolumeMount().WithName("podinfo").WithMountPath(podinfoDir).WithReadOnly(true))
	pod := coreac.PodTemplateSpec().
		WithLabels(podLabels).
		WithAnnotations(map[string]string{annotGeneration: strconv.FormatInt(generation, 10)}).
		WithSpec(coreac.PodSpec().
			WithAutomountServiceAccountToken(false).
			WithEnableServiceLinks(false).
			WithTerminationGracePeriodSeconds(grace).
			WithSecurityContext(coreac.PodSecurityContext().WithRunAsNonRoot(true).WithFSGroup(runAsUser)).
			WithContainers(container).
			WithVolumes(
				coreac.Volume().WithName("work").WithEmptyDir(coreac.EmptyDirVolumeSource()),
				coreac.Volume().WithName("podinfo").WithDownwardAPI(coreac.DownwardAPIVolumeSource().WithItems(
					coreac.DownwardAPIVolumeFile().WithPath("annotations").
						WithFieldRef(coreac.ObjectFieldSelector().WithFieldPath("metadata.annotations"))))))
	zero, one := intstr.FromInt32(0), intstr.FromInt32(1)
	return appsac.Deployment(name, cfg.Namespace).
		WithLabels(agentLabels(spec.AgentID)).
		WithSpec(appsac.DeploymentSpec().
			WithReplicas(int32(spec.Replicas)). //nolint:gosec // bounded by the agent rules
			WithRevisionHistoryLimit(2).
			WithSelector(metaac.LabelSelector().WithMatchLabels(agentLabels(spec.AgentID))).
			WithStrategy(appsac.DeploymentStrategy().
				WithType(appsv1.RollingUpdateDeploymentStrategyType).
				WithRollingUpdate(appsac.RollingUpdateDeployment().WithMaxUnavailable(zero).WithMaxSurge(one))).
			WithTemplate(pod))
}
