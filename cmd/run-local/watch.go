package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/install"
	"github.com/istio-module/operator/pkg/restarter"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// watcher looks at the cluster every second while the operator works and
// prints what changed: the CR's state, Istio installed, the restarter's
// Events (each restart and why, manual restarts), rollout progress.
type watcher struct {
	c         client.Client
	installer *install.Installer // only its read-only readiness check is used
	istiod    *testenv.Istiod    // the local istiod, to say which release injects
	cr        client.ObjectKey
	module    string
	before    map[string]string // workload ref -> its proxies before the operator
	p         *printer
	started   time.Time // when the operator started

	lastState    string
	lastIstiod   string // Istio version of the istiod process seen running
	installed    string // Decision.Target() reported as installed
	lastProgress string
	lastErr      string
	seenEvents   map[types.UID]bool
	rolledOut    map[string]bool
}

// snapshot is what the watcher saw at one moment.
type snapshot struct {
	istio *v1alpha2.Istio // nil when the CR does not exist
	// decision is what the operator decides for the CR as it is now.
	decision          sidecarmode.Decision
	controlPlaneReady bool
	pods              map[string][]podProxy // by workload ref
	events            []eventsv1.Event      // the restarter's, oldest first
}

// run watches until the demo converged (with once) or ctx ends. mgrExited
// closes if the operator stops on its own.
func (w *watcher) run(ctx context.Context, once bool, deadline time.Time, mgrExited <-chan struct{}) error {
	w.seenEvents = map[types.UID]bool{}
	w.rolledOut = map[string]bool{}
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	converged, warnedLate := false, false
	var missing []string
	for {
		s, err := w.observe(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if msg := err.Error(); msg != w.lastErr {
				w.p.Printf("Cannot read the cluster (retrying): %s", msg)
				w.lastErr = msg
			}
		case err == nil:
			w.lastErr = ""
			w.report(s)
			missing = pending(s)
			if !converged && len(missing) == 0 {
				converged = true
				w.summary(s)
				if once {
					return nil
				}
				w.p.Printf("The operator keeps running: change the CR or add workloads and watch it react; Ctrl-C stops everything")
			}
		}
		if !converged && !warnedLate && time.Now().After(deadline) {
			err := fmt.Errorf("the demo did not converge within --timeout: %s", strings.Join(missing, "; "))
			if once {
				return err
			}
			w.p.Printf("Warning: %v", err)
			warnedLate = true
		}
		select {
		case <-ctx.Done():
			w.finalState()
			return ctx.Err()
		case <-mgrExited:
			return errors.New("the operator stopped unexpectedly (see its log)")
		case <-ticker.C:
		}
	}
}

// observe reads the CR, the control plane, the demo pods and the
// restarter's Events.
func (w *watcher) observe(ctx context.Context) (*snapshot, error) {
	s := &snapshot{pods: map[string][]podProxy{}}
	var istio v1alpha2.Istio
	switch err := w.c.Get(ctx, w.cr, &istio); {
	case err == nil:
		s.istio = &istio
	case !apierrors.IsNotFound(err):
		return nil, err
	}
	var spec v1alpha2.IstioSpec
	if s.istio != nil {
		spec = s.istio.Spec
	}
	var nodes corev1.NodeList
	if err := w.c.List(ctx, &nodes); err != nil {
		return nil, err
	}
	versions := make([]string, 0, len(nodes.Items))
	for _, n := range nodes.Items {
		versions = append(versions, n.Status.NodeInfo.KubeletVersion)
	}
	d, err := sidecarmode.Decide(w.module, spec.CompatibilityMode,
		sidecarmode.ClusterFacts{MinKubeletVersion: sidecarmode.LowestKubeletVersion(versions)})
	if err != nil {
		return nil, err
	}
	s.decision = d
	if s.controlPlaneReady, _, err = w.installer.ControlPlaneReady(ctx, spec, d); err != nil {
		return nil, err
	}
	for _, wl := range demoWorkloads {
		pods, err := listPods(ctx, w.c, wl, d)
		if err != nil {
			return nil, err
		}
		s.pods[wl.ref()] = pods
	}
	var events eventsv1.EventList
	if err := w.c.List(ctx, &events); err != nil {
		return nil, err
	}
	for _, ev := range events.Items {
		if strings.HasPrefix(ev.Reason, "IstioProxy") {
			s.events = append(s.events, ev)
		}
	}
	sort.SliceStable(s.events, func(a, b int) bool {
		return s.events[a].CreationTimestamp.Before(&s.events[b].CreationTimestamp)
	})
	return s, nil
}

// report prints what changed since the last snapshot.
func (w *watcher) report(s *snapshot) {
	d := s.decision
	if w.istiod != nil {
		if v := runningIstiod(w.istiod); v != "" && v != w.lastIstiod {
			if w.lastIstiod != "" {
				w.p.Printf("istiod %s stopped; istiod %s (pilot-discovery built from the Istio %s tag) now serves injection", w.lastIstiod, v, v)
			}
			w.lastIstiod = v
		}
	}
	if s.controlPlaneReady && s.istio != nil && s.istio.Status.IstioVersion == d.IstioVersion && w.installed != d.Target() {
		w.installed = d.Target()
		w.p.Printf("Istio %s installed by the operator: istiod is up and injects %s sidecars by default (ENABLE_NATIVE_SIDECARS=%s)",
			d.IstioVersion, d.DefaultType, d.EnableNativeSidecars)
	}
	for _, ev := range s.events {
		if w.seenEvents[ev.UID] {
			continue
		}
		w.seenEvents[ev.UID] = true
		w.p.Printf("%s", eventLine(ev))
	}
	if s.istio != nil && s.istio.Status.State != "" {
		line := fmt.Sprintf("Istio CR %s: %s: %s", w.cr, s.istio.Status.State, s.istio.Status.Description)
		if line != w.lastState {
			w.p.Printf("%s", line)
			w.lastState = line
		}
	}
	if !s.controlPlaneReady {
		return // the restarter waits for the control plane
	}
	done, total, stalePods := 0, 0, 0
	for _, wl := range demoWorkloads {
		if !wl.restartable() {
			continue
		}
		pods := s.pods[wl.ref()]
		total++
		for _, pp := range pods {
			if !pp.matches(d) {
				stalePods++
			}
		}
		ok, _ := settled(wl, pods, d)
		switch {
		case ok && !w.rolledOut[wl.ref()]:
			w.rolledOut[wl.ref()] = true
			w.p.Printf("%s rolled out: %s (before: %s)", wl.ref(), describeProxies(pods), w.before[wl.ref()])
		case !ok:
			w.rolledOut[wl.ref()] = false
		}
		if ok {
			done++
		}
	}
	progress := fmt.Sprintf("Rollouts: %d of %d workloads done; %d of their pods still run an old or wrong istio-proxy",
		done, total, stalePods)
	if progress != w.lastProgress {
		w.lastProgress = progress
		if done < total {
			w.p.Printf("%s", progress)
		}
	}
}

// eventLine turns one of the restarter's Events into a line.
func eventLine(ev eventsv1.Event) string {
	ref := ev.Regarding.Kind + " " + ev.Regarding.Namespace + "/" + ev.Regarding.Name
	switch ev.Reason {
	case restarter.EventRolloutRestarted:
		return fmt.Sprintf("Operator restarted %s: %s", ref, ev.Note)
	case restarter.EventPodEvicted:
		return fmt.Sprintf("Operator evicted a pod of %s: %s", ref, ev.Note)
	case restarter.EventManualRestartRequired:
		return fmt.Sprintf("%s: %s", ref, ev.Note) // the note says "manual restart required" and why
	}
	if ev.Type == corev1.EventTypeWarning {
		return fmt.Sprintf("Warning: %s: %s (%s)", ref, ev.Note, ev.Reason)
	}
	return fmt.Sprintf("%s: %s (%s)", ref, ev.Note, ev.Reason)
}

// pending lists what keeps the demo from having converged; none means it
// has: the CR is Ready or Warning for its current generation with the
// target Istio and sidecar type, the control plane runs the target, no
// rollout is pending or failing, exactly the Job and the bare Pod need a
// manual restart, and every Deployment and StatefulSet pod runs the target
// proxy of the expected type.
func pending(s *snapshot) []string {
	d := s.decision
	if s.istio == nil {
		return []string{"the Istio CR does not exist"}
	}
	var missing []string
	st := s.istio.Status
	if st.State != v1alpha2.StateReady && st.State != v1alpha2.StateWarning {
		missing = append(missing, fmt.Sprintf("the Istio CR is %q: %s", st.State, st.Description))
	}
	if st.ObservedGeneration != s.istio.Generation {
		missing = append(missing, fmt.Sprintf("the CR's status describes generation %d, not %d", st.ObservedGeneration, s.istio.Generation))
	}
	if st.IstioVersion != d.IstioVersion || st.SidecarType != string(d.DefaultType) {
		missing = append(missing, fmt.Sprintf("the CR reports Istio %q with %q sidecars, not %s with %s",
			st.IstioVersion, st.SidecarType, d.IstioVersion, d.DefaultType))
	}
	if !s.controlPlaneReady {
		missing = append(missing, "the control plane does not run Istio "+d.IstioVersion+" yet")
	}
	var manual []string
	for _, wl := range demoWorkloads {
		if !wl.restartable() {
			manual = append(manual, wl.ref())
			continue
		}
		if ok, now := settled(wl, s.pods[wl.ref()], d); !ok {
			missing = append(missing, wl.ref()+": "+now)
		}
	}
	r := st.ProxyRestart
	switch {
	case r == nil:
		missing = append(missing, "the restarter has not reported yet")
	default:
		if r.Pending > 0 || r.NotConverging > 0 {
			missing = append(missing, fmt.Sprintf("the restarter reports %d pending and %d not converging workloads", r.Pending, r.NotConverging))
		}
		if int(r.ManualRestart) != len(manual) || !sameWorkloads(r.ManualRestartWorkloads, manual) {
			missing = append(missing, fmt.Sprintf("the restarter reports %d workloads for a manual restart (%s), expected %s",
				r.ManualRestart, strings.Join(r.ManualRestartWorkloads, ", "), strings.Join(manual, ", ")))
		}
	}
	return missing
}

func sameWorkloads(got, want []string) bool {
	a, b := slices.Clone(got), slices.Clone(want)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// summary prints the outcome once the demo converged.
func (w *watcher) summary(s *snapshot) {
	d := s.decision
	w.p.Printf("Converged: the operator took %.1fs. Istio CR %s is %s: %s",
		time.Since(w.started).Seconds(), w.cr, s.istio.Status.State, s.istio.Status.Description)
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "WORKLOAD\tBEFORE\tNOW\tBY\n")
	for _, wl := range demoWorkloads {
		by := "rolled out by the operator"
		if !wl.restartable() {
			by = "needs a manual restart"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", wl.ref(), w.before[wl.ref()], describeProxies(s.pods[wl.ref()]), by)
	}
	_ = tw.Flush()
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	lines = append(lines,
		fmt.Sprintf("Istio %s runs, %s sidecars by default.", d.IstioVersion, d.DefaultType),
		"Manual restart needed (the operator does not restart Jobs and bare Pods): "+
			strings.Join(s.istio.Status.ProxyRestart.ManualRestartWorkloads, ", "))
	w.p.Lines(lines...)
}

// finalState prints the CR's state as the run ends.
func (w *watcher) finalState() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var istio v1alpha2.Istio
	if err := w.c.Get(ctx, w.cr, &istio); err == nil {
		w.p.Printf("Final state of Istio CR %s: %s: %s", w.cr, istio.Status.State, istio.Status.Description)
	}
}
