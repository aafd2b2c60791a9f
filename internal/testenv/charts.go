package testenv

import (
	"github.com/istio-module/operator/pkg/install"
)

// Charts are the charts of an Istio release the test cluster has: this
// build's embedded ones, or an earlier release's own from the assets folder.
func (e *Env) Charts(version string) (*install.Charts, error) {
	if version == install.EmbeddedIstioVersion {
		return install.EmbeddedCharts(), nil
	}
	dir, err := e.IstioChartsDir(version)
	if err != nil {
		return nil, err
	}
	return install.ChartsFromDir(dir, version), nil
}

// Installer installs Istio release version from its own charts, with the
// webhooks calling the local istiod, as an operator of a release with that
// Istio would.
func (e *Env) Installer(istiod *Istiod, version string) (*install.Installer, error) {
	charts, err := e.Charts(version)
	if err != nil {
		return nil, err
	}
	return install.New(e.Client, install.Options{
		KubeVersion:     KubeletVersion,
		IstiodRemoteURL: istiod.URL(),
		Charts:          charts,
	}), nil
}
