package loadavg

import (
	"strconv"
	"strings"
	"testing"
)

func TestReadParsesThisMachine(t *testing.T) {
	loads, ok := Read()
	if !ok {
		t.Skip("no /proc/loadavg on this machine")
	}
	for i, l := range loads {
		if _, err := strconv.ParseFloat(l, 64); err != nil {
			t.Errorf("load %d is %q, not a number", i, l)
		}
	}
	if got := String("/"); strings.Count(got, "/") != 2 {
		t.Errorf("String(\"/\") = %q, want three loads joined by /", got)
	}
}
