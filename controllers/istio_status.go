package controllers

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/pkg/restarter"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// proxyRestartStatus is the restarter's summary as the CR shows it. The last
// run time moves only when the summary changed, so a reconcile that finds
// nothing new leaves the status, and the API server, alone.
func proxyRestartStatus(s restarter.Summary, previous *v1alpha2.ProxyRestartStatus) *v1alpha2.ProxyRestartStatus {
	st := &v1alpha2.ProxyRestartStatus{
		PodsScanned:            int32(s.PodsScanned),
		StalePods:              int32(s.StalePods),
		Restarted:              int32(s.Restarted.Count),
		Pending:                int32(s.Pending.Count),
		ManualRestart:          int32(s.ManualRestart.Count),
		NotConverging:          int32(s.NotConverging.Count),
		SameProxy:              int32(s.SameProxy.Count),
		RestartedWorkloads:     s.Restarted.Names,
		PendingWorkloads:       s.Pending.Names,
		ManualRestartWorkloads: s.ManualRestart.Names,
		NotConvergingWorkloads: s.NotConverging.Names,
		SameProxyWorkloads:     s.SameProxy.Names,
	}
	if previous != nil {
		st.LastRunTime = previous.LastRunTime
		if equality.Semantic.DeepEqual(st, previous) {
			return st
		}
	}
	now := metav1.Now()
	st.LastRunTime = &now
	return st
}

// joinCategory lists a category's names for a message.
func joinCategory(c restarter.Category) string {
	return strings.Join(c.Names, ", ")
}

// capitalize makes an error message read as a status sentence.
func capitalize(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[size:]
}

func containerNoun(t sidecarmode.ContainerType) string {
	if t == sidecarmode.Native {
		return "native sidecar"
	}
	return "regular"
}
