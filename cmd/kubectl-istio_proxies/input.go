package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/api/resource"
)

// defaultMaxInput is how much manifest input is read unless --max-input-size
// says otherwise: far more than any real manifest, far less than memory.
const defaultMaxInput = 256 << 20

// inputFlags are the flags of reading manifests with -f.
type inputFlags struct {
	file    string
	maxSize string
}

func (f *inputFlags) register(fs *flag.FlagSet, usage string) {
	fs.StringVar(&f.file, "f", "", usage)
	fs.StringVar(&f.file, "filename", "", "same as -f")
	fs.StringVar(&f.maxSize, "max-input-size", "256Mi", "refuse manifest input larger than this (a quantity: 64Mi, 1Gi)")
}

// limit is --max-input-size in bytes.
func (f *inputFlags) limit() (int64, error) {
	q, err := resource.ParseQuantity(f.maxSize)
	if err != nil || q.Sign() <= 0 {
		return 0, fmt.Errorf("--max-input-size %q is not a positive size such as 256Mi", f.maxSize)
	}
	return q.Value(), nil
}

// readManifest reads the pod objects of -f FILE (or - for stdin), refusing
// binary input and input over the size limit with an error naming the file.
func (f *inputFlags) readManifest(stdin io.Reader) ([]podObject, error) {
	limit, err := f.limit()
	if err != nil {
		return nil, err
	}
	in, name := stdin, "stdin"
	if f.file != "-" {
		file, err := os.Open(f.file)
		if err != nil {
			return nil, fmt.Errorf("read manifest: %w", err)
		}
		defer file.Close()
		in, name = file, f.file
	}
	guarded, err := guardText(in, limit)
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", name, err)
	}
	objs, err := readPodObjects(guarded)
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", name, err)
	}
	return objs, nil
}

// Magic numbers of inputs that are certainly not manifests.
var binaryKinds = []struct {
	magic []byte
	what  string
}{
	{[]byte{0x1f, 0x8b}, "gzip-compressed: decompress it first (gunzip -c FILE | kubectl istio-proxies ... -f -)"},
	{[]byte("\x7fELF"), "an executable (ELF), not a manifest"},
	{[]byte("PK\x03\x04"), "a zip archive, not a manifest"},
}

// guardText returns a reader of in that fails on binary content (a known
// magic number, or any NUL byte, which no YAML or JSON text contains) and
// once more than limit bytes were read.
func guardText(in io.Reader, limit int64) (io.Reader, error) {
	br := bufio.NewReader(in)
	head, err := br.Peek(8)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	for _, b := range binaryKinds {
		if bytes.HasPrefix(head, b.magic) {
			return nil, fmt.Errorf("the input is %s", b.what)
		}
	}
	return &textReader{r: br, left: limit, limit: limit}, nil
}

// textReader passes text through, counting it against the limit. Its
// errors are sticky: a reader above it (bufio's Peek) may swallow an error
// once, and the next read must fail again, not go on past the bad bytes.
type textReader struct {
	r     io.Reader
	read  int64
	left  int64
	limit int64
	err   error
}

func (t *textReader) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	if t.left <= 0 {
		// One byte past the limit tells a file of exactly the limit from a larger one.
		var one [1]byte
		if n, _ := t.r.Read(one[:]); n > 0 {
			t.err = fmt.Errorf("the input is larger than %s (--max-input-size): split it, or raise the limit", resource.NewQuantity(t.limit, resource.BinarySI))
			return 0, t.err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > t.left {
		p = p[:t.left]
	}
	n, err := t.r.Read(p)
	if i := bytes.IndexByte(p[:n], 0); i >= 0 {
		t.err = fmt.Errorf("the input is binary, not YAML or JSON: a NUL byte at offset %d", t.read+int64(i))
		return 0, t.err
	}
	t.read += int64(n)
	t.left -= int64(n)
	return n, err
}
