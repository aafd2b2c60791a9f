package podlist

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// protobufMagic starts every Kubernetes protobuf body; a runtime.Unknown
// envelope follows, whose raw field is the PodList.
var protobufMagic = []byte("k8s\x00")

// maxObjectBytes bounds one pod's encoding. etcd refuses objects above
// 1.5 MiB by default; anything far larger is a corrupt length.
const maxObjectBytes = 64 << 20

// Field numbers from k8s.io/api/core/v1, k8s.io/apimachinery's meta/v1 and
// runtime generated.proto. Kubernetes keeps them stable across releases, as
// protobuf compatibility requires.
const (
	unknownTypeMeta = 1 // runtime.Unknown
	unknownRaw      = 2

	typeMetaKind = 2 // runtime.TypeMeta

	listMeta  = 1 // PodList
	listItems = 2

	listMetaContinue = 3 // ListMeta

	podMeta   = 1 // Pod
	podSpec   = 2
	podStatus = 3

	metaName              = 1 // ObjectMeta
	metaNamespace         = 3
	metaUID               = 5
	metaDeletionTimestamp = 9
	metaAnnotations       = 12
	metaOwnerReferences   = 13

	timeSeconds = 1 // meta/v1 Time

	mapKey   = 1 // map<string, string> entries
	mapValue = 2

	ownerKind               = 1 // OwnerReference
	ownerName               = 3
	ownerUID                = 4
	ownerAPIVersion         = 5
	ownerController         = 6
	ownerBlockOwnerDeletion = 7

	specContainers     = 2 // PodSpec
	specInitContainers = 20

	containerName          = 1 // Container
	containerImage         = 2
	containerArgs          = 4
	containerRestartPolicy = 24

	statusPhase      = 1 // PodStatus
	statusConditions = 2

	conditionType   = 1 // PodCondition
	conditionStatus = 2
)

// decodePage reads one LIST response body, protobuf or JSON, calls fn with
// each pod and returns the list's continue token.
func decodePage(r *bufio.Reader, fn func(*corev1.Pod)) (string, error) {
	head, err := r.Peek(len(protobufMagic))
	if bytes.Equal(head, protobufMagic) {
		_, _ = r.Discard(len(protobufMagic))
		return decodeProtobufPage(r, fn)
	}
	if trimmed := bytes.TrimLeft(head, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' {
		return decodeJSONPage(r, fn)
	}
	if err != nil {
		return "", fmt.Errorf("the response is too short for a pod list (%d bytes): %w", len(head), err)
	}
	return "", fmt.Errorf("the response is neither Kubernetes protobuf nor JSON: it starts with %q", head)
}

// decodeProtobufPage reads the runtime.Unknown envelope: its fields run to
// the end of the body.
func decodeProtobufPage(r *bufio.Reader, fn func(*corev1.Pod)) (string, error) {
	body := &wireReader{r: r, left: -1}
	var (
		cont    string
		sawList bool
	)
	for {
		num, typ, err := body.tag()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		if (num == unknownTypeMeta || num == unknownRaw) && typ != protowire.BytesType {
			return "", fmt.Errorf("envelope field %d has wire type %d, expected %d", num, typ, protowire.BytesType)
		}
		switch {
		case num == unknownTypeMeta:
			b, err := body.bytes(nil)
			if err != nil {
				return "", err
			}
			if kind, err := stringField(b, typeMetaKind); err != nil {
				return "", err
			} else if kind != "PodList" {
				return "", fmt.Errorf("expected a PodList, the API server sent a %q", kind)
			}
		case num == unknownRaw:
			n, err := body.length()
			if err != nil {
				return "", err
			}
			list := &wireReader{r: r, left: n}
			if cont, err = decodePodList(list, fn); err != nil {
				return "", err
			}
			body.consumed(n)
			sawList = true
		default:
			if err := body.skip(typ); err != nil {
				return "", err
			}
		}
	}
	if !sawList {
		return "", errors.New("the response holds no pod list")
	}
	return cont, nil
}

// decodePodList streams the PodList's fields: ListMeta, then one item at a
// time into a buffer reused for every pod.
func decodePodList(list *wireReader, fn func(*corev1.Pod)) (string, error) {
	var (
		cont string
		buf  []byte
	)
	for list.left > 0 {
		num, typ, err := list.tag()
		if err != nil {
			return "", err
		}
		if (num == listMeta || num == listItems) && typ != protowire.BytesType {
			return "", fmt.Errorf("pod list field %d has wire type %d, expected %d", num, typ, protowire.BytesType)
		}
		switch {
		case num == listMeta:
			b, err := list.bytes(nil)
			if err != nil {
				return "", err
			}
			if cont, err = stringField(b, listMetaContinue); err != nil {
				return "", fmt.Errorf("list metadata: %w", err)
			}
		case num == listItems:
			if buf, err = list.bytes(buf); err != nil {
				return "", err
			}
			pod, err := decodePod(buf)
			if err != nil {
				return "", err
			}
			fn(pod)
		default:
			if err := list.skip(typ); err != nil {
				return "", err
			}
		}
	}
	return cont, nil
}

func decodePod(b []byte) (*corev1.Pod, error) {
	pod := &corev1.Pod{}
	err := eachField(b, func(f field) error {
		switch f.num {
		case podMeta:
			return f.message(func(b []byte) error { return decodeObjectMeta(b, &pod.ObjectMeta) })
		case podSpec:
			return f.message(func(b []byte) error { return decodePodSpec(b, &pod.Spec) })
		case podStatus:
			return f.message(func(b []byte) error { return decodePodStatus(b, &pod.Status) })
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return pod, nil
}

func decodeObjectMeta(b []byte, m *metav1.ObjectMeta) error {
	return eachField(b, func(f field) error {
		switch f.num {
		case metaName:
			return f.string(&m.Name)
		case metaNamespace:
			return f.string(&m.Namespace)
		case metaUID:
			var uid string
			err := f.string(&uid)
			m.UID = types.UID(uid)
			return err
		case metaDeletionTimestamp:
			return f.message(func(b []byte) error {
				t, err := decodeTime(b)
				m.DeletionTimestamp = &t
				return err
			})
		case metaAnnotations:
			return f.message(func(b []byte) error {
				var k, v string
				err := eachField(b, func(f field) error {
					switch f.num {
					case mapKey:
						return f.string(&k)
					case mapValue:
						return f.string(&v)
					}
					return nil
				})
				if m.Annotations == nil {
					m.Annotations = map[string]string{}
				}
				m.Annotations[k] = v
				return err
			})
		case metaOwnerReferences:
			return f.message(func(b []byte) error {
				ref, err := decodeOwnerReference(b)
				m.OwnerReferences = append(m.OwnerReferences, ref)
				return err
			})
		}
		return nil
	})
}

// decodeTime decodes a meta/v1 Time as meta/v1 does: seconds only (its JSON
// form has no fractions, so protobuf readers drop them too), local time, and
// the zero time for an empty message.
func decodeTime(b []byte) (metav1.Time, error) {
	if len(b) == 0 {
		return metav1.Time{}, nil
	}
	var seconds uint64
	err := eachField(b, func(f field) error {
		if f.num == timeSeconds {
			return f.varint(&seconds)
		}
		return nil
	})
	return metav1.NewTime(time.Unix(int64(seconds), 0).Local()), err
}

func decodeOwnerReference(b []byte) (metav1.OwnerReference, error) {
	var ref metav1.OwnerReference
	err := eachField(b, func(f field) error {
		switch f.num {
		case ownerKind:
			return f.string(&ref.Kind)
		case ownerName:
			return f.string(&ref.Name)
		case ownerUID:
			var uid string
			err := f.string(&uid)
			ref.UID = types.UID(uid)
			return err
		case ownerAPIVersion:
			return f.string(&ref.APIVersion)
		case ownerController:
			return f.bool(&ref.Controller)
		case ownerBlockOwnerDeletion:
			return f.bool(&ref.BlockOwnerDeletion)
		}
		return nil
	})
	return ref, err
}

func decodePodSpec(b []byte, s *corev1.PodSpec) error {
	return eachField(b, func(f field) error {
		switch f.num {
		case specContainers:
			return f.message(func(b []byte) error {
				c, err := decodeContainer(b)
				s.Containers = append(s.Containers, c)
				return err
			})
		case specInitContainers:
			return f.message(func(b []byte) error {
				c, err := decodeContainer(b)
				s.InitContainers = append(s.InitContainers, c)
				return err
			})
		}
		return nil
	})
}

func decodeContainer(b []byte) (corev1.Container, error) {
	var c corev1.Container
	err := eachField(b, func(f field) error {
		switch f.num {
		case containerName:
			return f.string(&c.Name)
		case containerImage:
			return f.string(&c.Image)
		case containerArgs:
			var arg string
			err := f.string(&arg)
			c.Args = append(c.Args, arg)
			return err
		case containerRestartPolicy:
			var p string
			err := f.string(&p)
			policy := corev1.ContainerRestartPolicy(p)
			c.RestartPolicy = &policy
			return err
		}
		return nil
	})
	return c, err
}

func decodePodStatus(b []byte, s *corev1.PodStatus) error {
	return eachField(b, func(f field) error {
		switch f.num {
		case statusPhase:
			var phase string
			err := f.string(&phase)
			s.Phase = corev1.PodPhase(phase)
			return err
		case statusConditions:
			return f.message(func(b []byte) error {
				var c corev1.PodCondition
				err := eachField(b, func(f field) error {
					switch f.num {
					case conditionType:
						var t string
						err := f.string(&t)
						c.Type = corev1.PodConditionType(t)
						return err
					case conditionStatus:
						var st string
						err := f.string(&st)
						c.Status = corev1.ConditionStatus(st)
						return err
					}
					return nil
				})
				s.Conditions = append(s.Conditions, c)
				return err
			})
		}
		return nil
	})
}

// field is one field of a protobuf message held in memory.
type field struct {
	num protowire.Number
	typ protowire.Type
	// b is the content of a length-delimited field, v the value of a varint.
	b []byte
	v uint64
}

// eachField calls fn with every field of the message b, in order.
func eachField(b []byte, fn func(field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func (f field) wrongType(want protowire.Type) error {
	return fmt.Errorf("field %d has wire type %d, expected %d", f.num, f.typ, want)
}

// string copies the field's bytes: the buffer they are in is reused.
func (f field) string(dst *string) error {
	if f.typ != protowire.BytesType {
		return f.wrongType(protowire.BytesType)
	}
	*dst = string(f.b)
	return nil
}

func (f field) message(decode func([]byte) error) error {
	if f.typ != protowire.BytesType {
		return f.wrongType(protowire.BytesType)
	}
	return decode(f.b)
}

func (f field) varint(dst *uint64) error {
	if f.typ != protowire.VarintType {
		return f.wrongType(protowire.VarintType)
	}
	*dst = f.v
	return nil
}

func (f field) bool(dst **bool) error {
	if f.typ != protowire.VarintType {
		return f.wrongType(protowire.VarintType)
	}
	v := f.v != 0
	*dst = &v
	return nil
}

// stringField returns the string field num of the message b, "" if absent.
func stringField(b []byte, num protowire.Number) (string, error) {
	var s string
	err := eachField(b, func(f field) error {
		if f.num == num {
			return f.string(&s)
		}
		return nil
	})
	return s, err
}

// wireReader reads protobuf fields from a stream. left is what remains of
// the enclosing message, or -1 when the message runs to the end of the
// stream.
type wireReader struct {
	r    *bufio.Reader
	left int64
}

// ReadByte makes wireReader an io.ByteReader for binary.ReadUvarint. Inside
// a message of known length, the stream ending early is an error.
func (w *wireReader) ReadByte() (byte, error) {
	if w.left == 0 {
		return 0, io.EOF
	}
	b, err := w.r.ReadByte()
	if err != nil {
		if errors.Is(err, io.EOF) && w.left > 0 {
			return 0, io.ErrUnexpectedEOF
		}
		return 0, err
	}
	w.consumed(1)
	return b, nil
}

func (w *wireReader) consumed(n int64) {
	if w.left >= 0 {
		w.left -= n
	}
}

// tag reads the next field's tag; io.EOF means the message ended cleanly.
func (w *wireReader) tag() (protowire.Number, protowire.Type, error) {
	v, err := binary.ReadUvarint(w)
	if err != nil {
		return 0, 0, err
	}
	num, typ := protowire.DecodeTag(v)
	if num < protowire.MinValidNumber {
		return 0, 0, fmt.Errorf("invalid field number %d", num)
	}
	return num, typ, nil
}

// length reads the length of a length-delimited field and checks it fits.
func (w *wireReader) length() (int64, error) {
	v, err := binary.ReadUvarint(w)
	if err != nil {
		return 0, eofIsUnexpected(err)
	}
	if v > maxObjectBytes<<8 || (w.left >= 0 && int64(v) > w.left) {
		return 0, fmt.Errorf("a field of %d bytes overruns its message (%d bytes left)", v, w.left)
	}
	return int64(v), nil
}

// bytes reads a length-delimited field into buf, growing it when needed.
func (w *wireReader) bytes(buf []byte) ([]byte, error) {
	n, err := w.length()
	if err != nil {
		return nil, err
	}
	if n > maxObjectBytes {
		return nil, fmt.Errorf("an object of %d bytes is larger than any the API server stores", n)
	}
	if int64(cap(buf)) < n && n > trustedLength {
		// A length this large is more likely corrupt than a pod: let the
		// buffer grow with the bytes that really arrive.
		var b bytes.Buffer
		b.Grow(trustedLength)
		if read, err := b.ReadFrom(io.LimitReader(w.r, n)); err != nil || read < n {
			return nil, eofIsUnexpected(cmp.Or(err, io.EOF))
		}
		w.consumed(n)
		return b.Bytes(), nil
	}
	if int64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(w.r, buf); err != nil {
		return nil, eofIsUnexpected(err)
	}
	w.consumed(n)
	return buf, nil
}

// trustedLength is the largest field allocated in full before its bytes
// arrive; larger ones grow as they are read.
const trustedLength = 1 << 20

// skip passes over a field's value.
func (w *wireReader) skip(typ protowire.Type) error {
	var n int64
	switch typ {
	case protowire.VarintType:
		_, err := binary.ReadUvarint(w)
		return eofIsUnexpected(err)
	case protowire.Fixed32Type:
		n = 4
	case protowire.Fixed64Type:
		n = 8
	case protowire.BytesType:
		var err error
		if n, err = w.length(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unsupported wire type %d", typ)
	}
	if w.left >= 0 && n > w.left {
		return io.ErrUnexpectedEOF
	}
	if _, err := w.r.Discard(int(n)); err != nil {
		return eofIsUnexpected(err)
	}
	w.consumed(n)
	return nil
}

func eofIsUnexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// decodeJSONPage streams a JSON PodList: the metadata, then the items one
// at a time, each decoded whole and reduced to Slim.
func decodeJSONPage(r io.Reader, fn func(*corev1.Pod)) (string, error) {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return "", err
	}
	var cont string
	sawItems := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", err
		}
		switch tok {
		case "kind":
			var kind string
			if err := dec.Decode(&kind); err != nil {
				return "", err
			}
			if kind != "PodList" {
				return "", fmt.Errorf("expected a PodList, the API server sent a %q", kind)
			}
		case "metadata":
			var meta metav1.ListMeta
			if err := dec.Decode(&meta); err != nil {
				return "", fmt.Errorf("list metadata: %w", err)
			}
			cont = meta.Continue
		case "items":
			sawItems = true
			if err := decodeJSONItems(dec, fn); err != nil {
				return "", err
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return "", err
			}
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return "", err
	}
	if !sawItems {
		return "", errors.New("the response holds no pod list")
	}
	return cont, nil
}

func decodeJSONItems(dec *json.Decoder, fn func(*corev1.Pod)) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil { // "items": null
		return nil
	}
	if tok != json.Delim('[') {
		return fmt.Errorf("items: expected an array, found %v", tok)
	}
	for dec.More() {
		var pod corev1.Pod
		if err := dec.Decode(&pod); err != nil {
			return fmt.Errorf("items: %w", err)
		}
		fn(Slim(&pod))
	}
	return expectDelim(dec, ']')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return eofIsUnexpected(err)
	}
	if tok != want {
		return fmt.Errorf("expected %q in the JSON pod list, found %v", want, tok)
	}
	return nil
}
