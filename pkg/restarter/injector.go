package restarter

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/pkg/sidecarmode"
	"github.com/istio-module/operator/pkg/workload"
)

// The injector is the authority on what a new pod gets: the model in
// sidecarmode follows Istio's built-in templates, but a custom template, a
// changed injector configuration or a setting the operator did not make can
// make istiod inject something else. Before restarting a workload, the
// restarter therefore asks the API server for a server-side dry-run create
// of a pod from the workload's template. Istio's mutating webhook declares
// sideEffects None, so dry-run requests reach it and it injects that pod as
// it would a new pod now; the pod is never created. A restart whose new pods
// would get exactly the proxy the stale pods already have is not made.

// EventRestartSkipped (Normal): the injector gives new pods of the workload
// the proxy its stale pods already have, so the restarter did not restart it.
const EventRestartSkipped = "IstioProxyRestartSkipped"

// EventInjectorDryRunFailed (Warning): the dry run that asks the injector
// what a new pod would get failed; nothing was restarted.
const EventInjectorDryRunFailed = "IstioProxyInjectorDryRunFailed"

// injectorAnswer is what the injector gave a dry-run pod of a workload,
// remembered per workload and target so that a workload it vetoed does not
// hold a rollout slot in every run. It is valid while the workload's
// generation (its spec) stays the same.
type injectorAnswer struct {
	generation int64
	proxy      sidecarmode.Proxy
}

// AskInjector creates, as a server-side dry run, a pod from the workload's
// current pod template in its namespace, marked for target the way a
// restart would mark it, and returns the proxy the injector gave it. An
// error means the injector could not be asked (the workload cannot be read,
// the webhook is down, quota or another admission plugin refused the pod).
func (r *Restarter) AskInjector(ctx context.Context, ref WorkloadRef, target string) (sidecarmode.Proxy, error) {
	obj, err := workload.NewRestartable(ref)
	if err != nil {
		return sidecarmode.Proxy{}, err
	}
	if err := r.c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return sidecarmode.Proxy{}, fmt.Errorf("read %s for the injector's dry run: %w", ref, err)
	}
	meta, spec, ok := sidecarmode.PodTemplateOf(obj)
	if !ok {
		return sidecarmode.Proxy{}, fmt.Errorf("%s has no pod template to ask the injector about", ref)
	}
	annotations := maps.Clone(meta.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[RestartAnnotation] = target
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:    ref.Namespace,
			GenerateName: ref.Name + "-",
			Labels:       maps.Clone(meta.Labels),
			Annotations:  annotations,
		},
		Spec: *spec.DeepCopy(),
	}
	if err := r.c.Create(ctx, pod, client.DryRunAll); err != nil {
		return sidecarmode.Proxy{}, fmt.Errorf("dry-run create of a pod of %s: %w", ref, err)
	}
	return sidecarmode.Inspect(pod.ObjectMeta, pod.Spec), nil
}

// JudgeAnswer is what Run makes of the injector's answer for a workload it
// is about to restart: ActionSameProxy and the reason when every stale pod
// already has the answer's proxy (a restart would change nothing), else
// the plan's action and reason unchanged. Reports that ask the injector
// themselves (kubectl istio-proxies status) judge with it too.
func JudgeAnswer(wp WorkloadPlan, answer sidecarmode.Proxy) (Action, string) {
	if sameProxy(&wp, answer) {
		return ActionSameProxy, sameProxyWhy(staleSummaryOf(&wp), answer)
	}
	return wp.Action, wp.Why
}

// WillAsk reports whether Run asks the injector before acting on the
// workload: it is about to be restarted for target (a rollout, or its first
// eviction).
func WillAsk(wp WorkloadPlan, target string) bool {
	return wp.Action == ActionRolloutRestart || (wp.Action == ActionEvict && wp.RestartedFor != target)
}

// sameProxy reports whether every stale pod of the workload already runs
// the proxy the injector gives a new pod: same layout, same version. Pods
// stale for their proxy settings are not: a new pod is injected under the
// settings istiod has now, which the dry run's layout and version do not show.
func sameProxy(wp *WorkloadPlan, answer sidecarmode.Proxy) bool {
	return !wp.SettingsStale && len(wp.Layouts) == 1 && wp.Layouts[0] == answer.Layout &&
		len(wp.ProxyVersions) == 1 && wp.ProxyVersions[0] == answer.Version
}

// ProxyPhrase is a proxy as reports show it: "regular 1.30.2", "no istio-proxy".
func ProxyPhrase(p sidecarmode.Proxy) string {
	if p.Layout == sidecarmode.LayoutNone {
		return "no istio-proxy"
	}
	return fmt.Sprintf("%s %s", p.Layout, p.Version)
}

func sameProxyWhy(stale string, answer sidecarmode.Proxy) string {
	return fmt.Sprintf("%s, but the injector gives a new pod the same proxy (%s): a restart would change nothing; "+
		"not restarting it", stale, ProxyPhrase(answer))
}

// checkInjector is called right before a workload is restarted (its first
// rollout or eviction for the target). It asks the injector and vetoes the
// restart when the answer equals what the stale pods already have, or when
// the injector could not be asked. veto is false when the restart may go
// ahead.
func (r *Restarter) checkInjector(ctx context.Context, target string, wp *WorkloadPlan) (o outcome, veto bool) {
	if !WillAsk(*wp, target) {
		return outcome{}, false
	}
	log := ctrl.LoggerFrom(ctx).WithValues(wp.Workload.Kind, klog.KRef(wp.Workload.Namespace, wp.Workload.Name))
	answer, err := r.AskInjector(ctx, wp.Workload, target)
	if err != nil {
		why := fmt.Sprintf("%s; not restarted, because the injector could not be asked what a new pod would get: %v; "+
			"trying again on the next run", staleSummaryOf(wp), err)
		r.warnOnceWith(wp, EventInjectorDryRunFailed, "AskInjector", why)
		log.Info("Injector dry run failed, not restarting", "error", err.Error())
		return outcome{pending: why}, true
	}
	action, why := JudgeAnswer(*wp, answer)
	if action != ActionSameProxy {
		log.V(4).Info("Injector gives new pods another proxy, restarting", "answer", ProxyPhrase(answer))
		return outcome{}, false
	}
	r.answers[wp.Workload] = injectorAnswer{generation: wp.w.Generation, proxy: answer}
	log.Info("Injector gives new pods the proxy the stale pods have, not restarting", "answer", ProxyPhrase(answer))
	r.event(wp, corev1.EventTypeNormal, EventRestartSkipped, "AskInjector", "%s", why)
	return outcome{sameProxy: why}, true
}

// rememberedAnswer is the injector's answer for the workload that the
// Restarter remembers, when it still applies to the workload's spec.
func (r *Restarter) rememberedAnswer(w *workload.Facts) *sidecarmode.Proxy {
	a, ok := r.answers[w.Ref]
	if !ok || a.generation != w.Generation {
		return nil
	}
	return &a.proxy
}

// warnOnceWith is warnOnce with a note of its own.
func (r *Restarter) warnOnceWith(wp *WorkloadPlan, reason, action, note string) {
	key := reason + "/" + wp.Workload.String()
	if _, done := r.reported[key]; done {
		return
	}
	r.reported[key] = struct{}{}
	r.event(wp, corev1.EventTypeWarning, reason, action, "%s", note)
}
