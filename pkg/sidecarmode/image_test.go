package sidecarmode

import (
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestParseImage(t *testing.T) {
	tests := []struct {
		ref     string
		want    ImageRef
		version string
	}{
		{
			ref:     "docker.io/istio/proxyv2:1.30.2",
			want:    ImageRef{Registry: "docker.io", Repository: "istio/proxyv2", Tag: "1.30.2"},
			version: "1.30.2",
		},
		{
			ref:     "gcr.io/istio-release/proxyv2:1.27.3-distroless",
			want:    ImageRef{Registry: "gcr.io", Repository: "istio-release/proxyv2", Tag: "1.27.3", Variant: "distroless"},
			version: "1.27.3",
		},
		{
			ref:     "istio/proxyv2:1.26.4-debug",
			want:    ImageRef{Repository: "istio/proxyv2", Tag: "1.26.4", Variant: "debug"},
			version: "1.26.4",
		},
		{
			ref:     "registry.example.com:5000/mirror/istio/proxyv2:1.30.2-distroless@sha256:" + sha,
			want:    ImageRef{Registry: "registry.example.com:5000", Repository: "mirror/istio/proxyv2", Tag: "1.30.2", Variant: "distroless", Digest: "sha256:" + sha},
			version: "1.30.2",
		},
		{
			ref:     "localhost:5000/proxyv2:1.30.2",
			want:    ImageRef{Registry: "localhost:5000", Repository: "proxyv2", Tag: "1.30.2"},
			version: "1.30.2",
		},
		{
			ref:     "localhost/proxyv2:1.30.2",
			want:    ImageRef{Registry: "localhost", Repository: "proxyv2", Tag: "1.30.2"},
			version: "1.30.2",
		},
		{
			ref:     "docker.io/istio/proxyv2@sha256:" + sha,
			want:    ImageRef{Registry: "docker.io", Repository: "istio/proxyv2", Digest: "sha256:" + sha},
			version: VersionUnknown,
		},
		{
			ref:     "docker.io/istio/proxyv2",
			want:    ImageRef{Registry: "docker.io", Repository: "istio/proxyv2"},
			version: VersionUnknown,
		},
		{
			ref:     "proxyv2",
			want:    ImageRef{Repository: "proxyv2"},
			version: VersionUnknown,
		},
		{
			ref:     "docker.io/istio/proxyv2:latest",
			want:    ImageRef{Registry: "docker.io", Repository: "istio/proxyv2", Tag: "latest"},
			version: VersionUnknown,
		},
		{
			ref:     "docker.io/istio/proxyv2:1.30-dev",
			want:    ImageRef{Registry: "docker.io", Repository: "istio/proxyv2", Tag: "1.30-dev"},
			version: VersionUnknown,
		},
		{
			ref:     "docker.io/istio/proxyv2:1.30.0-rc.1-distroless",
			want:    ImageRef{Registry: "docker.io", Repository: "istio/proxyv2", Tag: "1.30.0-rc.1", Variant: "distroless"},
			version: "1.30.0-rc.1",
		},
		{
			ref:     "docker.io/istio/proxyv2:1.30.2-debug-distroless",
			want:    ImageRef{Registry: "docker.io", Repository: "istio/proxyv2", Tag: "1.30.2-debug", Variant: "distroless"},
			version: VersionUnknown,
		},
		{
			// A tag that is only a variant name is not a variant suffix.
			ref:     "istio/proxyv2:distroless",
			want:    ImageRef{Repository: "istio/proxyv2", Tag: "distroless"},
			version: VersionUnknown,
		},
		{
			ref:     "auto",
			want:    ImageRef{Repository: "auto"},
			version: VersionUnknown,
		},
		{
			ref:     "",
			want:    ImageRef{},
			version: VersionUnknown,
		},
		{
			ref:     "istio/proxyv2:v1.30.2",
			want:    ImageRef{Repository: "istio/proxyv2", Tag: "v1.30.2"},
			version: VersionUnknown,
		},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			g := NewWithT(t)
			got := ParseImage(tt.ref)
			g.Expect(got).To(Equal(tt.want))
			g.Expect(got.String()).To(Equal(tt.ref))
			g.Expect(VersionOf(tt.ref)).To(Equal(tt.version))
		})
	}
}

// wellFormedRef is an image reference grammar, written here from the
// distribution reference format, to decide which fuzz inputs must round-trip.
var wellFormedRef = regexp.MustCompile(`^` +
	`(?:(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+|localhost|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*:[0-9]+)/)?` + // registry
	`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*` + // repository
	`(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?` + // tag
	`(?:@sha256:[a-f0-9]{64})?$`) // digest

func FuzzParseImage(f *testing.F) {
	for _, s := range []string{
		"docker.io/istio/proxyv2:1.30.2",
		"gcr.io/istio-release/proxyv2:1.27.3-distroless",
		"istio/proxyv2:1.26.4-debug",
		"registry.example.com:5000/mirror/istio/proxyv2:1.30.2-distroless@sha256:" + sha,
		"localhost:5000/proxyv2:1.30.2",
		"docker.io/istio/proxyv2@sha256:" + sha,
		"proxyv2",
		"proxyv2:latest",
		"istio/proxyv2:distroless",
		"auto",
		"",
		":",
		"@",
		"a:b@c:d/e",
		"host:5000",
		"1.30.2-distroless",
		"x/y:1.2.3-debug-distroless",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		r := ParseImage(ref)
		v := VersionOf(ref)

		if strings.Contains(v, "@") {
			t.Fatalf("VersionOf(%q) = %q contains a digest", ref, v)
		}
		for _, variant := range ImageVariants {
			if strings.HasSuffix(v, "-"+variant) {
				t.Fatalf("VersionOf(%q) = %q keeps the variant", ref, v)
			}
		}
		if v != VersionUnknown && !IsReleaseVersion(v) {
			t.Fatalf("VersionOf(%q) = %q is neither a version nor unknown", ref, v)
		}
		if v != VersionUnknown && v != r.Tag {
			t.Fatalf("VersionOf(%q) = %q, but the tag is %q", ref, v, r.Tag)
		}
		if strings.Contains(r.Tag, "@") || strings.Contains(r.Tag, "/") {
			t.Fatalf("ParseImage(%q).Tag = %q", ref, r.Tag)
		}
		if r.Variant != "" && !strings.HasSuffix(strings.SplitN(ref, "@", 2)[0], ":"+r.Tag+"-"+r.Variant) {
			t.Fatalf("ParseImage(%q) found variant %q that is not the tag's suffix", ref, r.Variant)
		}
		if !strings.Contains(ref, "@") && r.Digest != "" {
			t.Fatalf("ParseImage(%q) found digest %q without @", ref, r.Digest)
		}
		if wellFormedRef.MatchString(ref) {
			if got := r.String(); got != ref {
				t.Fatalf("ParseImage(%q).String() = %q", ref, got)
			}
			if r.Repository == "" {
				t.Fatalf("ParseImage(%q) has no repository", ref)
			}
		}
	})
}

// FuzzImageParts assembles references from parts, so that most inputs are
// well-formed, and checks that ParseImage gives the parts back.
func FuzzImageParts(f *testing.F) {
	f.Add("docker.io", "istio/proxyv2", "1.30.2", 1, true)
	f.Add("registry.example.com:5000", "mirror/istio/proxyv2", "1.27.3", 0, false)
	f.Add("", "istio/proxyv2", "", 2, true)
	f.Add("localhost", "proxyv2", "latest", 0, false)
	f.Add("", "proxyv2", "1.30.0-rc.1", 1, false)
	f.Add("gcr.io", "istio-release/proxyv2", "1.30.2-debug", 0, false)
	f.Add("gcr.io", "istio-release/proxyv2", "1.30.2-debug", 1, false)
	f.Fuzz(func(t *testing.T, registry, repository, tag string, variant int, digest bool) {
		want := ImageRef{Registry: registry, Repository: repository, Tag: tag}
		if variant > 0 && tag != "" {
			want.Variant = ImageVariants[variant%len(ImageVariants)]
		}
		if digest {
			want.Digest = "sha256:" + sha
		}
		ref := want.String()
		if !wellFormedRef.MatchString(ref) {
			return
		}
		if registry != "" && !isRegistryForTest(registry) {
			// "istio/proxyv2" with Registry "istio" is the Docker Hub name
			// istio/proxyv2, which has no registry part.
			return
		}
		if registry == "" && strings.Contains(repository, "/") && isRegistryForTest(strings.SplitN(repository, "/", 2)[0]) {
			return
		}
		got := ParseImage(ref)
		if got.String() != ref {
			t.Fatalf("ParseImage(%q).String() = %q", ref, got.String())
		}
		if got.Registry != want.Registry || got.Repository != want.Repository || got.Digest != want.Digest {
			t.Fatalf("ParseImage(%q) = %+v, want %+v", ref, got, want)
		}
		if want.Variant != "" && (got.Tag != want.Tag || got.Variant != want.Variant) {
			t.Fatalf("ParseImage(%q) = %+v, want %+v", ref, got, want)
		}
		if strings.HasSuffix(tag, "-distroless") || strings.HasSuffix(tag, "-debug") {
			return // the tag carries its own variant; the table test covers these
		}
		wantVersion := VersionUnknown
		if IsReleaseVersion(tag) {
			wantVersion = tag
		}
		if v := VersionOf(ref); v != wantVersion {
			t.Fatalf("VersionOf(%q) = %q, want %q", ref, v, wantVersion)
		}
	})
}

// isRegistryForTest is the registry rule of the reference format: a host
// name with a dot or a port, or localhost.
func isRegistryForTest(s string) bool {
	return strings.Contains(s, ".") || strings.Contains(s, ":") || s == "localhost"
}
