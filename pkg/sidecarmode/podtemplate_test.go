package sidecarmode

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestPodTemplateOf(t *testing.T) {
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationNativeSidecar: "false"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: "istio-proxy", Image: "istio/proxyv2:1.26.4"}}},
	}
	tests := []struct {
		name   string
		obj    runtime.Object
		wantOK bool
	}{
		{"Pod", &corev1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}, true},
		{"Deployment", &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: tmpl}}, true},
		{"StatefulSet", &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Template: tmpl}}, true},
		{"DaemonSet", &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: tmpl}}, true},
		{"ReplicaSet", &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: tmpl}}, true},
		{"ReplicationController", &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: &tmpl}}, true},
		{"Job", &batchv1.Job{Spec: batchv1.JobSpec{Template: tmpl}}, true},
		{"CronJob", &batchv1.CronJob{Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}}, true},
		{"PodTemplate", &corev1.PodTemplate{Template: tmpl}, true},
		{"ReplicationController without template", &corev1.ReplicationController{}, false},
		{"Service", &corev1.Service{}, false},
		{"ConfigMap", &corev1.ConfigMap{}, false},
		{"nil", nil, false},
		{"typed nil Deployment", (*appsv1.Deployment)(nil), false},
		{"typed nil Pod", (*corev1.Pod)(nil), false},
	}
	d := Decision{IstioVersion: "1.30.2", DefaultType: Native}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			meta, spec, ok := PodTemplateOf(tt.obj)
			g.Expect(ok).To(Equal(tt.wantOK))
			if !ok {
				g.Expect(spec.Containers).To(BeEmpty())
				return
			}
			g.Expect(meta.Annotations).To(Equal(tmpl.Annotations))
			g.Expect(Inspect(meta, spec).Layout).To(Equal(LayoutRegular))
			g.Expect(Stale(meta, spec, d)).To(Equal([]StaleReason{{Kind: ReasonWrongVersion, Message: "1.26.4, expected 1.30.2"}}))
		})
	}
}
