package main

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/istio-module/operator/pkg/sidecarmode"
)

// podsPerWorkload is how many pods each ReplicaSet (and so each Deployment)
// has: N pods are N/podsPerWorkload workloads.
const podsPerWorkload = 10

// staleVersion is the proxy version of the pods that are stale by version.
const staleVersion = "1.29.0"

// shape is what the pods of one workload look like. All pods of a workload
// share it, so a stale workload is a whole Deployment.
type shape int

const (
	// shapeNative: native sidecar of the target version; up to date.
	shapeNative shape = iota
	// shapeNativeCNI: native sidecar of the target version with the CNI's
	// istio-validation init container instead of istio-init; up to date.
	shapeNativeCNI
	// shapeRegularOptOut: regular container of the target version in a pod
	// annotated sidecar.istio.io/nativeSidecar: "false"; up to date.
	shapeRegularOptOut
	// shapeStaleVersion: native sidecar of staleVersion.
	shapeStaleVersion
	// shapeStaleLayout: regular container of the target version where
	// native is expected.
	shapeStaleLayout
	// shapeStaleBoth: regular container of staleVersion.
	shapeStaleBoth
)

// shapeOf is the shape of workload i: every third workload is stale (by
// version, by layout, or both, in turn); the others are native, native with
// CNI, or regular by annotation.
func shapeOf(i int) shape {
	switch i % 3 {
	case 0:
		return [...]shape{shapeStaleVersion, shapeStaleLayout, shapeStaleBoth}[(i/3)%3]
	case 1:
		return [...]shape{shapeNative, shapeNativeCNI}[(i/3)%2]
	}
	return [...]shape{shapeRegularOptOut, shapeNative}[(i/3)%2]
}

func (s shape) stale() bool {
	return s == shapeStaleVersion || s == shapeStaleLayout || s == shapeStaleBoth
}

func (s shape) native() bool {
	return s == shapeNative || s == shapeNativeCNI || s == shapeStaleVersion
}

func (s shape) version(target string) string {
	if s == shapeStaleVersion || s == shapeStaleBoth {
		return staleVersion
	}
	return target
}

// staleWorkloads counts the stale workloads among the first n.
func staleWorkloads(n int) int {
	stale := 0
	for i := range n {
		if shapeOf(i).stale() {
			stale++
		}
	}
	return stale
}

// workloadNames are the names of workload i's objects.
type workloadNames struct {
	namespace, deployment, replicaSet, hash string
}

func namesOf(i, namespaces int) workloadNames {
	d := fmt.Sprintf("app-%05d", i)
	h := fnv.New32a()
	_, _ = h.Write([]byte(d))
	hash := strconv.FormatUint(uint64(h.Sum32()), 36)
	return workloadNames{
		namespace:  namespaceName(i % namespaces),
		deployment: d,
		replicaSet: d + "-" + hash,
		hash:       hash,
	}
}

func namespaceName(i int) string { return fmt.Sprintf("bench-%02d", i) }

// podName is the j-th pod of a ReplicaSet, with a suffix like the
// ReplicaSet controller's.
func podName(rs string, j int) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	suffix := make([]byte, 5)
	v := j*7919 + 104729
	for k := range suffix {
		suffix[k] = alphabet[v%len(alphabet)]
		v /= len(alphabet)
	}
	return rs + "-" + string(suffix)
}

func labelsOf(n workloadNames) map[string]string {
	return map[string]string{
		"app":                                 n.deployment,
		"version":                             "v1",
		"security.istio.io/tlsMode":           "istio",
		"service.istio.io/canonical-name":     n.deployment,
		"service.istio.io/canonical-revision": "v1",
	}
}

func selectorOf(n workloadNames) map[string]string {
	return map[string]string{"app": n.deployment, "version": "v1"}
}

// appContainer is the application container, as in the workload's template.
func appContainer(n workloadNames) corev1.Container {
	return corev1.Container{
		Name:  "app",
		Image: fmt.Sprintf("registry.example.com/shop/%s:2.14.3", n.deployment),
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
		Env: []corev1.EnvVar{
			{Name: "LOG_LEVEL", Value: "info"},
		},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
		},
	}
}

func podTemplate(n workloadNames, s shape) corev1.PodTemplateSpec {
	t := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: selectorOf(n)},
		Spec: corev1.PodSpec{
			Containers:         []corev1.Container{appContainer(n)},
			ServiceAccountName: "default",
		},
	}
	for k, v := range labelsOf(n) {
		t.Labels[k] = v
	}
	if s == shapeRegularOptOut {
		t.Annotations = map[string]string{sidecarmode.AnnotationNativeSidecar: "false"}
	}
	return t
}

// newDeployment is workload i's Deployment; its status is set by
// settleDeployment once it exists.
func newDeployment(n workloadNames, s shape) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: n.namespace, Name: n.deployment, Labels: selectorOf(n)},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](podsPerWorkload),
			Selector: &metav1.LabelSelector{MatchLabels: selectorOf(n)},
			Template: podTemplate(n, s),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType},
		},
	}
}

// settleDeployment gives a Deployment the status of a finished rollout of
// its current generation.
func settleDeployment(d *appsv1.Deployment) {
	r := *d.Spec.Replicas
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		Replicas:           r,
		UpdatedReplicas:    r,
		ReadyReplicas:      r,
		AvailableReplicas:  r,
		Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable",
				LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()},
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable",
				LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()},
		},
	}
}

func newReplicaSet(n workloadNames, s shape, d *appsv1.Deployment) *appsv1.ReplicaSet {
	sel := selectorOf(n)
	sel["pod-template-hash"] = n.hash
	t := podTemplate(n, s)
	t.Labels["pod-template-hash"] = n.hash
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: n.namespace, Name: n.replicaSet, Labels: sel,
			Annotations: map[string]string{
				"deployment.kubernetes.io/desired-replicas": strconv.Itoa(podsPerWorkload),
				"deployment.kubernetes.io/max-replicas":     strconv.Itoa(podsPerWorkload + 3),
				"deployment.kubernetes.io/revision":         "1",
			},
			OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "Deployment", d.Name, d)},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](podsPerWorkload),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: t,
		},
	}
}

func settleReplicaSet(rs *appsv1.ReplicaSet) {
	r := *rs.Spec.Replicas
	rs.Status = appsv1.ReplicaSetStatus{Replicas: r, FullyLabeledReplicas: r, ReadyReplicas: r, AvailableReplicas: r,
		ObservedGeneration: rs.Generation}
}

func controllerRef(apiVersion, kind, name string, owner metav1.Object) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: owner.GetUID(),
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
}

// newPod is the j-th pod of a ReplicaSet as the injector leaves it: the
// template's app container plus istio-init (or istio-validation) and
// istio-proxy, the injector's annotations, volumes and environment.
func newPod(n workloadNames, s shape, rs *appsv1.ReplicaSet, j int, target string) *corev1.Pod {
	version := s.version(target)
	image := "docker.io/istio/proxyv2:" + version
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       n.namespace,
			Name:            podName(rs.Name, j),
			Labels:          map[string]string{},
			Annotations:     map[string]string{},
			OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "ReplicaSet", rs.Name, rs)},
		},
		Spec: *rs.Spec.Template.Spec.DeepCopy(),
	}
	for k, v := range rs.Spec.Template.Labels {
		pod.Labels[k] = v
	}
	for k, v := range rs.Spec.Template.Annotations {
		pod.Annotations[k] = v
	}

	initName := "istio-init"
	if s == shapeNativeCNI {
		initName = "istio-validation"
	}
	status := `{"initContainers":["` + initName + `"],"containers":["istio-proxy"],` +
		`"volumes":["workload-socket","workload-certs","istio-envoy","istio-data","istio-podinfo","istio-token","istiod-ca-cert"],` +
		`"imagePullSecrets":null,"revision":"default"}`
	if s.native() {
		status = `{"initContainers":["` + initName + `","istio-proxy"],"containers":null,` +
			`"volumes":["workload-socket","workload-certs","istio-envoy","istio-data","istio-podinfo","istio-token","istiod-ca-cert"],` +
			`"imagePullSecrets":null,"revision":"default"}`
	}
	pod.Annotations[sidecarmode.AnnotationSidecarStatus] = status
	pod.Annotations["istio.io/rev"] = "default"
	pod.Annotations["kubectl.kubernetes.io/default-container"] = "app"
	pod.Annotations["prometheus.io/path"] = "/stats/prometheus"
	pod.Annotations["prometheus.io/port"] = "15020"
	pod.Annotations["prometheus.io/scrape"] = "true"

	pod.Spec.NodeName = fmt.Sprintf("node-%03d", (len(rs.Name)*31+j)%200)
	pod.Spec.Tolerations = []corev1.Toleration{
		{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
		{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, injectedVolumes()...)
	pod.Spec.Volumes = append(pod.Spec.Volumes, apiAccessVolume(n.replicaSet))
	pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{
		Name: apiAccessVolumeName(n.replicaSet), MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true})

	init := initContainer(initName, image)
	proxy := proxyContainer(n, image, s.native())
	if s.native() {
		pod.Spec.InitContainers = append([]corev1.Container{init, proxy}, pod.Spec.InitContainers...)
	} else {
		pod.Spec.InitContainers = append([]corev1.Container{init}, pod.Spec.InitContainers...)
		pod.Spec.Containers = append(pod.Spec.Containers, proxy)
	}
	return pod
}

func injectedVolumes() []corev1.Volume {
	empty := func(name string) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	}
	return []corev1.Volume{
		empty("workload-socket"),
		empty("workload-certs"),
		{Name: "istio-envoy", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		empty("istio-data"),
		{Name: "istio-podinfo", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"}},
		}}}},
		{Name: "istio-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "istio-ca", ExpirationSeconds: ptr.To[int64](43200), Path: "istio-token"}},
		}}}},
		{Name: "istiod-ca-cert", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "istio-ca-root-cert"}}}},
	}
}

func apiAccessVolumeName(rs string) string { return "kube-api-access-" + rs[len(rs)-5:] }

func apiAccessVolume(rs string) corev1.Volume {
	return corev1.Volume{Name: apiAccessVolumeName(rs), VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr.To[int32](420),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To[int64](3607), Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		},
	}}}
}

func initContainer(name, image string) corev1.Container {
	args := []string{"istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "",
		"-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info"}
	sc := &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false), Privileged: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(false),
		RunAsGroup: ptr.To[int64](0), RunAsNonRoot: ptr.To(false), RunAsUser: ptr.To[int64](0),
		Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}, Drop: []corev1.Capability{"ALL"}},
	}
	if name == "istio-validation" {
		args = []string{"istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*",
			"-x", "", "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info", "--run-validation", "--skip-rule-apply"}
		sc.Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
		sc.RunAsGroup, sc.RunAsNonRoot, sc.RunAsUser = ptr.To[int64](1337), ptr.To(true), ptr.To[int64](1337)
	}
	return corev1.Container{
		Name:  name,
		Image: image,
		Args:  args,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("40Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")},
		},
		SecurityContext: sc,
	}
}

func proxyContainer(n workloadNames, image string, native bool) corev1.Container {
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	resourceEnv := func(name, res string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{
			ContainerName: "istio-proxy", Resource: res, Divisor: resource.MustParse("0")}}}
	}
	c := corev1.Container{
		Name:  "istio-proxy",
		Image: image,
		Args: []string{"proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local", "--proxyLogLevel=warning",
			"--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"},
		Ports: []corev1.ContainerPort{{Name: "http-envoy-prom", ContainerPort: 15090, Protocol: corev1.ProtocolTCP}},
		Env: []corev1.EnvVar{
			{Name: "PILOT_CERT_PROVIDER", Value: "istiod"},
			{Name: "CA_ADDR", Value: "istiod.istio-system.svc:15012"},
			field("POD_NAME", "metadata.name"),
			field("POD_NAMESPACE", "metadata.namespace"),
			field("INSTANCE_IP", "status.podIP"),
			field("SERVICE_ACCOUNT", "spec.serviceAccountName"),
			resourceEnv("ISTIO_CPU_LIMIT", "limits.cpu"),
			{Name: "ISTIO_META_APP_CONTAINERS", Value: "app"},
			resourceEnv("GOMEMLIMIT", "limits.memory"),
			{Name: "ISTIO_META_CLUSTER_ID", Value: "Kubernetes"},
			field("ISTIO_META_NODE_NAME", "spec.nodeName"),
			{Name: "ISTIO_META_INTERCEPTION_MODE", Value: "REDIRECT"},
			{Name: "ISTIO_META_WORKLOAD_NAME", Value: n.deployment},
			{Name: "ISTIO_META_OWNER", Value: "kubernetes://apis/apps/v1/namespaces/" + n.namespace + "/deployments/" + n.deployment},
			{Name: "TRUST_DOMAIN", Value: "cluster.local"},
		},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("40Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")},
		},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: "/healthz/ready", Port: intstr.FromInt32(15021)}}, PeriodSeconds: 15, TimeoutSeconds: 3, FailureThreshold: 4},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false), Privileged: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
			RunAsGroup: ptr.To[int64](1337), RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1337),
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "workload-socket", MountPath: "/var/run/secrets/workload-spiffe-uds"},
			{Name: "workload-certs", MountPath: "/var/run/secrets/workload-spiffe-credentials"},
			{Name: "istiod-ca-cert", MountPath: "/var/run/secrets/istio"},
			{Name: "istio-data", MountPath: "/var/lib/istio/data"},
			{Name: "istio-envoy", MountPath: "/etc/istio/proxy"},
			{Name: "istio-token", MountPath: "/var/run/secrets/tokens"},
			{Name: "istio-podinfo", MountPath: "/etc/istio/pod"},
			{Name: apiAccessVolumeName(n.replicaSet), MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true},
		},
	}
	if native {
		c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		c.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: "/healthz/ready", Port: intstr.FromInt32(15021)}}, PeriodSeconds: 1, TimeoutSeconds: 3, FailureThreshold: 600}
	}
	return c
}

// runningStatus is the status of a pod whose containers all run and are
// ready, as a kubelet reports it.
func runningStatus(pod *corev1.Pod, i int) corev1.PodStatus {
	start := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	ready := func(t corev1.PodConditionType) corev1.PodCondition {
		return corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: start}
	}
	podIP := fmt.Sprintf("10.%d.%d.%d", 64+(i>>16)&63, (i>>8)&255, i&255)
	hostIP := fmt.Sprintf("172.20.%d.%d", (i>>8)&15, (i*7)&255)
	st := corev1.PodStatus{
		Phase: corev1.PodRunning,
		Conditions: []corev1.PodCondition{
			ready(corev1.PodReadyToStartContainers), ready(corev1.PodInitialized), ready(corev1.PodReady),
			ready(corev1.ContainersReady), ready(corev1.PodScheduled),
		},
		HostIP: hostIP, HostIPs: []corev1.HostIP{{IP: hostIP}},
		PodIP: podIP, PodIPs: []corev1.PodIP{{IP: podIP}},
		StartTime: &start,
		QOSClass:  corev1.PodQOSBurstable,
	}
	containerID := func(name string) string {
		h := fnv.New64a()
		_, _ = h.Write([]byte(pod.Name + "/" + name))
		return fmt.Sprintf("containerd://%016x%016x%016x%016x", h.Sum64(), h.Sum64()^0x9e3779b97f4a7c15, h.Sum64()>>1, h.Sum64()<<1)
	}
	imageID := func(image string) string {
		h := fnv.New64a()
		_, _ = h.Write([]byte(image))
		return fmt.Sprintf("%s@sha256:%016x%016x%016x%016x", image, h.Sum64(), h.Sum64()>>3, h.Sum64()<<3, h.Sum64()^1)
	}
	for _, c := range pod.Spec.InitContainers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: imageID(c.Image), ContainerID: containerID(c.Name)}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			cs.Ready, cs.Started = true, ptr.To(true)
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: start}
		} else {
			cs.Started = ptr.To(false)
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed",
				StartedAt: start, FinishedAt: start, ContainerID: cs.ContainerID}
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: imageID(c.Image), ContainerID: containerID(c.Name),
			Ready: true, Started: ptr.To(true), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: start}},
		})
	}
	return st
}
