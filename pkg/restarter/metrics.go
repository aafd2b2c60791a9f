package restarter

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/istio-module/operator/pkg/sidecarmode"
)

// Metrics on controller-runtime's registry, served by the manager's metrics
// endpoint. No label names a workload: label values are bounded sets.
var (
	restartsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "istio_module_restarter_restarts_total",
		Help: "Restart actions on workloads with stale istio-proxy, by workload kind and result " +
			"(rollout: pod template marked; evicted: one pod evicted; conflict: workload changed, retried; " +
			"blocked: eviction refused by a PodDisruptionBudget; error).",
	}, []string{"kind", "result"})

	staleProxies = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "istio_module_restarter_stale_proxies",
		Help: "Running pods whose istio-proxy does not match the target, by reason (WrongType, WrongVersion, WrongSettings), at the last scan.",
	}, []string{"reason"})

	podsScanned = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "istio_module_restarter_pods_scanned",
		Help: "Running pods with an istio-proxy checked by the last scan.",
	})

	workloadsByAction = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "istio_module_restarter_workloads",
		Help: "Workloads with stale istio-proxy or a restart in progress, by planned action, at the last scan.",
	}, []string{"action"})

	listRestartsTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "istio_module_restarter_list_restarts_total",
		Help: "Listings of pods, or of owners the plan lists, started over because the API server expired the continue token (HTTP 410).",
	})
)

func init() {
	metrics.Registry.MustRegister(restartsTotal, staleProxies, podsScanned, workloadsByAction, listRestartsTotal)
}

// allActions are the values of the action label, so each is reset to 0
// when absent from a plan.
var allActions = []Action{ActionRolloutRestart, ActionEvict, ActionPending, ActionManual, ActionNotConverging, ActionOptedOut, ActionSameProxy}

// observeScan sets the gauges from a fresh plan.
func observeScan(plan *Plan) {
	podsScanned.Set(float64(plan.PodsScanned))
	for _, reason := range []sidecarmode.ReasonKind{sidecarmode.ReasonWrongType, sidecarmode.ReasonWrongVersion, sidecarmode.ReasonWrongSettings} {
		staleProxies.WithLabelValues(string(reason)).Set(float64(plan.StaleByReason[reason]))
	}
	counts := map[Action]int{}
	for _, wp := range plan.Workloads {
		counts[wp.Action]++
	}
	for _, a := range allActions {
		workloadsByAction.WithLabelValues(string(a)).Set(float64(counts[a]))
	}
}
