package install

import (
	"errors"
	"testing"

	. "github.com/onsi/gomega"
)

func TestCheckVersionUpdate(t *testing.T) {
	cases := []struct {
		installed, target string
		refused           bool
	}{
		{"", "1.30.2", false},
		{"1.30.2", "1.30.2", false},
		{"1.30.1", "1.30.2", false},
		{"1.29.4", "1.30.2", false},
		{"1.27.3", "1.28.1", false},
		{"1.30.2", "1.30.1", true},
		{"1.30.2", "1.29.9", true},
		{"1.28.1", "1.30.2", true},
		{"1.26.4", "1.28.1", true},
		{"1.30.2", "2.0.0", true},
	}
	for _, tc := range cases {
		t.Run(tc.installed+"->"+tc.target, func(t *testing.T) {
			g := NewWithT(t)
			err := CheckVersionUpdate(tc.installed, tc.target)
			var refused *VersionUpdateError
			g.Expect(errors.As(err, &refused)).To(Equal(tc.refused), "error: %v", err)
		})
	}
}

func TestCheckVersionUpdateRejectsGarbage(t *testing.T) {
	g := NewWithT(t)
	err := CheckVersionUpdate("latest", "1.30.2")
	g.Expect(err).To(MatchError(ContainSubstring(`"latest"`)))
	var refused *VersionUpdateError
	g.Expect(errors.As(err, &refused)).To(BeFalse())
}
