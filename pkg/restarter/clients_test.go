package restarter_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// write is one write request the restarter sent.
type write struct {
	Verb string // create, update, patch, delete, deleteAllOf, apply, evict, or "<verb> <subresource>"
	// Object is "Kind namespace/name"; for evictions the pod.
	Object string
	// UID is the evicted pod's UID (the eviction's precondition).
	UID types.UID
}

// countingClient passes everything to the real client and records every
// write request. It can inject two faults: the Nth List call that carries a
// continue token fails once with 410 Expired, and a hook runs after each
// successful patch (e.g. to stop the restarter mid-plan).
type countingClient struct {
	client.Client

	mu     sync.Mutex
	writes []write
	// dryRuns are server-side dry-run creates: not writes.
	dryRuns []write

	// expireContinueAt > 0 makes that List call with a continue token (1 is
	// the first) fail with 410 Expired, once.
	expireContinueAt int
	continueLists    int
	expired          int

	// expireOnly, if set, limits the injected 410 to List calls of lists of
	// this type.
	expireOnly client.ObjectList

	// afterPatch runs after each successful patch with the number of
	// successful patches so far.
	afterPatch func(n int)
	patches    int

	// reads counts Get and List calls by "get Kind" and "list KindList".
	reads map[string]int
}

func newCountingClient(c client.Client) *countingClient { return &countingClient{Client: c} }

func (c *countingClient) record(verb string, obj client.Object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, write{Verb: verb, Object: c.describe(obj)})
}

func (c *countingClient) describe(obj client.Object) string {
	kind := fmt.Sprintf("%T", obj)
	if gvk, err := apiutil.GVKForObject(obj, c.Scheme()); err == nil {
		kind = gvk.Kind
	}
	return kind + " " + obj.GetNamespace() + "/" + obj.GetName()
}

// Writes returns a copy of the writes so far.
func (c *countingClient) Writes() []write {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]write(nil), c.writes...)
}

// Count counts the writes with this verb and object.
func (c *countingClient) Count(verb, object string) int {
	n := 0
	for _, w := range c.Writes() {
		if w.Verb == verb && w.Object == object {
			n++
		}
	}
	return n
}

// Expired is how many 410s were injected.
func (c *countingClient) Expired() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.expired
}

// Reads is how many reads of a kind were made, e.g. "get ReplicaSet" or
// "list ReplicaSetList".
func (c *countingClient) Reads(verbKind string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads[verbKind]
}

func (c *countingClient) countRead(verb string, obj runtime.Object) {
	kind := fmt.Sprintf("%T", obj)
	if gvk, err := apiutil.GVKForObject(obj, c.Scheme()); err == nil {
		kind = gvk.Kind
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reads == nil {
		c.reads = map[string]int{}
	}
	c.reads[verb+" "+kind]++
}

func (c *countingClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.countRead("get", obj)
	return c.Client.Get(ctx, key, obj, opts...)
}

func (c *countingClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	c.countRead("list", list)
	lo := (&client.ListOptions{}).ApplyOptions(opts)
	if lo.Continue != "" && (c.expireOnly == nil || reflect.TypeOf(list) == reflect.TypeOf(c.expireOnly)) {
		c.mu.Lock()
		c.continueLists++
		fail := c.expired == 0 && c.continueLists == c.expireContinueAt
		if fail {
			c.expired++
		}
		c.mu.Unlock()
		if fail {
			return apierrors.NewResourceExpired("the provided continue parameter is too old to display a consistent list result")
		}
	}
	return c.Client.List(ctx, list, opts...)
}

func (c *countingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	co := (&client.CreateOptions{}).ApplyOptions(opts)
	if len(co.DryRun) > 0 {
		// A server-side dry run persists nothing: counted apart from writes.
		err := c.Client.Create(ctx, obj, opts...)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.dryRuns = append(c.dryRuns, write{Verb: "dry-run create", Object: c.describe(obj)})
		return err
	}
	c.record("create", obj)
	return c.Client.Create(ctx, obj, opts...)
}

// DryRuns returns the server-side dry-run creates so far, each with the
// object as the API server returned it (a generated name).
func (c *countingClient) DryRuns() []write {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]write(nil), c.dryRuns...)
}

func (c *countingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	c.record("update", obj)
	return c.Client.Update(ctx, obj, opts...)
}

func (c *countingClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	c.record("patch", obj)
	err := c.Client.Patch(ctx, obj, patch, opts...)
	if err == nil {
		c.mu.Lock()
		c.patches++
		n, hook := c.patches, c.afterPatch
		c.mu.Unlock()
		if hook != nil {
			hook(n)
		}
	}
	return err
}

func (c *countingClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	c.record("delete", obj)
	return c.Client.Delete(ctx, obj, opts...)
}

func (c *countingClient) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	c.record("deleteAllOf", obj)
	return c.Client.DeleteAllOf(ctx, obj, opts...)
}

func (c *countingClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	c.mu.Lock()
	c.writes = append(c.writes, write{Verb: "apply", Object: fmt.Sprintf("%T", obj)})
	c.mu.Unlock()
	return c.Client.Apply(ctx, obj, opts...)
}

func (c *countingClient) Status() client.SubResourceWriter { return c.SubResource("status") }

func (c *countingClient) SubResource(sub string) client.SubResourceClient {
	return &countingSubResource{SubResourceClient: c.Client.SubResource(sub), c: c, sub: sub}
}

// countingSubResource records writes to subresources; an eviction is
// recorded as "evict" of the pod, with the UID of its precondition.
type countingSubResource struct {
	client.SubResourceClient
	c   *countingClient
	sub string
}

func (s *countingSubResource) Create(ctx context.Context, obj, subResource client.Object, opts ...client.SubResourceCreateOption) error {
	if ev, ok := subResource.(*policyv1.Eviction); ok && s.sub == "eviction" {
		w := write{Verb: "evict", Object: "Pod " + obj.GetNamespace() + "/" + obj.GetName()}
		if ev.DeleteOptions != nil && ev.DeleteOptions.Preconditions != nil && ev.DeleteOptions.Preconditions.UID != nil {
			w.UID = *ev.DeleteOptions.Preconditions.UID
		}
		s.c.mu.Lock()
		s.c.writes = append(s.c.writes, w)
		s.c.mu.Unlock()
	} else {
		s.c.record("create "+s.sub, obj)
	}
	return s.SubResourceClient.Create(ctx, obj, subResource, opts...)
}

func (s *countingSubResource) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	s.c.record("update "+s.sub, obj)
	return s.SubResourceClient.Update(ctx, obj, opts...)
}

func (s *countingSubResource) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	s.c.record("patch "+s.sub, obj)
	return s.SubResourceClient.Patch(ctx, obj, patch, opts...)
}

func (s *countingSubResource) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	s.c.mu.Lock()
	s.c.writes = append(s.c.writes, write{Verb: "apply " + s.sub, Object: fmt.Sprintf("%T", obj)})
	s.c.mu.Unlock()
	return s.SubResourceClient.Apply(ctx, obj, opts...)
}

// event is one Event the restarter emitted.
type event struct {
	Regarding string // "Kind namespace/name"
	Type      string
	Reason    string
	Note      string
}

// eventRecorder records Events in memory (events.EventRecorder).
type eventRecorder struct {
	mu     sync.Mutex
	events []event
}

func (r *eventRecorder) Eventf(regarding, _ runtime.Object, eventType, reason, _, note string, args ...any) {
	name := fmt.Sprintf("%T", regarding)
	if ref, ok := regarding.(*corev1.ObjectReference); ok {
		name = ref.Kind + " " + ref.Namespace + "/" + ref.Name
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{Regarding: name, Type: eventType, Reason: reason, Note: fmt.Sprintf(note, args...)})
}

// Count counts the Events with this reason about this object.
func (r *eventRecorder) Count(reason, regarding string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Reason == reason && e.Regarding == regarding {
			n++
		}
	}
	return n
}

// Note is the note of the last Event with this reason about this object.
func (r *eventRecorder) Note(reason, regarding string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	note := ""
	for _, e := range r.events {
		if e.Reason == reason && e.Regarding == regarding {
			note = e.Note
		}
	}
	return note
}
