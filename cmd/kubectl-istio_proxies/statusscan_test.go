package main

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/istio-module/operator/pkg/sidecarmode"
)

// pagedPods serves pods two to a page; the first request for the second
// page fails with an expired continue token when expireOnce is set.
type pagedPods struct {
	pods       []*corev1.Pod
	expireOnce bool
	requests   int
}

func (p *pagedPods) Page(_ context.Context, _ int64, cont string, fn func(*corev1.Pod)) (string, error) {
	p.requests++
	start := 0
	if cont != "" {
		if p.expireOnce {
			p.expireOnce = false
			return "", apierrors.NewResourceExpired("the continue token expired")
		}
		start = 2
	}
	end := min(start+2, len(p.pods))
	for _, pod := range p.pods[start:end] {
		fn(pod)
	}
	if end == len(p.pods) {
		return "", nil
	}
	return "next", nil
}

// TestStatusScanSeesThePlansPods: the pods the restarter lists are the
// ones the table counts, once each, even when the listing starts over.
func TestStatusScanSeesThePlansPods(t *testing.T) {
	g := NewWithT(t)
	d, err := sidecarmode.Decide(sidecarmode.ModuleVersion, false, sidecarmode.ClusterFacts{})
	g.Expect(err).NotTo(HaveOccurred())
	pod := func(namespace, name, image string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: "istio-proxy", Image: image}}},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning},
		}
	}
	pager := &pagedPods{expireOnce: true, pods: []*corev1.Pod{
		pod("shop", "a", "docker.io/istio/proxyv2:1.29.2"),
		pod("shop", "b", "docker.io/istio/proxyv2:1.29.2"),
		pod("istio-system", "c", "docker.io/istio/proxyv2:1.29.2"),
		pod("other", "d", "docker.io/istio/proxyv2:1.29.2"),
	}}
	scan := &statusScan{pods: pager, conn: connFlags{namespace: "shop"}, d: d,
		own: newOwners(fake.NewClientBuilder().Build())}

	seen := 0
	list := func() error {
		cont := ""
		for {
			next, err := scan.Page(context.Background(), 2, cont, func(*corev1.Pod) { seen++ })
			if err != nil || next == "" {
				return err
			}
			cont = next
		}
	}
	g.Expect(apierrors.IsResourceExpired(list())).To(BeTrue())
	g.Expect(scan.complete).To(BeFalse())
	seen = 0
	g.Expect(list()).To(Succeed())

	g.Expect(scan.complete).To(BeTrue())
	g.Expect(seen).To(Equal(4), "the restarter sees every pod of the cluster")
	g.Expect(pager.requests).To(Equal(4), "two pages, and two of the listing that expired")
	g.Expect(scan.aggs).To(HaveLen(2), "the table counts the namespace asked for only, each pod once")
	for _, name := range []string{"a", "b"} {
		a := scan.aggs[workloadKey{Kind: "Pod", Namespace: "shop", Name: name}]
		g.Expect(a).NotTo(BeNil())
		g.Expect(a.pods).To(Equal(1))
	}
}
