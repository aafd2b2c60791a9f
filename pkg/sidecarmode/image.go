package sidecarmode

import (
	"strings"

	"github.com/istio-module/operator/pkg/version"
)

// ImageVariants are the image variants Istio publishes; a variant is written
// as a tag suffix: "1.30.2-distroless".
var ImageVariants = []string{"distroless", "debug"}

// VersionUnknown is the version of a proxy whose image tag is not a release
// version, e.g. "latest", or that has no tag at all.
const VersionUnknown = "unknown"

// ImageRef is a container image reference split into its parts:
//
//	[Registry/]Repository[:Tag[-Variant]][@Digest]
//
// "gcr.io:443/istio/proxyv2:1.30.2-distroless@sha256:ab…" has Registry
// "gcr.io:443", Repository "istio/proxyv2", Tag "1.30.2", Variant "distroless"
// and Digest "sha256:ab…". Tag never includes the variant; String puts the
// parts back together.
type ImageRef struct {
	// Registry is the first path component when it names a host: it contains
	// "." or ":" or is "localhost". Empty for Docker Hub short names.
	Registry string
	// Repository is the path after the registry, e.g. "istio/proxyv2".
	Repository string
	// Tag is the tag without the variant suffix; empty without a tag.
	Tag string
	// Variant is one of ImageVariants when the tag ends with "-<variant>".
	Variant string
	// Digest is what follows "@", e.g. "sha256:…".
	Digest string
}

// ParseImage splits an image reference into its parts. It never fails: a
// malformed reference yields parts that are as close as it can get, and
// VersionOf then reports VersionUnknown.
func ParseImage(ref string) ImageRef {
	var r ImageRef
	name := ref
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name, r.Digest = name[:i], name[i+1:]
	}
	if i := strings.LastIndexByte(name, ':'); i >= 0 && i > strings.LastIndexByte(name, '/') {
		name, r.Tag = name[:i], name[i+1:]
	}
	if i := strings.IndexByte(name, '/'); i >= 0 && isRegistry(name[:i]) {
		r.Registry, name = name[:i], name[i+1:]
	}
	r.Repository = name
	for _, v := range ImageVariants {
		suffix := "-" + v
		if len(r.Tag) > len(suffix) && strings.HasSuffix(r.Tag, suffix) {
			r.Tag, r.Variant = strings.TrimSuffix(r.Tag, suffix), v
			break
		}
	}
	return r
}

// isRegistry tells a registry host from the first path component of a Docker
// Hub name, the way container runtimes do.
func isRegistry(component string) bool {
	return strings.ContainsAny(component, ".:") || component == "localhost"
}

// String assembles the reference from its parts; for a well-formed reference
// ParseImage(ref).String() == ref.
func (r ImageRef) String() string {
	var b strings.Builder
	if r.Registry != "" {
		b.WriteString(r.Registry)
		b.WriteByte('/')
	}
	b.WriteString(r.Repository)
	if r.Tag != "" || r.Variant != "" {
		b.WriteByte(':')
		b.WriteString(r.Tag)
		if r.Variant != "" {
			b.WriteByte('-')
			b.WriteString(r.Variant)
		}
	}
	if r.Digest != "" {
		b.WriteByte('@')
		b.WriteString(r.Digest)
	}
	return b.String()
}

// VersionOf returns the Istio version of a proxy image: its tag without the
// variant and without the digest, e.g. "1.30.2" for
// "docker.io/istio/proxyv2:1.30.2-distroless@sha256:…". It returns
// VersionUnknown when the tag is missing or not a release version ("latest",
// "auto", "1.30-dev").
func VersionOf(image string) string {
	tag := ParseImage(image).Tag
	if !IsReleaseVersion(tag) {
		return VersionUnknown
	}
	for _, v := range ImageVariants {
		if strings.HasSuffix(tag, "-"+v) {
			// "1.30.2-debug-distroless": not a tag Istio produces.
			return VersionUnknown
		}
	}
	return tag
}

// IsReleaseVersion reports whether s is an exact release version such as
// "1.30.2" or "1.30.0-rc.1", the form Istio uses for its image tags (see
// version.Parse).
func IsReleaseVersion(s string) bool {
	return version.IsRelease(s)
}
