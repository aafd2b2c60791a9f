/*
Copyright 2026 The istio-module Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1alpha2

import (
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// declaredReasons returns the names and values of every ConditionReason
// constant declared in conditions.go, so a reason added without a table
// entry is caught.
func declaredReasons(t *testing.T) map[string]ConditionReason {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "conditions.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]ConditionReason{}
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "ConditionReason" {
				continue
			}
			for i, name := range vs.Names {
				lit := vs.Values[i].(*ast.BasicLit)
				out[name.Name] = ConditionReason(strings.Trim(lit.Value, `"`))
			}
		}
	}
	return out
}

func TestEveryDeclaredReasonIsInTheTable(t *testing.T) {
	g := NewWithT(t)
	declared := declaredReasons(t)
	g.Expect(declared).To(HaveLen(24), "the number of reasons changed: update this test after adding the reason to the table")
	all := Reasons()
	for name, reason := range declared {
		g.Expect(all).To(ContainElement(reason), "%s is not in the reason table", name)
	}
	g.Expect(all).To(HaveLen(len(declared)), "the table holds a reason that is not a declared constant")
}

func TestReasonTable(t *testing.T) {
	conditionTypes := []string{ConditionTypeReady, ConditionTypeInstalled, ConditionTypeProxySidecarRestartSucceeded, ConditionTypeNativeSidecarsSupported, ConditionTypeIngressTargetingUserResourceFound}
	statuses := []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown}
	// The pattern the API server enforces on metav1.Condition.Reason.
	reasonPattern := regexp.MustCompile(`^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`)

	for _, reason := range Reasons() {
		t.Run(string(reason), func(t *testing.T) {
			g := NewWithT(t)
			info, ok := ReasonInfoFor(reason)
			g.Expect(ok).To(BeTrue())
			g.Expect(conditionTypes).To(ContainElement(info.Type))
			g.Expect(statuses).To(ContainElement(info.Status))
			g.Expect(info.Message).NotTo(BeEmpty())
			g.Expect(info.Message).NotTo(HaveSuffix("."), "condition messages carry no trailing period")
			g.Expect(string(reason)).To(MatchRegexp(reasonPattern.String()))
			g.Expect(len(reason)).To(BeNumerically("<=", 1024))
		})
	}
}

func TestEveryConditionTypeHasATrueAndANonTrueReason(t *testing.T) {
	g := NewWithT(t)
	statuses := map[string][]metav1.ConditionStatus{}
	for _, reason := range Reasons() {
		info, _ := ReasonInfoFor(reason)
		statuses[info.Type] = append(statuses[info.Type], info.Status)
	}
	for _, ct := range []string{ConditionTypeReady, ConditionTypeInstalled, ConditionTypeProxySidecarRestartSucceeded, ConditionTypeNativeSidecarsSupported, ConditionTypeIngressTargetingUserResourceFound} {
		g.Expect(statuses[ct]).To(ContainElement(metav1.ConditionTrue), "%s can never become True", ct)
		g.Expect(slices.ContainsFunc(statuses[ct], func(s metav1.ConditionStatus) bool { return s != metav1.ConditionTrue })).
			To(BeTrue(), "%s can never leave True", ct)
	}
}

// TestKymaReasonNames pins the reasons that carry the Kyma Istio module's
// names (KYMA-PARITY.md section 3): dashboards and alerts match on them.
func TestKymaReasonNames(t *testing.T) {
	for _, tc := range []struct {
		reason   ConditionReason
		kyma     string
		condType string
		status   metav1.ConditionStatus
	}{
		{ReasonReconcileSucceeded, "ReconcileSucceeded", ConditionTypeReady, metav1.ConditionTrue},
		{ReasonReconcileFailed, "ReconcileFailed", ConditionTypeReady, metav1.ConditionFalse},
		{ReasonValidationFailed, "ValidationFailed", ConditionTypeReady, metav1.ConditionFalse},
		{ReasonOlderCRExists, "OlderCRExists", ConditionTypeReady, metav1.ConditionFalse},
		{ReasonInstallUninstallFailed, "IstioInstallUninstallFailed", ConditionTypeReady, metav1.ConditionFalse},
		{ReasonDanglingUserResources, "IstioCustomResourcesDangling", ConditionTypeReady, metav1.ConditionFalse},
		{ReasonVersionUpdateNotAllowed, "IstioVersionUpdateNotAllowed", ConditionTypeReady, metav1.ConditionFalse},
		{ReasonRestartSucceeded, "ProxySidecarRestartSucceeded", ConditionTypeProxySidecarRestartSucceeded, metav1.ConditionTrue},
		{ReasonRestartFailed, "ProxySidecarRestartFailed", ConditionTypeProxySidecarRestartSucceeded, metav1.ConditionFalse},
		{ReasonManualRestartRequired, "ProxySidecarManualRestartRequired", ConditionTypeProxySidecarRestartSucceeded, metav1.ConditionFalse},
		{ReasonIngressTargetingUserResourceFound, "IngressTargetingUserResourceFound", ConditionTypeIngressTargetingUserResourceFound, metav1.ConditionTrue},
		{ReasonIngressTargetingUserResourceNotFound, "IngressTargetingUserResourceNotFound", ConditionTypeIngressTargetingUserResourceFound, metav1.ConditionFalse},
		{ReasonIngressTargetingUserResourceDetectionFailed, "IngressTargetingUserResourceDetectionFailed", ConditionTypeIngressTargetingUserResourceFound, metav1.ConditionUnknown},
	} {
		t.Run(tc.kyma, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(string(tc.reason)).To(Equal(tc.kyma))
			info, ok := ReasonInfoFor(tc.reason)
			g.Expect(ok).To(BeTrue())
			g.Expect(info.Type).To(Equal(tc.condType))
			g.Expect(info.Status).To(Equal(tc.status))
		})
	}
}

func TestReasonsAreSortedCopies(t *testing.T) {
	g := NewWithT(t)
	all := Reasons()
	g.Expect(slices.IsSorted(all)).To(BeTrue())
	all[0] = "Changed"
	g.Expect(Reasons()[0]).NotTo(Equal(ConditionReason("Changed")))
}

func TestConditionFor(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reason  ConditionReason
		message string
		want    metav1.Condition
	}{
		{
			name:   "default message",
			reason: ReasonReconcileSucceeded,
			want: metav1.Condition{Type: ConditionTypeReady, Status: metav1.ConditionTrue, Reason: "ReconcileSucceeded",
				Message: "Istio is installed and every workload runs the expected istio-proxy", ObservedGeneration: 3},
		},
		{
			name:    "given message",
			reason:  ReasonRestartFailed,
			message: "Patch apps/v1 Deployment ns/app: forbidden",
			want: metav1.Condition{Type: ConditionTypeProxySidecarRestartSucceeded, Status: metav1.ConditionFalse, Reason: "ProxySidecarRestartFailed",
				Message: "Patch apps/v1 Deployment ns/app: forbidden", ObservedGeneration: 3},
		},
		{
			name:   "informational native sidecar fallback",
			reason: ReasonNativeSidecarsUnsupported,
			want: metav1.Condition{Type: ConditionTypeNativeSidecarsSupported, Status: metav1.ConditionFalse, Reason: "NativeSidecarsUnsupported",
				Message: "Some node's kubelet is older than 1.29 and does not support native sidecars; istio-proxy is injected as a regular container", ObservedGeneration: 3},
		},
		{
			name:   "unknown reason",
			reason: "Bogus",
			want: metav1.Condition{Type: ConditionTypeReady, Status: metav1.ConditionUnknown, Reason: "Bogus",
				Message: "Unknown condition reason Bogus", ObservedGeneration: 3},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(ConditionFor(tc.reason, 3, tc.message)).To(Equal(tc.want))
		})
	}
}

func TestConditionForCutsLongMessagesOnARuneBoundary(t *testing.T) {
	g := NewWithT(t)
	long := "x" + strings.Repeat("ä", maxConditionMessage)
	c := ConditionFor(ReasonReconcileFailed, 1, long)
	g.Expect(len(c.Message)).To(BeNumerically("<=", maxConditionMessage))
	g.Expect(len(c.Message)).To(BeNumerically(">", maxConditionMessage-4))
	g.Expect(utf8.ValidString(c.Message)).To(BeTrue())
}

func TestSetCondition(t *testing.T) {
	g := NewWithT(t)
	istio := &Istio{ObjectMeta: metav1.ObjectMeta{Generation: 7}}

	g.Expect(istio.SetCondition(ReasonInstallSucceeded, "")).To(BeTrue())
	g.Expect(istio.SetCondition(ReasonRestartInProgress, "2 workloads pending")).To(BeTrue())
	g.Expect(istio.SetCondition(ReasonControlPlaneNotReady, "")).To(BeTrue())
	g.Expect(istio.Status.Conditions).To(HaveLen(3))

	ready := istio.Condition(ConditionTypeReady)
	g.Expect(ready).NotTo(BeNil())
	g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(ready.Reason).To(Equal(string(ReasonControlPlaneNotReady)))
	g.Expect(ready.ObservedGeneration).To(Equal(int64(7)))
	g.Expect(ready.LastTransitionTime.IsZero()).To(BeFalse())

	restart := istio.Condition(ConditionTypeProxySidecarRestartSucceeded)
	g.Expect(restart.Message).To(Equal("2 workloads pending"))

	// The same reason again changes nothing.
	g.Expect(istio.SetCondition(ReasonControlPlaneNotReady, "")).To(BeFalse())

	// A reason of the same type replaces the condition, it does not add one.
	istio.Generation = 8
	g.Expect(istio.SetCondition(ReasonReconcileSucceeded, "")).To(BeTrue())
	g.Expect(istio.Status.Conditions).To(HaveLen(3))
	ready = istio.Condition(ConditionTypeReady)
	g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
	g.Expect(ready.ObservedGeneration).To(Equal(int64(8)))

	g.Expect(istio.RemoveCondition(ConditionTypeInstalled)).To(BeTrue())
	g.Expect(istio.RemoveCondition(ConditionTypeInstalled)).To(BeFalse())
	g.Expect(istio.Condition(ConditionTypeInstalled)).To(BeNil())
}
