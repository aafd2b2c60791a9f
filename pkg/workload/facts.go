package workload

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const (
	// RestartAnnotation marks a restart by the operator's restarter. Its
	// value is the target it restarted for, e.g. "1.30.2/native": on a pod
	// template (Facts.Marker), on the pods created from it, and on the
	// workload's own metadata (Facts.Recorded).
	RestartAnnotation = "istio-module.kyma-project.io/restarted-for"

	// OptOutAnnotation with the value OptOutDisabled on a workload or on a
	// namespace keeps the restarter away (Facts.OptedOut).
	OptOutAnnotation = "istio-module.kyma-project.io/restart"
	// OptOutDisabled is the value of OptOutAnnotation that opts out.
	OptOutDisabled = "disabled"
)

// Mode is how a workload's pods get replaced.
type Mode int

const (
	// ModeRollout: patch the pod template; the workload's controller rolls
	// the pods out (Deployment; StatefulSet and DaemonSet with RollingUpdate).
	ModeRollout Mode = iota
	// ModeEvict: a template change replaces no pod, so the stale pods are
	// evicted one at a time and the controller recreates them from the
	// template (StatefulSet and DaemonSet with OnDelete; ReplicaSet and
	// ReplicationController without an owner).
	ModeEvict
	// ModeManual: nothing a restarter can safely do (paused Deployment,
	// Job, CronJob, bare Pod, other owner kinds).
	ModeManual
	// ModeUnresolved: the pod's owner no longer exists (the garbage
	// collector is removing the pod) or could not be read.
	ModeUnresolved
)

// Restartable reports whether a restarter replaces the pods of a workload
// in this mode.
func (m Mode) Restartable() bool { return m == ModeRollout || m == ModeEvict }

// Facts is what a plan needs to know about one workload, read once per
// scan. It keeps facts, not the object.
type Facts struct {
	Ref Ref
	UID types.UID
	// ResourceVersion is the one read, the precondition of a marker patch.
	ResourceVersion string
	// Generation is the workload's metadata.generation: it changes with its
	// spec (so with its pod template).
	Generation int64
	Mode       Mode
	// Why explains ModeManual and ModeUnresolved.
	Why      string
	OptedOut bool
	// Marker is the pod template's RestartAnnotation.
	Marker string
	// Recorded is the workload's own RestartAnnotation (its metadata): the
	// record of the operator's last restart, which survives a tool that
	// strips the template's.
	Recorded string
	// Settled: the workload's controller has finished replacing pods: for
	// ModeRollout the rollout is complete (or failed), for ModeEvict every
	// desired pod exists and is ready.
	Settled bool
	// Failed: the rollout gave up (Deployment progress deadline exceeded).
	Failed bool
	// Progress says what the rollout waits for, when not settled, or why it
	// failed.
	Progress string
	// Strategy describes the update strategy for messages, e.g. "OnDelete".
	Strategy string
	// Desired is how many pods the workload wants (ModeEvict).
	Desired int32
	// Keeps says why a settled rollout leaves some old pods in place (a
	// StatefulSet partition), or "".
	Keeps string
}

// StrategyNoOwner is Facts.Strategy of a ReplicaSet or ReplicationController
// without an owner: nothing rolls out its template.
const StrategyNoOwner = "no owner"

// Unreadable stands for a workload whose owner chain could not be read; it
// waits for the next scan.
func Unreadable(o Owner, err error) *Facts {
	return &Facts{Ref: o.Ref(), UID: o.UID, Mode: ModeUnresolved,
		Why: fmt.Sprintf("could not read its owner (%v); trying again on the next run", err)}
}

// gone stands for a workload that no longer exists, or was recreated under
// another UID than its pods' owner reference names.
func gone(ref Ref, uid types.UID) *Facts {
	return &Facts{Ref: ref, UID: uid, Mode: ModeUnresolved,
		Why: fmt.Sprintf("%s no longer exists; its pods are being garbage-collected", ref)}
}

// barePod is a pod without a controller: its own workload, which nothing
// recreates.
func barePod(o Owner) *Facts {
	return &Facts{Ref: o.Ref(), UID: o.UID, Mode: ModeManual,
		Why: "a bare Pod: no controller recreates it, so deleting it is up to its owner"}
}

// otherKind is a workload of a kind no restarter restarts.
func otherKind(o Owner) *Facts {
	return &Facts{Ref: o.Ref(), UID: o.UID, Mode: ModeManual,
		Why: fmt.Sprintf("owned by a %s, a kind the restarter does not restart: restart it with its own tooling", o.Kind)}
}

func optedOut(meta *metav1.ObjectMeta) bool {
	return meta.Annotations[OptOutAnnotation] == OptOutDisabled
}
