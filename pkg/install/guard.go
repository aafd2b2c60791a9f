package install

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/pkg/sidecarmode"
	"github.com/istio-module/operator/pkg/version"
)

// VersionUpdateError says why an Istio version change is refused. The user
// fixes it (by choosing a module release that steps one minor at a time);
// retrying does not help.
type VersionUpdateError struct {
	Installed, Target string
	Why               string
}

func (e *VersionUpdateError) Error() string {
	return fmt.Sprintf("update of Istio from %s to %s is not allowed: %s", e.Installed, e.Target, e.Why)
}

// CheckVersionUpdate refuses a downgrade and a jump of more than one Istio
// minor, as Istio supports only one-minor upgrades of the control plane.
// installed is the version that runs ("" for a fresh install, see
// InstalledVersion). A pre-release counts as the minor it leads to:
// 1.29.2 -> 1.30.0-rc.1 -> 1.30.0 are allowed steps, back is a downgrade.
func CheckVersionUpdate(installed, target string) error {
	if installed == "" || installed == target {
		return nil
	}
	from, err := version.Parse(installed)
	if err != nil {
		return fmt.Errorf("installed Istio version: %w", err)
	}
	to, err := version.Parse(target)
	if err != nil {
		return fmt.Errorf("target Istio version: %w", err)
	}
	switch {
	case to.Less(from):
		return &VersionUpdateError{installed, target, "downgrades are not supported; install a module release with Istio " + installed + " or newer"}
	case to.Major != from.Major:
		return &VersionUpdateError{installed, target, "a change of the major version is not supported"}
	case to.Minor > from.Minor+1:
		return &VersionUpdateError{installed, target, fmt.Sprintf("Istio can only be upgraded one minor version at a time; upgrade to %d.%d first", from.Major, from.Minor+1)}
	}
	return nil
}

// InstalledVersion returns the Istio version istiod runs in the
// control-plane namespace: the tag of its discovery container's image. The
// cluster, not the CR, says what runs, so a CR deleted (without its
// finalizer) and created again still meets the upgrade guard. It returns
// "" when there is no istiod, or when its image tag is no release version
// (a custom build): then the caller can only guard the update with what the
// CR recorded (status.istioVersion).
func (i *Installer) InstalledVersion(ctx context.Context) (string, error) {
	var istiod appsv1.Deployment
	err := retryTransient(ctx, func() error {
		return i.client.Get(ctx, client.ObjectKey{Namespace: i.opts.Namespace, Name: IstiodName}, &istiod)
	})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the installed Istio version from Deployment %s/%s: %w", i.opts.Namespace, IstiodName, err)
	}
	if image, ok := discoveryImage(&istiod); ok {
		if v := sidecarmode.VersionOf(image); v != sidecarmode.VersionUnknown {
			return v, nil
		}
	}
	return "", nil
}

// discoveryImage is the image of istiod's discovery container (the one
// that runs pilot-discovery), whose tag says which Istio runs; ok is false
// when the Deployment has no such container.
func discoveryImage(istiod *appsv1.Deployment) (image string, ok bool) {
	for _, c := range istiod.Spec.Template.Spec.Containers {
		if c.Name == "discovery" {
			return c.Image, true
		}
	}
	return "", false
}
