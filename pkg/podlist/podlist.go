package podlist

import (
	"bufio"
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
)

// acceptHeader asks for protobuf, which Lister decodes field by field; JSON
// is accepted as well (an API server or proxy without protobuf), and then
// decoded whole, pod by pod.
const acceptHeader = "application/vnd.kubernetes.protobuf, application/json"

// Lister lists pods page by page through a core/v1 REST client.
type Lister struct {
	c rest.Interface
	// namespace scopes the listing; "" lists all namespaces.
	namespace string
}

// New returns a Lister reading through c, a REST client for the core/v1
// API group, such as kubernetes.Clientset's CoreV1().RESTClient().
func New(c rest.Interface) *Lister { return &Lister{c: c} }

// NewForConfig returns a Lister reading through a core/v1 REST client made
// from cfg.
func NewForConfig(cfg *rest.Config) (*Lister, error) {
	core, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create a client for pods: %w", err)
	}
	return New(core.RESTClient()), nil
}

// InNamespace returns a Lister of the pods of one namespace; "" is all
// namespaces.
func (l *Lister) InNamespace(namespace string) *Lister {
	return &Lister{c: l.c, namespace: namespace}
}

// Page lists one page of pods, in all namespaces unless the Lister is
// scoped to one (InNamespace): at most limit pods,
// starting at the continue token cont ("" for the first page). It calls fn
// with each pod, in the API server's order, as soon as the pod is decoded,
// and returns the continue token of the next page, "" after the last.
//
// The pods carry only the fields Slim keeps; fn may keep them. Errors from
// the API server are returned as client-go returns them, Status errors
// included (an expired continue token is apierrors.IsResourceExpired).
func (l *Lister) Page(ctx context.Context, limit int64, cont string, fn func(*corev1.Pod)) (next string, err error) {
	body, err := l.c.Get().
		Namespace(l.namespace).
		Resource("pods").
		VersionedParams(&metav1.ListOptions{Limit: limit, Continue: cont}, scheme.ParameterCodec).
		SetHeader("Accept", acceptHeader).
		Stream(ctx)
	if err != nil {
		return "", err
	}
	defer body.Close()
	next, err = decodePage(bufio.NewReaderSize(body, 64<<10), fn)
	if err != nil {
		return "", fmt.Errorf("read the pod list response: %w", err)
	}
	return next, nil
}

// Slim returns a copy of pod holding only the fields Page decodes: the
// name, namespace, UID, deletion timestamp, annotations and owner
// references; the name, image, args and restart policy of every container
// and init container; the phase and the type and status of every
// condition.
func Slim(pod *corev1.Pod) *corev1.Pod {
	out := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:              pod.Name,
			Namespace:         pod.Namespace,
			UID:               pod.UID,
			DeletionTimestamp: pod.DeletionTimestamp.DeepCopy(),
			Annotations:       copyMap(pod.Annotations),
		},
		Spec: corev1.PodSpec{
			Containers:     slimContainers(pod.Spec.Containers),
			InitContainers: slimContainers(pod.Spec.InitContainers),
		},
		Status: corev1.PodStatus{Phase: pod.Status.Phase},
	}
	for _, ref := range pod.OwnerReferences {
		out.OwnerReferences = append(out.OwnerReferences, *ref.DeepCopy())
	}
	for _, c := range pod.Status.Conditions {
		out.Status.Conditions = append(out.Status.Conditions, corev1.PodCondition{Type: c.Type, Status: c.Status})
	}
	return out
}

func slimContainers(cs []corev1.Container) []corev1.Container {
	var out []corev1.Container
	for _, c := range cs {
		s := corev1.Container{Name: c.Name, Image: c.Image, Args: append([]string(nil), c.Args...)}
		if c.RestartPolicy != nil {
			p := *c.RestartPolicy
			s.RestartPolicy = &p
		}
		out = append(out, s)
	}
	return out
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
