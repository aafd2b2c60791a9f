package v1alpha2

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestInCharge(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Second))
	cr := func(ns, name string, created metav1.Time) Istio {
		return Istio{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: created}}
	}
	cases := []struct {
		name  string
		items []Istio
		want  string // namespace/name, "" for none
	}{
		{"none", nil, ""},
		{"one", []Istio{cr("kyma-system", "default", t0)}, "kyma-system/default"},
		{"oldest wins", []Istio{cr("a", "newer", t1), cr("z", "older", t0)}, "z/older"},
		{"tie: namespace", []Istio{cr("b", "x", t0), cr("a", "y", t0)}, "a/y"},
		{"tie: name", []Istio{cr("a", "y", t0), cr("a", "x", t0)}, "a/x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got := InCharge(tc.items)
			if tc.want == "" {
				g.Expect(got).To(BeNil())
				return
			}
			g.Expect(got).NotTo(BeNil())
			g.Expect(got.Namespace + "/" + got.Name).To(Equal(tc.want))
		})
	}
}
