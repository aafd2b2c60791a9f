package version

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Version
		ok   bool
	}{
		{"1.30.2", Version{1, 30, 2, ""}, true},
		{"1.30.0-rc.1", Version{1, 30, 0, "rc.1"}, true},
		{"0.0.0", Version{}, true},
		{"v1.30.2", Version{}, false},
		{"1.30", Version{}, false},
		{"1.30.2+build", Version{}, false},
		{"01.30.2", Version{}, false},
		{"latest", Version{}, false},
		{"", Version{}, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			g := NewWithT(t)
			v, err := Parse(tc.in)
			g.Expect(err == nil).To(Equal(tc.ok), "error: %v", err)
			g.Expect(v).To(Equal(tc.want))
			g.Expect(IsRelease(tc.in)).To(Equal(tc.ok))
			if tc.ok {
				g.Expect(v.String()).To(Equal(tc.in))
			}
		})
	}
}

func TestParseKubelet(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Version
		ok   bool
	}{
		{"v1.28.3", Version{1, 28, 3, ""}, true},
		{"v1.28.3-eks-4f4795d", Version{1, 28, 3, ""}, true},
		{"v1.30.0+k3s1", Version{1, 30, 0, ""}, true},
		{"1.30", Version{1, 30, 0, ""}, true},
		{"1.30.0-rc.1", Version{1, 30, 0, ""}, true},
		{"kwok-0.8.0", Version{}, false},
		{"", Version{}, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			g := NewWithT(t)
			v, err := ParseKubelet(tc.in)
			g.Expect(err == nil).To(Equal(tc.ok), "error: %v", err)
			g.Expect(v).To(Equal(tc.want))
		})
	}
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.30.2", "1.30.2", 0},
		{"1.30.1", "1.30.2", -1},
		{"1.29.9", "1.30.0", -1},
		{"2.0.0", "1.99.99", 1},
		{"1.30.0-rc.1", "1.30.0", -1},
		{"1.30.0-rc.1", "1.29.9", 1},
		{"1.30.0-rc.1", "1.30.0-rc.2", -1},
		{"1.30.0-rc.2", "1.30.0-rc.10", -1},
		{"1.30.0-alpha", "1.30.0-beta", -1},
		{"1.30.0-1", "1.30.0-alpha", -1},
		{"1.30.0-rc", "1.30.0-rc.1", -1},
	} {
		t.Run(tc.a+" vs "+tc.b, func(t *testing.T) {
			g := NewWithT(t)
			a, err := Parse(tc.a)
			g.Expect(err).NotTo(HaveOccurred())
			b, err := Parse(tc.b)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(a.Compare(b)).To(Equal(tc.want))
			g.Expect(b.Compare(a)).To(Equal(-tc.want))
			g.Expect(a.Less(b)).To(Equal(tc.want < 0))
		})
	}
}

func TestOlderMinorThan(t *testing.T) {
	g := NewWithT(t)
	g.Expect(Version{1, 28, 9, ""}.OlderMinorThan(1, 29)).To(BeTrue())
	g.Expect(Version{1, 29, 0, ""}.OlderMinorThan(1, 29)).To(BeFalse())
	g.Expect(Version{0, 99, 0, ""}.OlderMinorThan(1, 0)).To(BeTrue())
	g.Expect(Version{1, 30, 2, ""}.MinorString()).To(Equal("1.30"))
}
