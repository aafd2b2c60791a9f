package install

import (
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/utils/ptr"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// Pruning and uninstall only find kinds they list: every kind the charts can
// render (every optional part on) must be among them.
func TestEveryRenderedKindIsPrunable(t *testing.T) {
	g := NewWithT(t)
	d, err := sidecarmode.Decide(sidecarmode.ModuleVersion, true, sidecarmode.ClusterFacts{})
	g.Expect(err).NotTo(HaveOccurred())
	spec := v1alpha2.IstioSpec{Components: &v1alpha2.Components{EgressGateway: &v1alpha2.EgressGateway{Enabled: ptr.To(true)}}}
	objs, err := renderAll(spec, d, Options{KubeVersion: "v1.37.2", IstiodRemoteURL: "https://127.0.0.1:15017"})
	g.Expect(err).NotTo(HaveOccurred())

	prunable := map[string]bool{}
	for _, gvk := range prunableKinds {
		prunable[gvk.Group+"/"+gvk.Kind] = true
	}
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		g.Expect(prunable).To(HaveKey(gvk.Group+"/"+gvk.Kind), "%s %s is rendered but never pruned", gvk, obj.GetName())
		// Pruning lists namespaced kinds in the control-plane namespace only,
		// and the operator's Role covers that namespace only.
		if clusterScopedKinds[gvk.Kind] {
			g.Expect(obj.GetNamespace()).To(BeEmpty(), "%s %s", gvk.Kind, obj.GetName())
		} else {
			g.Expect(obj.GetNamespace()).To(Equal(DefaultNamespace), "%s %s is rendered outside the control-plane namespace", gvk.Kind, obj.GetName())
		}
	}
}
