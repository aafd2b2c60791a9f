/*
Copyright 2026 The istio-module Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1alpha2_test

import (
	"context"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/internal/testenv"
)

// The validation suite applies Istio CRs to a real kube-apiserver with the
// generated CRD installed: the samples must be accepted and come back
// unchanged, and invalid CRs must be refused at admission with a message that
// names the offending field.
func TestValidation(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Istio CR validation suite")
}

const namespace = "kyma-system"

var (
	env *testenv.Env
	k8s client.Client
	ctx context.Context
)

var _ = BeforeSuite(func() {
	ctx = context.Background()
	var err error
	env, err = testenv.StartAPI()
	Expect(err).NotTo(HaveOccurred())
	k8s = env.Client
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})).To(Succeed())
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})
