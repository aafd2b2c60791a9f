package restarter

import "github.com/istio-module/operator/pkg/workload"

// SetListMinObjects changes how many owners of a kind the plan must need
// before it considers listing them all, for tests of both ways of reading
// owners; the returned func restores the default.
func SetListMinObjects(n int) (restore func()) {
	old := workload.ListMinObjects
	workload.ListMinObjects = n
	return func() { workload.ListMinObjects = old }
}
