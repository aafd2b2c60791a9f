package main

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/istio-module/operator/pkg/restarter"
)

// TestUpgradeAtTinyScale runs the benchmark as `make bench-upgrade` does,
// at 5 Deployments, so it cannot rot. It checks the outcome only, never the
// timing: every pod ends fresh (run waits for exactly that), each stale
// Deployment is patched once and rolled out once, and the table names them.
func TestUpgradeAtTinyScale(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := run(ctx, config{
		deployments: 5, replicas: 2, workers: 4,
		slots: 2, progressRequeue: time.Second, samples: 1, timeout: 2 * time.Minute,
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.check()).To(BeEmpty())
	g.Expect(res.writes).To(HaveKeyWithValue(writeWorkload, 5))
	// The injector is asked at least once per restart; an ask that fails
	// (istiod 1.30.2 still starting) is repeated on the next pass.
	g.Expect(res.writes[writeDryRun]).To(BeNumerically(">=", 5))
	g.Expect(res.rolledOnce).To(Equal(5))
	g.Expect(res.events).To(HaveKeyWithValue(restarter.EventRolloutRestarted, 5))
	t.Logf("the operator's Events by reason: %v", res.events)
	g.Expect(res.peakRSSKiB).To(BeNumerically(">", 0))

	var table strings.Builder
	printTable(&table, res)
	g.Expect(table.String()).To(ContainSubstring("| 5 | 10 |"))
	g.Expect(table.String()).To(ContainSubstring("| Deployment patches | 5 |"))
}
