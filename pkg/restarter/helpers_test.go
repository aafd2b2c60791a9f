package restarter

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/istio-module/operator/pkg/sidecarmode"
)

// decision returns the Decision of a module version, failing the test on error.
func decision(t testing.TB, module string, compat bool) sidecarmode.Decision {
	t.Helper()
	d, err := sidecarmode.Decide(module, compat, sidecarmode.ClusterFacts{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// podOpt changes a test pod.
type podOpt func(*corev1.Pod)

// testPod is a Running, Ready pod in namespace ns with an istio-proxy of the
// given layout ("native", "regular", "gateway", "init", "" for none) and
// image tag, injected the way istiod does.
func testPod(ns, name, layout, tag string, opts ...podOpt) *corev1.Pod {
	image := "docker.io/istio/proxyv2:" + tag
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "/" + name), Annotations: map[string]string{}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}},
	}
	proxy := corev1.Container{Name: sidecarmode.ProxyContainerName, Image: image}
	switch layout {
	case "native":
		proxy.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		p.Spec.InitContainers = append(p.Spec.InitContainers, proxy)
		p.Annotations[sidecarmode.AnnotationSidecarStatus] = `{"initContainers":["istio-init","istio-proxy"]}`
	case "init":
		p.Spec.InitContainers = append(p.Spec.InitContainers, proxy)
		p.Annotations[sidecarmode.AnnotationSidecarStatus] = `{"initContainers":["istio-init","istio-proxy"]}`
	case "regular":
		p.Spec.Containers = append(p.Spec.Containers, proxy)
		p.Annotations[sidecarmode.AnnotationSidecarStatus] = `{"containers":["istio-proxy"]}`
	case "gateway":
		proxy.Args = []string{"proxy", "router"}
		p.Spec.Containers = []corev1.Container{proxy}
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func ownedBy(apiVersion, kind, name string) podOpt {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(p.Namespace + "/" + name),
			Controller: ptr.To(true),
		}}
	}
}

func annotated(key, value string) podOpt {
	return func(p *corev1.Pod) { p.Annotations[key] = value }
}

func phase(ph corev1.PodPhase) podOpt {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}

func notReady() podOpt {
	return func(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }
}

func terminating() podOpt {
	return func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.Now()) }
}
