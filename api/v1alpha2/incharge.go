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

package v1alpha2

// InCharge returns the Istio CR that governs the cluster: the oldest, ties
// broken by namespace and name so every reader (each operator replica, the
// kubectl plugin) picks the same one. nil when there is none.
func InCharge(items []Istio) *Istio {
	var oldest *Istio
	for i := range items {
		if oldest == nil || olderThan(&items[i], oldest) {
			oldest = &items[i]
		}
	}
	return oldest
}

func olderThan(x, y *Istio) bool {
	if !x.CreationTimestamp.Equal(&y.CreationTimestamp) {
		return x.CreationTimestamp.Before(&y.CreationTimestamp)
	}
	if x.Namespace != y.Namespace {
		return x.Namespace < y.Namespace
	}
	return x.Name < y.Name
}
