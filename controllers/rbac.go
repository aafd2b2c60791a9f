package controllers

// The operator's permissions, generated into config/rbac/role.yaml. No
// wildcards: every group, resource and verb is named (a test checks it).
//
// Installing Istio: the charts render these kinds, which the installer
// applies (server-side apply = patch), prunes and uninstalls.
// +kubebuilder:rbac:groups="",resources=namespaces;serviceaccounts;configmaps;services;resourcequotas,verbs=get;list;watch;create;patch;update;delete
// +kubebuilder:rbac:groups=apps,resources=deployments;daemonsets,verbs=get;list;watch;create;patch;update;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;patch;update;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;patch;update;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;patch;update;delete
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch;create;patch;update;delete
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations;validatingwebhookconfigurations;validatingadmissionpolicies;validatingadmissionpolicybindings,verbs=get;list;watch;create;patch;update;delete
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch;create;patch;update;delete
//
// Istio's roles grant istiod more than the operator holds (Secrets among
// them: istiod reads TLS secrets for gateways and writes its CA). Rather than
// holding all of that itself, the operator may create such roles and
// bindings through the escalate and bind verbs; it reads no Secrets.
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings;clusterroles;clusterrolebindings,verbs=get;list;watch;create;patch;update;delete;escalate;bind
//
// Uninstalling is blocked while users' Istio resources exist: list them.
// +kubebuilder:rbac:groups=networking.istio.io,resources=virtualservices;destinationrules;gateways;serviceentries;sidecars;workloadentries;envoyfilters,verbs=get;list
// +kubebuilder:rbac:groups=security.istio.io,resources=authorizationpolicies;peerauthentications;requestauthentications,verbs=get;list
// +kubebuilder:rbac:groups=telemetry.istio.io,resources=telemetries,verbs=get;list
//
// Restarting stale proxies: read pods and their owners, patch the pod
// template of rolling workloads, evict pods of the others. Pods are created
// only as server-side dry runs: before a restart the restarter asks the
// injector what a new pod of the workload would get (RBAC cannot limit
// create to dry runs; the restarter never sends another create).
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;create
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups="",resources=replicationcontrollers,verbs=get;list;patch
// +kubebuilder:rbac:groups=apps,resources=statefulsets;replicasets,verbs=get;list;patch
// +kubebuilder:rbac:groups=batch,resources=jobs;cronjobs,verbs=get;list
