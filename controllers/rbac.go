package controllers

// The operator's cluster-wide permissions, generated into
// config/rbac/role.yaml. No wildcards, and every write to a cluster-scoped
// object of Istio's is limited to the names Istio's charts render for the
// control-plane namespace istio-system (config/rbac_test.go renders the
// charts and checks each name against the deployed role). Writes to
// namespaced objects of Istio's are granted in that namespace only, by the
// hand-written Role in config/istio-namespace. docs/security.md explains
// each rule.
//
// Installing Istio: server-side apply creates and patches, prune and
// uninstall list by label and delete. Listing cannot be limited by name.
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=list
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=create;patch;delete,resourceNames=authorizationpolicies.security.istio.io;destinationrules.networking.istio.io;envoyfilters.networking.istio.io;gateways.networking.istio.io;peerauthentications.security.istio.io;proxyconfigs.networking.istio.io;requestauthentications.security.istio.io;serviceentries.networking.istio.io;sidecars.networking.istio.io;telemetries.telemetry.istio.io;trafficextensions.extensions.istio.io;virtualservices.networking.istio.io;wasmplugins.extensions.istio.io;workloadentries.networking.istio.io;workloadgroups.networking.istio.io
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations;validatingwebhookconfigurations;validatingadmissionpolicies;validatingadmissionpolicybindings,verbs=list
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,verbs=create;patch;delete,resourceNames=istio-sidecar-injector
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=create;patch;delete,resourceNames=istio-validator-istio-system;istiod-default-validator
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=create;patch;delete,resourceNames=istio-system
//
// Istio's cluster roles grant istiod and istio-cni more than the operator
// holds (Secrets among them). Kubernetes lets a user create a role, or bind
// one, only with every permission in it, or with the escalate (roles) and
// bind (bindings) verbs on that role: the operator has them for Istio's
// roles by name, so it can neither grant nor bind any other role, such as
// cluster-admin, and it reads no Secrets.
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles;clusterrolebindings,verbs=list
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles,verbs=create;patch;delete;escalate;bind,resourceNames=istio-cni;istio-cni-repair-role;istio-reader-clusterrole-istio-system;istiod-clusterrole-istio-system;istiod-gateway-controller-istio-system
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterrolebindings,verbs=create;patch;delete,resourceNames=istio-cni;istio-cni-repair-rolebinding;istio-reader-clusterrole-istio-system;istiod-clusterrole-istio-system;istiod-gateway-controller-istio-system
//
// Uninstalling is blocked while users' Istio resources exist: list them.
// +kubebuilder:rbac:groups=networking.istio.io,resources=virtualservices;destinationrules;gateways;serviceentries;sidecars;workloadentries;envoyfilters,verbs=list
// +kubebuilder:rbac:groups=security.istio.io,resources=authorizationpolicies;peerauthentications;requestauthentications,verbs=list
// +kubebuilder:rbac:groups=telemetry.istio.io,resources=telemetries,verbs=list
//
// Restarting stale proxies, in every namespace: list pods (and, uninstalled,
// count those with proxies), read their owners and the namespaces'
// opt-out annotation, patch the pod template of rolling workloads, evict
// pods of the others, and say so by Event.
//
// Pods are created only as server-side dry runs: before a restart the
// restarter asks the injector what a new pod of the workload would get.
// RBAC cannot limit create to dry runs; config/rbac's
// ValidatingAdmissionPolicy refuses any other pod create of the operator.
// +kubebuilder:rbac:groups="",resources=pods,verbs=list;create
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list
// +kubebuilder:rbac:groups="",resources=replicationcontrollers,verbs=get;patch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=get;list;patch
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get;list;patch
// +kubebuilder:rbac:groups=batch,resources=jobs;cronjobs,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
//
// spec.networkPoliciesEnabled: the policies allow the API server's port,
// read from the Service default/kubernetes (by name; no other Service).
// +kubebuilder:rbac:groups="",resources=services,verbs=get,resourceNames=kubernetes
//
// The metrics endpoint asks the API server who a caller is and whether it
// may read /metrics (controller-runtime's authentication filter).
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
