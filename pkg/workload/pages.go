package workload

import (
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Paged LISTs start over when the API server expires their continue token
// (HTTP 410: the snapshot the pages come from was compacted away). This is
// the one loop that does so, for the pod scans of the restarter and the
// kubectl plugin and for the owner listings; client-go's pager is not
// used, because on a 410 it falls back to one unpaged list of everything.

// MaxListRestarts bounds how often one listing starts over.
const MaxListRestarts = 5

// Expired reports whether err says a continue token expired.
func Expired(err error) bool {
	return apierrors.IsResourceExpired(err) || apierrors.IsGone(err)
}

// ListFromStart calls list, and again from the start while it fails with an
// expired continue token, at most MaxListRestarts more times. Before each
// new start it calls restarting with the number of the restart (1, 2, ...),
// where the caller drops what the failed attempt gathered.
func ListFromStart(list func() error, restarting func(restart int)) error {
	for restarts := 0; ; restarts++ {
		err := list()
		if err == nil || !Expired(err) || restarts >= MaxListRestarts {
			return err
		}
		restarting(restarts + 1)
	}
}

// PageOptions are the options of one paged List: at most limit objects, of
// namespace ("" for all), from the continue token cont ("" for the first
// page).
func PageOptions(limit int64, namespace, cont string) []client.ListOption {
	opts := []client.ListOption{client.Limit(limit)}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if cont != "" {
		opts = append(opts, client.Continue(cont))
	}
	return opts
}
