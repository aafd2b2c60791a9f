package testenv

// Cluster-mode components whose command lines WithComponentFlags extends.
const (
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
	Kwok              = "kwok"
)

// WithComponentFlags appends flags to a cluster-mode component's command
// line (ControllerManager, Scheduler or Kwok); a flag given twice takes the
// last value, so these override the defaults. A harness that creates
// thousands of pods raises the components' client rate limits this way
// (kube-controller-manager's --kube-api-qps defaults to 20 per second),
// rather than measuring their throttling.
func WithComponentFlags(component string, flags ...string) Option {
	return func(o *options) {
		if o.componentFlags == nil {
			o.componentFlags = map[string][]string{}
		}
		o.componentFlags[component] = append(o.componentFlags[component], flags...)
	}
}
