// Package workload is the model of workloads that pods belong to, shared by
// the restarter, the installer's readiness check and the kubectl plugin:
// which workload a pod belongs to, what a workload's kind means for
// replacing its pods, and whether its rollout is done.
//
//	ref.go        Ref and Owner; WorkloadOf, the rule by which a pod
//	              belongs to a workload (through a ReplicaSet to its
//	              Deployment, through a Job to its CronJob)
//	kinds.go      the table of kinds: how each is read, its facts (update
//	              strategy, paused, OnDelete, marker) and how pods it
//	              controls find their workload
//	facts.go      Facts, what a plan knows of one workload, and its Mode
//	rolledout.go  whether a workload is rolled out, as `kubectl rollout
//	              status` judges it; DeploymentServing, the installer's
//	              stricter rule for the control plane
//	reader.go     Reader: owner reads, cached for one scan, 16 at a time
//	listing.go    Reader.ListOwners: paging through a whole kind when a
//	              scan needs many of its objects (cheaper than GETs)
//	pages.go      paged LISTs that start over when the continue token
//	              expires (HTTP 410)
package workload
