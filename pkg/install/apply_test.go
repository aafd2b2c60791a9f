package install_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/istio-module/operator/pkg/install"
)

func TestIsTransient(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"internal error", apierrors.NewInternalError(errors.New("boom")), true},
		{"throttled", apierrors.NewTooManyRequests("slow down", 1), true},
		{"conflict", apierrors.NewConflict(gr, "istiod", errors.New("modified")), true},
		{"expired continue", apierrors.NewResourceExpired("too old"), true},
		{"unavailable", apierrors.NewServiceUnavailable("restarting"), true},
		{"timeout", apierrors.NewServerTimeout(gr, "get", 1), true},
		{"broken connection, wrapped", fmt.Errorf("apply Deployment istio-system/istiod: %w", io.ErrUnexpectedEOF), true},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Kind: "Deployment"}, "istiod", nil), false},
		{"forbidden", apierrors.NewForbidden(gr, "istiod", errors.New("RBAC")), false},
		{"not found", apierrors.NewNotFound(gr, "istiod"), false},
		{"bad request", apierrors.NewBadRequest("no"), false},
		{"cancelled", fmt.Errorf("apply: %w", context.Canceled), false},
		{"nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(install.IsTransient(tc.err)).To(Equal(tc.want))
		})
	}
}
