// Package loadavg reads the machine's load average, which the benchmark and
// chaos reports print beside every measurement: on a shared machine a number
// means little without it.
package loadavg

import (
	"os"
	"strings"
)

// Read returns the 1, 5 and 15 minute load averages from /proc/loadavg, as
// written there (e.g. "0.52"), or ok=false where the file is missing or
// malformed.
func Read() (loads [3]string, ok bool) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return loads, false
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return loads, false
	}
	copy(loads[:], f[:3])
	return loads, true
}

// String is the three load averages joined by sep, or "unknown".
func String(sep string) string {
	loads, ok := Read()
	if !ok {
		return "unknown"
	}
	return strings.Join(loads[:], sep)
}
