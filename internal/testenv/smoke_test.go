package testenv_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var _ = Describe("API mode", func() {
	It("accepts a pod with a native sidecar and reads it back", func(ctx context.Context) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "native", Namespace: "default"},
			Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{
					Name: "istio-proxy", Image: "docker.io/istio/proxyv2:1.30.2",
					RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				}},
				Containers: []corev1.Container{{Name: "app", Image: "nginx"}},
			},
		}
		Expect(apiEnv.Client.Create(ctx, pod)).To(Succeed())

		var got corev1.Pod
		Expect(apiEnv.Client.Get(ctx, client.ObjectKeyFromObject(pod), &got)).To(Succeed())
		Expect(got.Spec.InitContainers).To(HaveLen(1))
		Expect(got.Spec.InitContainers[0].RestartPolicy).To(HaveValue(Equal(corev1.ContainerRestartPolicyAlways)))
	})
})

var _ = Describe("cluster mode", func() {
	It("runs a Deployment's pods on fake nodes and rolls them out on a template change", func(ctx context.Context) {
		c := clusterEnv.Client
		selector := map[string]string{"app": "smoke"}
		deploy := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "smoke", Namespace: "default"},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](2),
				Selector: &metav1.LabelSelector{MatchLabels: selector},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: selector},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
				},
			},
		}
		Expect(c.Create(ctx, deploy)).To(Succeed())

		runningPods := func(g Gomega) []corev1.Pod {
			var pods corev1.PodList
			g.Expect(c.List(ctx, &pods, client.InNamespace("default"),
				client.MatchingLabelsSelector{Selector: labels.SelectorFromSet(selector)})).To(Succeed())
			var running []corev1.Pod
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
					running = append(running, p)
				}
			}
			return running
		}
		var before []corev1.Pod
		Eventually(func(g Gomega) {
			before = runningPods(g)
			g.Expect(before).To(HaveLen(2))
			for _, p := range before {
				g.Expect(p.Spec.NodeName).To(HavePrefix("kwok-node-"))
			}
		}).WithTimeout(time.Minute).Should(Succeed())

		patch := client.RawPatch("application/merge-patch+json",
			[]byte(`{"spec":{"template":{"metadata":{"annotations":{"smoke/restartedAt":"now"}}}}}`))
		Expect(c.Patch(ctx, deploy, patch)).To(Succeed())

		Eventually(func(g Gomega) {
			after := runningPods(g)
			g.Expect(after).To(HaveLen(2))
			for _, p := range after {
				g.Expect(p.Annotations).To(HaveKeyWithValue("smoke/restartedAt", "now"))
				for _, old := range before {
					g.Expect(p.UID).NotTo(Equal(old.UID))
				}
			}
		}).WithTimeout(time.Minute).Should(Succeed())
	})
})
