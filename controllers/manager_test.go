package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/istio-module/operator/pkg/install"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// The shipped manager never mixes versions: a --module-version whose Istio
// is not the embedded charts' is refused; only Go-level seams reach others.
func TestReleaseAndCharts(t *testing.T) {
	previousCharts := install.ChartsFromDir("/nonexistent/istio-1.29.2/manifests", "1.29.2")
	ownRow := sidecarmode.Release{Module: "test", Istio: install.EmbeddedIstioVersion, Default: sidecarmode.Native, CompatibilityDefault: sidecarmode.Regular}
	tests := []struct {
		name      string
		opts      ManagerOptions
		wantIstio string
		wantErr   string
	}{
		{name: "this build", opts: ManagerOptions{ModuleVersion: sidecarmode.ModuleVersion}, wantIstio: "1.30.2"},
		{name: "an earlier release of the same Istio", opts: ManagerOptions{ModuleVersion: "1.28.0"}, wantIstio: "1.30.2"},
		{
			name: "a release of another Istio", opts: ManagerOptions{ModuleVersion: "1.27.3"},
			wantErr: "--module-version 1.27.3 installs Istio 1.29.2, but this binary holds the charts of Istio 1.30.2",
		},
		{name: "not in the table", opts: ManagerOptions{ModuleVersion: "1.31.0"}, wantErr: "--module-version: module version 1.31.0 is not in the release table"},
		{name: "not a version", opts: ManagerOptions{ModuleVersion: "1.30"}, wantErr: "not a release version"},
		{name: "seam: another release's charts", opts: ManagerOptions{ModuleVersion: "1.27.3", Charts: previousCharts}, wantIstio: "1.29.2"},
		{name: "seam: a row of the test's own", opts: ManagerOptions{Release: &ownRow}, wantIstio: "1.30.2"},
		{
			name: "seams that disagree", opts: ManagerOptions{Release: &ownRow, Charts: previousCharts},
			wantErr: "installs Istio 1.30.2, but this binary holds the charts of Istio 1.29.2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			rel, charts, err := tt.opts.releaseAndCharts()
			if tt.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(rel.Istio).To(Equal(tt.wantIstio))
			g.Expect(charts.Istio).To(Equal(tt.wantIstio))
		})
	}
}

// The cache keeps of a Node only what the reconciler reads: its name and
// kubelet version, not its images, conditions or labels.
func TestKeepKubeletVersion(t *testing.T) {
	g := NewWithT(t)
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "u1", ResourceVersion: "7", Labels: map[string]string{"zone": "a"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}},
		Status: corev1.NodeStatus{
			NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OSImage: "linux"},
			Images:     []corev1.ContainerImage{{Names: []string{"docker.io/istio/proxyv2:1.30.2"}, SizeBytes: 1 << 20}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
	out, err := keepKubeletVersion(node)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal(&corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "u1", ResourceVersion: "7"},
		Status:     corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.37.2"}},
	}))
	tombstone := "not a node"
	g.Expect(keepKubeletVersion(tombstone)).To(Equal(tombstone))
}
