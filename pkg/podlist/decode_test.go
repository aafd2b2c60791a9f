package podlist

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/gomega"
	"google.golang.org/protobuf/encoding/protowire"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	jsonserializer "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// deletionTime is a whole second in the local zone: both wire formats carry
// seconds only, and both official decoders return local times, so a pod
// holding it survives encoding unchanged.
var deletionTime = metav1.NewTime(time.Unix(1767225600, 0))

// InjectedPods are the pods the controllers of the workloads in
// pkg/sidecarmode/testdata/injected would create, one file per profile
// ("native", "regular-cni", ...; none means every file): what Istio's real
// injector writes is the bulk of what a LIST of a meshed cluster returns.
// Exported for the API server tests of podlist_test.
func InjectedPods(tb testing.TB, profiles ...string) []*corev1.Pod {
	tb.Helper()
	if len(profiles) == 0 {
		files, err := filepath.Glob("../sidecarmode/testdata/injected/*.yaml")
		if err != nil || len(files) == 0 {
			tb.Fatalf("no injected testdata found (%v)", err)
		}
		for _, f := range files {
			profiles = append(profiles, strings.TrimSuffix(filepath.Base(f), ".yaml"))
		}
	}
	var pods []*corev1.Pod
	for _, profile := range profiles {
		data, err := os.ReadFile(filepath.Join("../sidecarmode/testdata/injected", profile+".yaml"))
		if err != nil {
			tb.Fatal(err)
		}
		docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := docs.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				tb.Fatalf("%s: %v", profile, err)
			}
			var typeMeta metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &typeMeta); err != nil {
				tb.Fatalf("%s: %v", profile, err)
			}
			if typeMeta.Kind == "" { // a document of comments only
				continue
			}
			obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
			if err != nil {
				tb.Fatalf("%s: %v", profile, err)
			}
			pod := podOf(tb, obj)
			pod.Name = profile + "-" + pod.Name
			pod.UID = uidOf(pod.Namespace + "/" + pod.Name)
			pods = append(pods, pod)
		}
	}
	return pods
}

// podOf is the pod a workload's controller creates, owned as that
// controller would own it.
func podOf(tb testing.TB, obj runtime.Object) *corev1.Pod {
	owned := func(w metav1.Object, tpl corev1.PodTemplateSpec, podName, ownerAPIVersion, ownerKind, ownerName string) *corev1.Pod {
		pod := &corev1.Pod{ObjectMeta: tpl.ObjectMeta, Spec: tpl.Spec}
		pod.Name, pod.Namespace = podName, w.GetNamespace()
		pod.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: ownerAPIVersion, Kind: ownerKind, Name: ownerName,
			UID:        uidOf(w.GetNamespace() + "/" + ownerName),
			Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
		}}
		return pod
	}
	switch w := obj.(type) {
	case *corev1.Pod:
		w.Status = corev1.PodStatus{}
		return w
	case *appsv1.Deployment:
		rs := w.Name + "-5d9c7b8f6"
		return owned(w, w.Spec.Template, rs+"-x2x7q", "apps/v1", "ReplicaSet", rs)
	case *appsv1.StatefulSet:
		return owned(w, w.Spec.Template, w.Name+"-0", "apps/v1", "StatefulSet", w.Name)
	case *batchv1.Job:
		return owned(w, w.Spec.Template, w.Name+"-k7m2p", "batch/v1", "Job", w.Name)
	case *batchv1.CronJob:
		job := w.Name + "-29430720"
		return owned(w, w.Spec.JobTemplate.Spec.Template, job+"-q9w4z", "batch/v1", "Job", job)
	}
	tb.Fatalf("unexpected %T in the injected testdata", obj)
	return nil
}

func uidOf(s string) types.UID {
	h := sha256.Sum256([]byte(s))
	return types.UID(fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16]))
}

// SyntheticPods are the shapes the injected testdata lacks: pods being
// deleted, odd owner references, statuses, extreme annotations and args.
// Exported for the API server tests of podlist_test.
func SyntheticPods() []*corev1.Pod {
	pod := func(name string, change func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: "synthetic", UID: uidOf("synthetic/" + name),
				Labels: map[string]string{"app": name},
			},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/app:1.0"}}},
		}
		change(p)
		return p
	}
	manyArgs := []string{"--flag", "", "-x", "--unicode=ünïcödé ✓", strings.Repeat("long", 500)}
	for i := range 300 {
		manyArgs = append(manyArgs, fmt.Sprintf("--arg-%d=%d", i, i*i))
	}
	return []*corev1.Pod{
		pod("deleting", func(p *corev1.Pod) {
			p.DeletionTimestamp = deletionTime.DeepCopy()
			p.DeletionGracePeriodSeconds = ptr.To[int64](30)
			p.Finalizers = []string{"example.com/keep"}
		}),
		pod("deleting-with-nanoseconds", func(p *corev1.Pod) {
			p.DeletionTimestamp = ptr.To(metav1.NewTime(time.Unix(1767225601, 999999999)))
			p.Finalizers = []string{"example.com/keep"}
		}),
		pod("several-owners", func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{
				{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: uidOf("rs"), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)},
				{APIVersion: "v1", Kind: "ConfigMap", Name: "cm", UID: uidOf("cm"), Controller: ptr.To(false), BlockOwnerDeletion: ptr.To(false)},
				{APIVersion: "example.com/v1alpha1", Kind: "Thing", Name: "thing", UID: uidOf("thing")},
				{APIVersion: "batch/v1", Kind: "Job", Name: "job", UID: uidOf("job"), BlockOwnerDeletion: ptr.To(true)},
			}
		}),
		pod("no-containers", func(p *corev1.Pod) { p.Spec.Containers = nil }),
		pod("init-containers", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{
				{Name: "setup", Image: "busybox:1.37", Args: []string{"sh", "-c", "true"}},
				{Name: "log-shipper", Image: "fluent-bit:4", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)},
				{Name: "migrate", Image: "migrate:2", Args: []string{}},
				{Name: "istio-proxy", Image: "docker.io/istio/proxyv2:1.30.2", Args: []string{"proxy", "sidecar"}, RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)},
			}
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "second", Image: "second:1"})
		}),
		pod("many-args", func(p *corev1.Pod) { p.Spec.Containers[0].Args = manyArgs }),
		pod("empty-args", func(p *corev1.Pod) { p.Spec.Containers[0].Args = []string{} }),
		pod("empty-annotation-values", func(p *corev1.Pod) {
			p.Annotations = map[string]string{"a": "", "sidecar.istio.io/nativeSidecar": "", "z": ""}
		}),
		pod("unicode-annotations", func(p *corev1.Pod) {
			p.Annotations = map[string]string{
				"example.com/greeting": "Grüße, 世界 🚀",
				"example.com/quotes":   `"quoted" \ back\slash <tag> & amp`,
				"example.com/control":  "tab\tnewline\nnul\x00end",
			}
		}),
		pod("managed-fields", func(p *corev1.Pod) {
			p.ManagedFields = []metav1.ManagedFieldsEntry{
				{
					Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate,
					APIVersion: "v1", Time: deletionTime.DeepCopy(), FieldsType: "FieldsV1",
					FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:image":{},"f:name":{}}}}}`)},
				},
				{
					Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status",
					APIVersion: "v1", Time: deletionTime.DeepCopy(), FieldsType: "FieldsV1",
					FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:status":{"f:phase":{}}}`)},
				},
			}
			p.Annotations = map[string]string{"kept": "yes"}
		}),
		pod("large-annotation", func(p *corev1.Pod) {
			p.Annotations = map[string]string{"example.com/large": strings.Repeat("0123456789abcdef", 100<<10/16), "small": "s"}
		}),
		pod("running-with-conditions", func(p *corev1.Pod) {
			p.Status = corev1.PodStatus{
				Phase: corev1.PodRunning,
				Conditions: []corev1.PodCondition{
					{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: deletionTime},
					{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
					{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", Message: "containers with unready status: [app]"},
					{Type: corev1.ContainersReady, Status: corev1.ConditionUnknown},
					{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastProbeTime: deletionTime},
					{Type: "example.com/Gate", Status: corev1.ConditionTrue},
				},
				HostIP: "10.0.0.1", PodIP: "10.1.0.7", QOSClass: corev1.PodQOSBestEffort,
				ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, RestartCount: 3, Image: "registry.example.com/app:1.0"}},
			}
		}),
		pod("pending", func(p *corev1.Pod) {
			p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable"},
			}}
		}),
		pod("succeeded", func(p *corev1.Pod) {
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			p.Status = corev1.PodStatus{Phase: corev1.PodSucceeded, Conditions: []corev1.PodCondition{
				{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "PodCompleted"},
			}}
		}),
		pod("everything", func(p *corev1.Pod) {
			p.GenerateName = "everything-"
			p.DeletionTimestamp = deletionTime.DeepCopy()
			p.Finalizers = []string{"example.com/keep"}
			p.Annotations = map[string]string{"sidecar.istio.io/status": `{"initContainers":["istio-proxy"]}`, "empty": ""}
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "everything", UID: uidOf("everything"), Controller: ptr.To(true)}}
			p.Spec.InitContainers = []corev1.Container{{Name: "istio-proxy", Image: "proxyv2:1.30.2", Args: []string{"proxy"}, RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}
			p.Spec.Containers[0].Args = []string{"serve"}
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "b"}}
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}
			p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		}),
	}
}

// wantPod is what decoding must give for pod: Slim's projection, with the
// deletion timestamp cut to whole seconds, since neither wire format
// carries more.
func wantPod(pod *corev1.Pod) *corev1.Pod {
	want := Slim(pod)
	if want.DeletionTimestamp != nil {
		want.DeletionTimestamp = ptr.To(metav1.NewTime(time.Unix(want.DeletionTimestamp.Unix(), 0)))
	}
	return want
}

func wantPods(pods []*corev1.Pod) []*corev1.Pod {
	var want []*corev1.Pod
	for _, p := range pods {
		want = append(want, wantPod(p))
	}
	return want
}

func podList(pods []*corev1.Pod, cont string) *corev1.PodList {
	list := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "4711", Continue: cont}}
	if cont != "" {
		list.RemainingItemCount = ptr.To[int64](123)
	}
	for _, p := range pods {
		list.Items = append(list.Items, *p)
	}
	return list
}

// wireFormat is one way an API server writes a list.
type wireFormat struct {
	name       string
	serializer runtime.Serializer
}

// wireFormats are what kube-apiserver writes: protobuf and JSON, whole or,
// with its StreamingCollectionEncodingTo* features, item by item; the
// pretty JSON stands for a proxy that reformats.
var wireFormats = []wireFormat{
	{"protobuf", protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)},
	{"protobuf streaming", protobuf.NewSerializerWithOptions(scheme.Scheme, scheme.Scheme, protobuf.SerializerOptions{StreamingCollectionsEncoding: true})},
	{"json", jsonserializer.NewSerializerWithOptions(jsonserializer.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, jsonserializer.SerializerOptions{})},
	{"json streaming", jsonserializer.NewSerializerWithOptions(jsonserializer.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, jsonserializer.SerializerOptions{StreamingCollectionsEncoding: true})},
	{"json pretty", jsonserializer.NewSerializerWithOptions(jsonserializer.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, jsonserializer.SerializerOptions{Pretty: true})},
}

var (
	protobufFormat = wireFormats[0]
	jsonFormat     = wireFormats[2]
	jsonFormats    = wireFormats[2:]
)

// encode writes list as the API server does: through a versioning codec,
// which sets apiVersion v1 and kind PodList (in the protobuf envelope's
// typeMeta, or the JSON object's fields).
func (f wireFormat) encode(tb testing.TB, list *corev1.PodList) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := scheme.Codecs.EncoderForVersion(f.serializer, corev1.SchemeGroupVersion).Encode(list, &buf); err != nil {
		tb.Fatalf("%s: encode: %v", f.name, err)
	}
	return buf.Bytes()
}

// officialDecode is what a typed client makes of body.
func (f wireFormat) officialDecode(tb testing.TB, body []byte) *corev1.PodList {
	tb.Helper()
	var list corev1.PodList
	if _, _, err := f.serializer.Decode(body, nil, &list); err != nil {
		tb.Fatalf("%s: official decoder: %v", f.name, err)
	}
	return &list
}

// readers hand decodePage the body as Page does, and one byte per read, as
// a slow connection delivers it.
var readers = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"whole", func(r io.Reader) io.Reader { return r }},
	{"one byte per read", iotest.OneByteReader},
}

type decoded struct {
	pods []*corev1.Pod
	cont string
	err  error
}

func decode(r io.Reader) decoded {
	var d decoded
	d.cont, d.err = decodePage(bufio.NewReaderSize(r, 64<<10), func(p *corev1.Pod) { d.pods = append(d.pods, p) })
	return d
}

func decodeBytes(body []byte) decoded { return decode(bytes.NewReader(body)) }

// expectPods compares pod by pod, with a diff: a whole-list mismatch of
// pods with 100 KiB annotations is unreadable.
func expectPods(g Gomega, got, want []*corev1.Pod) {
	g.Expect(got).To(HaveLen(len(want)), "number of pods")
	for i := range want {
		g.Expect(got[i]).To(Equal(want[i]), func() string {
			return fmt.Sprintf("pod %d (%s/%s), -want +got:\n%s", i, want[i].Namespace, want[i].Name, cmp.Diff(want[i], got[i]))
		})
	}
}

// The loader skips what it does not recognise as a document; this keeps it
// from silently dropping the pods that matter.
func TestInjectedPodsCoverTheTestdata(t *testing.T) {
	g := NewWithT(t)
	pods := InjectedPods(t)
	// 8 profiles of 16 workloads each.
	g.Expect(pods).To(HaveLen(128))
	var nativeSidecars, regularSidecars, owned int
	for _, p := range pods {
		for _, c := range p.Spec.InitContainers {
			if c.Name == "istio-proxy" && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				nativeSidecars++
			}
		}
		for _, c := range p.Spec.Containers {
			if c.Name == "istio-proxy" {
				regularSidecars++
			}
		}
		if len(p.OwnerReferences) > 0 {
			owned++
		}
	}
	g.Expect(nativeSidecars).To(BeNumerically(">", 10))
	g.Expect(regularSidecars).To(BeNumerically(">", 10))
	g.Expect(owned).To(BeNumerically(">", 40))
}

// TestFixturesAreWhatTheAPIServerSends pins the ground the other tests
// stand on: the encodings have the envelope kube-apiserver writes, and the
// official decoders give back exactly wantPod of every fixture, so a
// mismatch in decodePage is decodePage's.
func TestFixturesAreWhatTheAPIServerSends(t *testing.T) {
	pods := append(InjectedPods(t), SyntheticPods()...)
	list := podList(pods, "tok-123")
	for _, f := range wireFormats {
		t.Run(f.name, func(t *testing.T) {
			g := NewWithT(t)
			body := f.encode(t, list)
			if strings.HasPrefix(f.name, "protobuf") {
				g.Expect(body[:4]).To(Equal([]byte("k8s\x00")))
				var unknown runtime.Unknown
				g.Expect(unknown.Unmarshal(body[4:])).To(Succeed())
				g.Expect(unknown.TypeMeta).To(Equal(runtime.TypeMeta{APIVersion: "v1", Kind: "PodList"}))
				g.Expect(unknown.ContentType).To(BeEmpty())
			} else {
				var head metav1.TypeMeta
				g.Expect(yaml.Unmarshal(body, &head)).To(Succeed())
				g.Expect(head).To(Equal(metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"}))
			}
			official := f.officialDecode(t, body)
			g.Expect(official.Continue).To(Equal("tok-123"))
			var got []*corev1.Pod
			for i := range official.Items {
				got = append(got, Slim(&official.Items[i]))
			}
			expectPods(g, got, wantPods(pods))
		})
	}
}

func TestDecodePage(t *testing.T) {
	varied := append(InjectedPods(t), SyntheticPods()...)
	pages := []struct {
		name string
		pods []*corev1.Pod
		cont string
	}{
		{"varied pods, more pages follow", varied, "tok-123"},
		{"varied pods, last page", varied, ""},
		{"one pod, last page", varied[len(varied)-1:], ""},
		{"empty list", nil, ""},
		{"empty page with a continue token", nil, "tok-456"},
	}
	for _, f := range wireFormats {
		for _, page := range pages {
			body := f.encode(t, podList(page.pods, page.cont))
			for _, r := range readers {
				t.Run(f.name+"/"+page.name+"/"+r.name, func(t *testing.T) {
					g := NewWithT(t)
					got := decode(r.wrap(bytes.NewReader(body)))
					g.Expect(got.err).NotTo(HaveOccurred())
					g.Expect(got.cont).To(Equal(page.cont))
					expectPods(g, got.pods, wantPods(page.pods))
				})
			}
		}
	}
}

// TestDecodePageCallsFnAsItReads checks the point of the package: pods
// reach fn while the rest of the body is still unread.
func TestDecodePageCallsFnAsItReads(t *testing.T) {
	g := NewWithT(t)
	pods := InjectedPods(t, "native")
	body := protobufFormat.encode(t, podList(pods, "tok"))
	counter := &countingReader{r: bytes.NewReader(body)}
	var readAtFirstPod int
	_, err := decodePage(bufio.NewReaderSize(counter, 4096), func(*corev1.Pod) {
		if readAtFirstPod == 0 {
			readAtFirstPod = counter.n
		}
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(readAtFirstPod).To(BeNumerically("<", len(body)/2), "bytes read before the first pod was handed over, of %d", len(body))
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// Protobuf messages built by hand, for what no official encoder writes but
// a decoder must still read as the official one does.

func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	return appendMessage(b, num, []byte(s))
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// unknownFields are fields of numbers no Kubernetes message uses (yet), of
// every wire type a newer API server may send (not groups: no Kubernetes
// message has one).
func unknownFields() []byte {
	var b []byte
	b = appendVarint(b, 990, 1<<40)
	b = appendString(b, 991, "from the future")
	b = protowire.AppendTag(b, 992, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, 7)
	b = protowire.AppendTag(b, 993, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, 7)
}

func marshal(tb testing.TB, m interface{ Marshal() ([]byte, error) }) []byte {
	tb.Helper()
	b, err := m.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// envelope wraps raw, the bytes of a PodList, as kube-apiserver does.
func envelope(tb testing.TB, raw []byte, extra ...byte) []byte {
	unknown := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: "v1", Kind: "PodList"}, Raw: raw}
	return append(append([]byte("k8s\x00"), marshal(tb, &unknown)...), extra...)
}

func listMetaBytes(tb testing.TB, cont string) []byte {
	return marshal(tb, &metav1.ListMeta{ResourceVersion: "4711", Continue: cont})
}

func podBytes(tb testing.TB, pod *corev1.Pod) []byte { return marshal(tb, pod) }

// TestDecodePageReadsProtobufAsTheOfficialDecoder feeds valid protobuf that
// no official encoder writes and expects what a typed client would see:
// Slim of the official decoder's pods.
func TestDecodePageReadsProtobufAsTheOfficialDecoder(t *testing.T) {
	synthetic := SyntheticPods()
	everything := synthetic[len(synthetic)-1]
	injected := InjectedPods(t, "native")[0]
	cases := []struct {
		name string
		raw  func() []byte
	}{
		{"unknown fields in the list, the pods and their metadata", func() []byte {
			meta := append(marshal(t, &everything.ObjectMeta), unknownFields()...)
			spec := append(marshal(t, &everything.Spec), unknownFields()...)
			var pod []byte
			pod = appendMessage(pod, 1, meta)
			pod = append(pod, unknownFields()...)
			pod = appendMessage(pod, 2, spec)
			pod = appendMessage(pod, 3, marshal(t, &everything.Status))
			var list []byte
			list = append(list, unknownFields()...)
			list = appendMessage(list, 1, listMetaBytes(t, "tok-unknown"))
			list = appendMessage(list, 2, pod)
			list = append(list, unknownFields()...)
			return appendMessage(list, 2, podBytes(t, injected))
		}},
		{"list metadata after the items", func() []byte {
			var list []byte
			list = appendMessage(list, 2, podBytes(t, injected))
			list = appendMessage(list, 2, podBytes(t, everything))
			return appendMessage(list, 1, listMetaBytes(t, "tok-at-the-end"))
		}},
		{"pod fields in reverse order", func() []byte {
			var pod []byte
			pod = appendMessage(pod, 3, marshal(t, &everything.Status))
			pod = appendMessage(pod, 2, marshal(t, &everything.Spec))
			pod = appendMessage(pod, 1, marshal(t, &everything.ObjectMeta))
			return appendMessage(appendMessage(nil, 1, listMetaBytes(t, "")), 2, pod)
		}},
		{"metadata split in two: the parts merge, the last name wins", func() []byte {
			var first, second, pod []byte
			first = appendString(first, 1, "first-name")
			first = appendString(first, 3, "ns")
			first = appendMessage(first, 12, appendString(appendString(nil, 1, "a"), 2, "1"))
			second = appendString(second, 1, "second-name")
			second = appendMessage(second, 12, appendString(appendString(nil, 1, "b"), 2, "2"))
			pod = appendMessage(pod, 1, first)
			pod = appendMessage(pod, 1, second)
			return appendMessage(appendMessage(nil, 1, listMetaBytes(t, "")), 2, pod)
		}},
		{"deletion timestamp with nanoseconds on the wire", func() []byte {
			ts := appendVarint(appendVarint(nil, 1, 1767225600), 2, 999999999)
			meta := appendMessage(appendString(nil, 1, "nanos"), 9, ts)
			return appendMessage(appendMessage(nil, 1, listMetaBytes(t, "")), 2, appendMessage(nil, 1, meta))
		}},
		{"empty deletion timestamp message", func() []byte {
			meta := appendMessage(appendString(nil, 1, "zero-time"), 9, nil)
			return appendMessage(appendMessage(nil, 1, listMetaBytes(t, "")), 2, appendMessage(nil, 1, meta))
		}},
		{"no list metadata", func() []byte {
			return appendMessage(nil, 2, podBytes(t, injected))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			body := envelope(t, tc.raw())
			official := protobufFormat.officialDecode(t, body)
			var want []*corev1.Pod
			for i := range official.Items {
				want = append(want, Slim(&official.Items[i]))
			}
			got := decodeBytes(body)
			g.Expect(got.err).NotTo(HaveOccurred())
			g.Expect(got.cont).To(Equal(official.Continue))
			expectPods(g, got.pods, want)
		})
	}
}

func TestDecodePageReadsJSONAsTheOfficialDecoder(t *testing.T) {
	cases := []struct{ name, body string }{
		{"metadata after the items", `{"items":[{"metadata":{"name":"a","namespace":"ns","annotations":{"k":"v"}},"spec":{"containers":[{"name":"c","image":"i","args":[]}]}}],"kind":"PodList","apiVersion":"v1","metadata":{"continue":"tok-last"}}`},
		{"items null", `{"kind":"PodList","apiVersion":"v1","metadata":{"continue":"tok"},"items":null}`},
		{"an item null", `{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[null,{"metadata":{"name":"b"}}]}`},
		{"unknown fields", `{"kind":"PodList","apiVersion":"v1","future":{"x":[1,2,{"y":null}]},"metadata":{"continue":"c","future":1},"items":[{"future":true,"metadata":{"name":"a","future":"x","deletionTimestamp":"2026-01-01T00:00:00Z"},"status":{"phase":"Running","future":[]}}]}`},
		{"fractional seconds", `{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"a","deletionTimestamp":"2026-01-01T00:00:00.5Z"}}]}`},
		{"empty maps and lists", `{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"a","annotations":{},"ownerReferences":[]},"spec":{"containers":[],"initContainers":[]},"status":{"conditions":[]}}]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			official := jsonFormat.officialDecode(t, []byte(tc.body))
			var want []*corev1.Pod
			for i := range official.Items {
				want = append(want, Slim(&official.Items[i]))
			}
			got := decodeBytes([]byte(tc.body))
			g.Expect(got.err).NotTo(HaveOccurred())
			g.Expect(got.cont).To(Equal(official.Continue))
			expectPods(g, got.pods, want)
		})
	}
}

// fewPods keep bodies small enough to cut at every length.
func fewPods(tb testing.TB) []*corev1.Pod {
	synthetic := SyntheticPods()
	return []*corev1.Pod{synthetic[0], synthetic[2], synthetic[len(synthetic)-1], InjectedPods(tb, "native-cni")[0]}
}

// A body cut short must never look like a shorter page: that would end a
// scan early, or skip pods, without anyone noticing.
func TestDecodePageRejectsTruncatedProtobuf(t *testing.T) {
	g := NewWithT(t)
	pods := fewPods(t)
	body := protobufFormat.encode(t, podList(pods, "tok-123"))
	// The envelope ends with its empty contentEncoding (field 3) and
	// contentType (field 4); cut just before either, the body is still a
	// whole, valid message, which the official decoder accepts too.
	trailer := []byte{0x1a, 0x00, 0x22, 0x00}
	g.Expect(body).To(HaveSuffix(string(trailer)))
	rawEnd := len(body) - len(trailer)
	for n := range rawEnd {
		got := decodeBytes(body[:n])
		if got.err == nil {
			t.Fatalf("a body cut to %d of %d bytes decoded without error: %d pods, continue %q", n, len(body), len(got.pods), got.cont)
		}
		if len(got.pods) >= len(pods) {
			t.Fatalf("a body cut to %d of %d bytes handed over all %d pods", n, len(body), len(pods))
		}
	}
	for _, n := range []int{rawEnd + 1, rawEnd + 3} {
		g.Expect(decodeBytes(body[:n]).err).To(HaveOccurred(), "cut in the middle of a trailing field, at %d of %d bytes", n, len(body))
	}
	for _, n := range []int{rawEnd, rawEnd + 2, len(body)} {
		got := decodeBytes(body[:n])
		g.Expect(got.err).NotTo(HaveOccurred(), "cut between fields, at %d of %d bytes", n, len(body))
		g.Expect(got.cont).To(Equal("tok-123"))
		expectPods(g, got.pods, wantPods(pods))
	}
}

// The same over a large body, at a few hundred lengths: long fields
// (100 KiB annotations, managed fields) cross the reader's buffer.
func TestDecodePageRejectsTruncatedLargeProtobuf(t *testing.T) {
	pods := append(InjectedPods(t, "native", "regular"), SyntheticPods()...)
	body := protobufFormat.encode(t, podList(pods, "tok-123"))
	rawEnd := len(body) - 4
	for i := range 400 {
		n := rawEnd * i / 400
		if got := decodeBytes(body[:n]); got.err == nil {
			t.Fatalf("a body cut to %d of %d bytes decoded without error: %d pods, continue %q", n, len(body), len(got.pods), got.cont)
		}
	}
}

// A pod larger than trustedLength takes the path that grows its buffer as
// the bytes arrive; cut short, it fails like any other.
func TestDecodePageReadsAPodLargerThanTheTrustedLength(t *testing.T) {
	g := NewWithT(t)
	few := fewPods(t)
	huge := few[0].DeepCopy()
	huge.Annotations = map[string]string{"huge": strings.Repeat("x", 2*trustedLength)}
	pods := []*corev1.Pod{huge, few[1]}
	body := protobufFormat.encode(t, podList(pods, "tok-1"))
	got := decodeBytes(body)
	g.Expect(got.err).NotTo(HaveOccurred())
	g.Expect(got.cont).To(Equal("tok-1"))
	expectPods(g, got.pods, wantPods(pods))
	for _, n := range []int{len(body) / 4, len(body) / 2, len(body) * 3 / 4} {
		g.Expect(decodeBytes(body[:n]).err).To(HaveOccurred(), "cut to %d of %d bytes", n, len(body))
	}
}

func TestDecodePageRejectsTruncatedJSON(t *testing.T) {
	for _, f := range jsonFormats {
		t.Run(f.name, func(t *testing.T) {
			pods := fewPods(t)
			body := bytes.TrimRight(f.encode(t, podList(pods, "tok-123")), " \n")
			for _, n := range cutPoints(len(body)) {
				if got := decodeBytes(body[:n]); got.err == nil {
					t.Fatalf("a body cut to %d of %d bytes decoded without error: %d pods, continue %q; it ends with %q", n, len(body), len(got.pods), got.cont, body[max(0, n-40):n])
				}
			}
		})
	}
}

// cutPoints are the lengths to cut a JSON body of size bytes to: every one
// near the start and the end, where the list's own syntax is, and 500 spread
// over the items (decoding JSON is slow enough that every length of every
// format takes seconds).
func cutPoints(size int) []int {
	var cuts []int
	for n := range size {
		if n < 512 || n >= size-512 || n%max(1, size/500) == 0 {
			cuts = append(cuts, n)
		}
	}
	return cuts
}

// malformedInputs are bodies decodePage must refuse, with a word of the
// error it must give; shared with the fuzz test's seeds.
func malformedInputs(tb testing.TB) []struct {
	name, body, errorMentions string
} {
	validRaw := appendMessage(appendMessage(nil, 1, listMetaBytes(tb, "tok")), 2, podBytes(tb, SyntheticPods()[0]))
	protobufWith := func(raw []byte) string { return string(envelope(tb, raw)) }
	var hugeRaw []byte
	hugeRaw = append(hugeRaw, "k8s\x00"...)
	hugeRaw = appendMessage(hugeRaw, 1, appendString(appendString(nil, 1, "v1"), 2, "PodList"))
	hugeRaw = protowire.AppendTag(hugeRaw, 2, protowire.BytesType)
	hugeRaw = protowire.AppendVarint(hugeRaw, 1<<62)
	itemTooLong := appendMessage(nil, 1, listMetaBytes(tb, "tok"))
	itemTooLong = protowire.AppendTag(itemTooLong, 2, protowire.BytesType)
	itemTooLong = protowire.AppendVarint(itemTooLong, 1000)
	itemTooLong = append(itemTooLong, "short"...)
	status := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: "v1", Kind: "Status"}, Raw: marshal(tb, &metav1.Status{Status: "Failure", Code: 500})}
	return []struct{ name, body, errorMentions string }{
		{"empty body", "", "short"},
		{"an HTML error page", "<html><body><h1>502 Bad Gateway</h1></body></html>", "neither"},
		{"part of the protobuf magic", "k8s", "short"},
		{"the protobuf magic alone", "k8s\x00", "no pod list"},
		{"a JSON array", `[{"kind":"Pod"}]`, "neither"},
		{"JSON null", "null", "neither"},
		{"a protobuf Status", "k8s\x00" + string(marshal(tb, &status)), "Status"},
		{"a JSON Status", `{"kind":"Status","apiVersion":"v1","status":"Failure","code":500,"items":[]}`, "Status"},
		{"a raw field longer than the body", string(envelope(tb, validRaw))[:len(envelope(tb, validRaw))-20], ""},
		{"a raw field of 2^62 bytes", string(hugeRaw) + "tiny", ""},
		{"an item longer than the list", protobufWith(itemTooLong), ""},
		{"a varint of eleven bytes", "k8s\x00\x0a" + strings.Repeat("\xff", 11), ""},
		{"list items of the varint wire type", protobufWith(appendVarint(appendMessage(nil, 1, listMetaBytes(tb, "tok")), 2, 1)), ""},
		{"list metadata of the varint wire type", protobufWith(appendMessage(appendVarint(nil, 1, 1), 2, podBytes(tb, SyntheticPods()[0]))), ""},
		{"a pod name of the varint wire type", protobufWith(appendMessage(nil, 2, appendMessage(nil, 1, appendVarint(nil, 1, 7)))), ""},
		{"an end-group tag without a start", protobufWith(appendMessage(nil, 2, protowire.AppendTag(nil, 5, protowire.EndGroupType))), ""},
		{"field number zero", protobufWith([]byte{0x02, 0x00}), ""},
		{"JSON without items", `{"kind":"PodList","apiVersion":"v1","metadata":{"continue":"tok"}}`, "no pod list"},
		{"JSON items of the wrong type", `{"kind":"PodList","items":{"a":1}}`, "items"},
		{"a JSON item of the wrong type", `{"kind":"PodList","items":[1]}`, "items"},
		{"a JSON continue token of the wrong type", `{"kind":"PodList","metadata":{"continue":5},"items":[]}`, "metadata"},
		{"JSON that stops inside the items", `{"kind":"PodList","items":[{"metadata":{"name":"a"}},`, ""},
	}
}

func TestDecodePageRejectsMalformedInput(t *testing.T) {
	for _, tc := range malformedInputs(t) {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got := decodeBytes([]byte(tc.body))
			g.Expect(got.err).To(HaveOccurred(), "%d pods handed over, continue %q", len(got.pods), got.cont)
			g.Expect(got.err.Error()).To(ContainSubstring(tc.errorMentions))
		})
	}
}

// FuzzDecodePage's seeds are small on purpose: the fuzzer minimizes every
// input that finds new code, and the test binary is large enough (all of
// client-go's types) that each run costs half a millisecond, so a 10 KiB
// seed would have it minimizing instead of fuzzing.
func FuzzDecodePage(f *testing.F) {
	synthetic := SyntheticPods()
	small := []*corev1.Pod{synthetic[0], synthetic[2], synthetic[len(synthetic)-1]}
	for _, format := range []wireFormat{protobufFormat, jsonFormat} {
		f.Add(format.encode(f, podList(small, "tok-123")))
		f.Add(format.encode(f, podList(nil, "")))
	}
	for _, tc := range malformedInputs(f) {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var nilPods, pods int
		_, err := decodePage(bufio.NewReaderSize(bytes.NewReader(body), 64<<10), func(p *corev1.Pod) {
			pods++
			if p == nil {
				nilPods++
			}
		})
		if err == nil && nilPods > 0 {
			t.Fatalf("%d of %d pods handed over were nil", nilPods, pods)
		}
	})
}

// realisticPods are n pods cycling through the injected ones, carrying what
// a running cluster adds: a scheduled spec, a full status, and the managed
// fields of the controller that created the pod and of the kubelet.
func realisticPods(b *testing.B, n int) []*corev1.Pod {
	b.Helper()
	converter := applyconfigurations.NewTypeConverter(scheme.Scheme)
	// managedFields computes the field sets the API server would record:
	// the controller owns what it created, the kubelet what the status
	// update added.
	managedFields := func(created, running *corev1.Pod, at *metav1.Time) []metav1.ManagedFieldsEntry {
		toTyped := func(pod *corev1.Pod) runtime.Object {
			pod = pod.DeepCopy()
			pod.APIVersion, pod.Kind = "v1", "Pod" // how the converter finds the schema
			return pod
		}
		createdTyped, err := converter.ObjectToTyped(toTyped(created))
		if err != nil {
			b.Fatal(err)
		}
		runningTyped, err := converter.ObjectToTyped(toTyped(running))
		if err != nil {
			b.Fatal(err)
		}
		controllerSet, err := createdTyped.ToFieldSet()
		if err != nil {
			b.Fatal(err)
		}
		allSet, err := runningTyped.ToFieldSet()
		if err != nil {
			b.Fatal(err)
		}
		controllerFields, err := controllerSet.ToJSON()
		if err != nil {
			b.Fatal(err)
		}
		kubeletFields, err := allSet.Difference(controllerSet).ToJSON()
		if err != nil {
			b.Fatal(err)
		}
		return []metav1.ManagedFieldsEntry{
			{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: at, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: controllerFields}},
			{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: at, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: kubeletFields}, Subresource: "status"},
		}
	}
	created := metav1.NewTime(time.Unix(1767225600, 0))
	injected := InjectedPods(b)
	var pods []*corev1.Pod
	for i := range n {
		pod := injected[i%len(injected)].DeepCopy()
		pod.Name = fmt.Sprintf("%s-%d", pod.Name, i)
		pod.UID = uidOf(pod.Name)
		pod.ResourceVersion = fmt.Sprint(100000 + i)
		pod.CreationTimestamp = created
		pod.Spec.NodeName = fmt.Sprintf("node-%d", i%50)
		pod.Spec.ServiceAccountName = "default"
		pod.Spec.SchedulerName = corev1.DefaultSchedulerName
		pod.Spec.DNSPolicy = corev1.DNSClusterFirst
		pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
		pod.Spec.Priority = ptr.To[int32](0)
		pod.Spec.EnableServiceLinks = ptr.To(true)
		pod.Spec.PreemptionPolicy = ptr.To(corev1.PreemptLowerPriority)
		pod.Spec.Tolerations = []corev1.Toleration{
			{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
			{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
		}
		running := pod.DeepCopy()
		running.Status = corev1.PodStatus{
			Phase:     corev1.PodRunning,
			HostIP:    "10.0.0.1",
			HostIPs:   []corev1.HostIP{{IP: "10.0.0.1"}},
			PodIP:     fmt.Sprintf("10.1.%d.%d", i/250, i%250),
			PodIPs:    []corev1.PodIP{{IP: fmt.Sprintf("10.1.%d.%d", i/250, i%250)}},
			StartTime: &created,
			QOSClass:  corev1.PodQOSBurstable,
		}
		for _, t := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled} {
			running.Status.Conditions = append(running.Status.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: created})
		}
		statusOf := func(c corev1.Container) corev1.ContainerStatus {
			return corev1.ContainerStatus{
				Name: c.Name, Image: c.Image, ImageID: c.Image + "@sha256:" + strings.Repeat("ab", 32),
				ContainerID: "containerd://" + strings.Repeat("cd", 32), Ready: true, Started: ptr.To(true),
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: created}},
			}
		}
		for _, c := range running.Spec.InitContainers {
			running.Status.InitContainerStatuses = append(running.Status.InitContainerStatuses, statusOf(c))
		}
		for _, c := range running.Spec.Containers {
			running.Status.ContainerStatuses = append(running.Status.ContainerStatuses, statusOf(c))
		}
		running.ManagedFields = managedFields(pod, running, &created)
		pods = append(pods, running)
	}
	return pods
}

// BenchmarkDecodePage compares decodePage with what a typed LIST costs, on
// a page of 500 pods as kube-apiserver sends it.
func BenchmarkDecodePage(b *testing.B) {
	const pageSize = 500
	body := protobufFormat.encode(b, podList(realisticPods(b, pageSize), "tok-123"))
	b.Logf("a page of %d pods is %.1f MiB of protobuf", pageSize, float64(len(body))/(1<<20))

	b.Run("decodePage", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			n := 0
			_, err := decodePage(bufio.NewReaderSize(bytes.NewReader(body), 64<<10), func(*corev1.Pod) { n++ })
			if err != nil || n != pageSize {
				b.Fatalf("%d pods, %v", n, err)
			}
		}
	})
	// As client-go does: the whole body in memory, then decoded whole.
	b.Run("official protobuf decoder", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			data, err := io.ReadAll(bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			var list corev1.PodList
			if _, _, err := protobufFormat.serializer.Decode(data, nil, &list); err != nil || len(list.Items) != pageSize {
				b.Fatalf("%d pods, %v", len(list.Items), err)
			}
		}
	})
}
