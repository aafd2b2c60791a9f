package peakrss

import (
	"os"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		status  string
		want    int64
		wantErr bool
	}{
		{status: "Name:\tx\nVmPeak:\t  900 kB\nVmHWM:\t   1234 kB\nVmRSS:\t 1000 kB\n", want: 1234},
		{status: "Name:\tx\nVmRSS:\t 1000 kB\n", wantErr: true},
		{status: "VmHWM:\t lots kB\n", wantErr: true},
	} {
		got, err := parse([]byte(tc.status))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parse(%q) = %d, %v; want %d, error %v", tc.status, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestSelfAndOfAgree(t *testing.T) {
	self, err := Self()
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	of, err := Of(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// The high-water mark only grows, and both read the same process.
	if self <= 0 || of < self {
		t.Errorf("Self() = %d KiB, then Of(own pid) = %d KiB", self, of)
	}
}
