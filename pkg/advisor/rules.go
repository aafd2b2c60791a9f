package advisor

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/istio-module/operator/pkg/sidecarmode"
)

// quitQuitQuit finds user containers whose command or args mention the
// proxy's quitquitquit endpoint ("curl -XPOST localhost:15020/quitquitquit",
// "pilot-agent request POST quitquitquit").
func (c checker) quitQuitQuit(when When) []Finding {
	var out []Finding
	initContainers, containers := userContainers(c.in.Spec)
	for _, ctr := range slices.Concat(initContainers, containers) {
		for _, fl := range []struct {
			field string
			list  []string
		}{{"command", ctr.Command}, {"args", ctr.Args}} {
			for i, v := range fl.list {
				if !strings.Contains(v, "quitquitquit") {
					continue
				}
				out = append(out, Finding{
					ID: IDQuitQuitQuit, When: when, Container: ctr.Name,
					Field: fmt.Sprintf("%s[%d]", fl.field, i), Value: v,
					Advice: c.nativeAdvice(when,
						"it stops by itself once the app containers have finished, so the call to /quitquitquit is unnecessary",
						"remove the call to /quitquitquit"),
				})
			}
		}
	}
	return out
}

// uid1337 finds user init containers that run as the proxy's user, set on the
// container or inherited from the pod.
func (c checker) uid1337(when When) []Finding {
	var out []Finding
	initContainers, _ := userContainers(c.in.Spec)
	podUID := podRunAsUser(c.in.Spec)
	for _, ctr := range initContainers {
		if ctr.SecurityContext != nil && ctr.SecurityContext.RunAsUser != nil {
			if *ctr.SecurityContext.RunAsUser == ProxyUID {
				out = append(out, Finding{
					ID: IDUID1337, When: when, Container: ctr.Name,
					Field: "securityContext.runAsUser", Value: strconv.Itoa(ProxyUID),
					Advice: c.nativeAdvice(when,
						"init containers have mesh networking, and running as user 1337 only takes this one's traffic out of the mesh (no mTLS, no policies)",
						"remove runAsUser 1337 from the init container"),
				})
			}
			continue
		}
		if podUID != nil && *podUID == ProxyUID {
			out = append(out, Finding{
				ID: IDUID1337, When: when, Container: ctr.Name,
				Field: "spec.securityContext.runAsUser", Value: strconv.Itoa(ProxyUID),
				Advice: c.nativeAdvice(when,
					"init containers have mesh networking, and this one inherits user 1337 from the pod, which takes its traffic, and the app containers' too, out of the mesh",
					"set another runAsUser on the pod"),
			})
		}
	}
	return out
}

func podRunAsUser(spec corev1.PodSpec) *int64 {
	if spec.SecurityContext == nil {
		return nil
	}
	return spec.SecurityContext.RunAsUser
}

// excludeOutbound finds the outbound exclusions of a pod with init
// containers of its own.
func (c checker) excludeOutbound(when When) []Finding {
	initContainers, _ := userContainers(c.in.Spec)
	if len(initContainers) == 0 {
		return nil
	}
	var out []Finding
	for _, key := range []string{AnnotationExcludeOutboundIPRanges, AnnotationExcludeOutboundPorts} {
		v, ok := c.in.Meta.Annotations[key]
		if !ok || strings.TrimSpace(v) == "" {
			continue
		}
		out = append(out, Finding{
			ID: IDExcludeOutbound, When: when,
			Field: annotationField(key), Value: v,
			Advice: c.nativeAdvice(when,
				"init containers have mesh networking, so exclusions made for them only let traffic bypass the mesh",
				"review the exclusions and remove those made for init containers"),
		})
	}
	return out
}

// holdIgnored finds holdApplicationUntilProxyStarts: in the pod's proxy
// config annotation (which wins), as the postStart hook the injector adds to
// a regular proxy, or mesh-wide.
func (c checker) holdIgnored(when When) []Finding {
	const fact = "Istio ignores holdApplicationUntilProxyStarts for native sidecars (the app containers start once istio-proxy's startup probe passes)"
	f := Finding{ID: IDHoldIgnored, When: when}
	hold, set := proxyConfigHold(c.in.Meta.Annotations[AnnotationProxyConfig])
	switch {
	case set && !hold:
		return nil
	case set:
		f.Field, f.Value = annotationField(AnnotationProxyConfig), "holdApplicationUntilProxyStarts: true"
		f.Advice = c.nativeAdvice(when, fact, "remove holdApplicationUntilProxyStarts from proxy.istio.io/config")
	case holdHook(c.in.Spec) != "":
		f.Container, f.Field, f.Value = sidecarmode.ProxyContainerName, "lifecycle.postStart.exec.command", holdHook(c.in.Spec)
		f.Advice = c.nativeAdvice(when, fact, "remove holdApplicationUntilProxyStarts where it is set (mesh-wide or proxy.istio.io/config) when no pod needs it")
	case c.in.MeshHoldApplication:
		f.Field, f.Value = "meshConfig.defaultConfig.holdApplicationUntilProxyStarts", "true"
		f.Advice = c.nativeAdvice(when, fact, "remove the mesh-wide holdApplicationUntilProxyStarts when no pod runs a regular sidecar")
	default:
		return nil
	}
	return []Finding{f}
}

// proxyConfigHold reads holdApplicationUntilProxyStarts from the value of
// proxy.istio.io/config (YAML or JSON). set is false when the key is absent
// or the value does not parse.
func proxyConfigHold(config string) (hold, set bool) {
	if strings.TrimSpace(config) == "" {
		return false, false
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(config), &m); err != nil {
		return false, false
	}
	switch v := m["holdApplicationUntilProxyStarts"].(type) {
	case bool:
		return v, true
	case string:
		if b, err := strconv.ParseBool(v); err == nil {
			return b, true
		}
	}
	return false, false
}

// holdHook returns the command of the postStart hook the injector gives a
// regular istio-proxy when holdApplicationUntilProxyStarts is on ("pilot-agent
// wait"), or "".
func holdHook(spec corev1.PodSpec) string {
	for _, ctr := range spec.Containers {
		if ctr.Name != sidecarmode.ProxyContainerName || ctr.Lifecycle == nil ||
			ctr.Lifecycle.PostStart == nil || ctr.Lifecycle.PostStart.Exec == nil {
			continue
		}
		cmd := ctr.Lifecycle.PostStart.Exec.Command
		if slices.ContainsFunc(cmd, func(s string) bool { return strings.Contains(s, "pilot-agent") }) &&
			slices.Contains(cmd, "wait") {
			return strings.Join(cmd, " ")
		}
	}
	return ""
}

// jobRegularSidecar flags the pods of Jobs and CronJobs with a regular proxy.
func (c checker) jobRegularSidecar(when When) []Finding {
	if !IsJob(c.in) {
		return nil
	}
	d := c.in.Decision
	f := Finding{ID: IDJobRegularSidecar, When: when}
	fact := "a regular istio-proxy keeps running after the Job's containers finish, so its pods never complete without a workaround"
	if q := c.quitQuitQuit(when); len(q) > 0 {
		fact += fmt.Sprintf(" (this one calls /quitquitquit in container %s)", q[0].Container)
	}
	pinned := c.in.Meta.Annotations[sidecarmode.AnnotationNativeSidecar] == "false"
	switch {
	case when == WhenNow:
		f.Container, f.Field, f.Value = sidecarmode.ProxyContainerName, "layout", string(sidecarmode.Regular)
	case pinned:
		f.Field, f.Value = annotationField(sidecarmode.AnnotationNativeSidecar), "false"
	default:
		f.Field, f.Value = "target", d.Target()
	}
	const unpin = `remove the sidecar.istio.io/nativeSidecar: "false" override`
	var action string
	switch {
	case c.after == sidecarmode.Native:
		action = "this pod predates the switch to native sidecars; the next pods of the Job get a native sidecar, so recreate the Job if this one must finish"
	case pinned && d.DefaultType == sidecarmode.Native:
		action = unpin + " so its pods get a native sidecar"
	case d.NativeUnsupported:
		action = fmt.Sprintf("the cluster gate turned native sidecars off (%s): upgrade the nodes whose kubelet is older than 1.%d",
			d.Reason, sidecarmode.MinNativeKubeletMinor)
		if pinned {
			action += ", and " + unpin
		}
	case pinned:
		action = fmt.Sprintf("the target injects regular containers by default (%s): move to a target with native sidecars and %s",
			d.Reason, unpin)
	default:
		action = fmt.Sprintf(`the target injects regular containers by default (%s): move to a target with native sidecars, or annotate the pod template sidecar.istio.io/nativeSidecar: "true"`,
			d.Reason)
	}
	f.Advice = sentence(fact) + " " + sentence(action)
	return []Finding{f}
}

// optOutReview lists a pod template pinned to regular containers.
func (c checker) optOutReview(when When) Finding {
	advice := "pinned to regular containers while the target's default is native sidecars: " +
		"keep the pin only if the workload still needs regular containers"
	if c.in.Decision.DefaultType != sidecarmode.Native {
		advice = "pinned to regular containers; the target's default is regular too, " +
			"so the pin changes nothing yet: revisit it before native sidecars become the default"
	}
	return Finding{
		ID: IDOptOutReview, When: when,
		Field: annotationField(sidecarmode.AnnotationNativeSidecar), Value: "false",
		Advice: sentence(advice),
	}
}

// nativeAdvice words the advice of a finding about a native sidecar: fact
// says why the workaround is unnecessary or harmful, action what to do.
// Under a target that injects a regular container again, the workaround is
// to be kept.
func (c checker) nativeAdvice(when When, fact, action string) string {
	switch {
	case c.pinned:
		return sentence(`once the sidecar.istio.io/nativeSidecar: "false" pin is removed, istio-proxy is a native sidecar: `+fact) + " " +
			sentence(action+` together with the pin, so the workload does not keep a workaround it no longer needs`)
	case when == WhenAfterSwitch:
		return sentence("after the switch istio-proxy is a native sidecar: "+fact) + " " +
			sentence(action+" once the workload's pods run with native sidecars")
	case c.after != sidecarmode.Native:
		return sentence("the pod's istio-proxy is a native sidecar now: "+fact) + " " +
			sentence("keep this workaround: under the target istio-proxy is a regular container again")
	default:
		return sentence("the pod's istio-proxy is a native sidecar: "+fact) + " " + sentence(action)
	}
}

func annotationField(key string) string { return "metadata.annotations[" + key + "]" }

// sentence capitalises s and ends it with a period.
func sentence(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
}
