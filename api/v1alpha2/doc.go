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

// Package v1alpha2 holds the Istio custom resource of group
// operator.kyma-project.io, version v1alpha2: the whole user interface of the
// operator.
//
// The types keep the JSON names of the Kyma Istio module, so manifests that
// platform teams already apply to that module are accepted unchanged. Every
// field is checked at admission by the CRD's OpenAPI schema and CEL rules
// (generated from the markers in this package), so the reconciler never sees
// a half-valid spec.
//
// conditions.go holds the one table that maps each condition reason to its
// condition type, status and default message; [Istio.SetCondition] and
// [ConditionFor] derive everything else from it.
//
// +kubebuilder:object:generate=true
// +groupName=operator.kyma-project.io
package v1alpha2
