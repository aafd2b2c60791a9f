package restarter

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// metricValue reads one sample from controller-runtime's registry; ok is
// false when the metric has no sample with these labels.
func metricValue(t *testing.T, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if matches(m, labels) {
				if f.GetType() == dto.MetricType_COUNTER {
					return m.GetCounter().GetValue(), true
				}
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

func matches(m *dto.Metric, labels map[string]string) bool {
	if len(m.GetLabel()) != len(labels) {
		return false
	}
	for _, l := range m.GetLabel() {
		if labels[l.GetName()] != l.GetValue() {
			return false
		}
	}
	return true
}

func TestMetricsAfterRun(t *testing.T) {
	g := NewWithT(t)
	d := decision(t, "1.30.0", false)
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"x": "y"}}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "m"}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "m", Name: "web", UID: "m/web", Generation: 1},
			Spec:   appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: sel},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}},
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "m", Name: "web-1", UID: "m/web-1", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "m/web", Controller: ptr.To(true),
		}}}, Spec: appsv1.ReplicaSetSpec{Selector: sel}},
		testPod("m", "web-1-a", "native", "1.27.3", ownedBy("apps/v1", "ReplicaSet", "web-1")),
		testPod("m", "web-1-b", "regular", "1.30.2", ownedBy("apps/v1", "ReplicaSet", "web-1")),
		testPod("m", "bare", "native", "1.30.2"),
	}
	scheme := runtime.NewScheme()
	g.Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()

	before, _ := metricValue(t, "istio_module_restarter_restarts_total", map[string]string{"kind": "Deployment", "result": "rollout"})
	s, err := New(c, nil, Options{}).Run(context.Background(), d)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.Restarted.Names).To(Equal([]string{"Deployment m/web"}))

	var deploy appsv1.Deployment
	g.Expect(c.Get(context.Background(), client.ObjectKey{Namespace: "m", Name: "web"}, &deploy)).To(Succeed())
	g.Expect(deploy.Spec.Template.Annotations).To(HaveKeyWithValue(RestartAnnotation, "1.30.2/native"))

	after, ok := metricValue(t, "istio_module_restarter_restarts_total", map[string]string{"kind": "Deployment", "result": "rollout"})
	g.Expect(ok).To(BeTrue())
	g.Expect(after - before).To(Equal(1.0))
	for reason, want := range map[string]float64{"WrongVersion": 1, "WrongType": 1} {
		v, ok := metricValue(t, "istio_module_restarter_stale_proxies", map[string]string{"reason": reason})
		g.Expect(ok).To(BeTrue(), reason)
		g.Expect(v).To(Equal(want), reason)
	}
	v, _ := metricValue(t, "istio_module_restarter_pods_scanned", map[string]string{})
	g.Expect(v).To(Equal(3.0))
	v, _ = metricValue(t, "istio_module_restarter_workloads", map[string]string{"action": "RolloutRestart"})
	g.Expect(v).To(Equal(1.0))
	v, ok = metricValue(t, "istio_module_restarter_workloads", map[string]string{"action": "Manual"})
	g.Expect(ok).To(BeTrue())
	g.Expect(v).To(Equal(0.0))
}
