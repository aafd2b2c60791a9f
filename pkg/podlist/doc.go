// Package podlist pages through all pods of a cluster, or of one namespace,
// and decodes, of each pod, only the fields the restarter reads.
//
// A typed LIST decodes every field of every pod of a page, managed fields
// and all, into memory at once: at 500 pods a page that is 5.5 MiB of
// protobuf, about 20 MiB of live heap and 37 MiB allocated, and the garbage
// collector's headroom on top (docs/performance.md). The restarter needs a
// dozen fields per pod. Lister reads the response as it arrives, one pod's
// bytes at a time, and decodes just those fields, so a page costs what one
// pod costs and the scan's memory does not depend on the cluster's size.
//
// The fields kept are those Slim keeps; everything else is left empty.
// consumers_test.go holds every reader of listed pods to that: on each pod
// of the testdata, decoded, the restarter's plan, sidecarmode's judgements
// and workload.OwnerOf answer as on the whole pod.
//
//	podlist.go  Lister: paged LISTs of pods, protobuf asked for; Slim
//	decode.go   the streaming decoder of a page, protobuf field by field
//	            (JSON, whole pod by pod, when the server sends it)
package podlist
