// Package peakrss reads a process's resident set high-water mark (VmHWM),
// the memory figure the benchmarks report: it covers the whole life of the
// process, so a short peak between two samples is not missed.
package peakrss

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Self is this process's peak RSS in KiB.
func Self() (int64, error) { return read("/proc/self/status") }

// Of is the peak RSS in KiB of the running process pid.
func Of(pid int) (int64, error) { return read(fmt.Sprintf("/proc/%d/status", pid)) }

func read(path string) (int64, error) {
	status, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read the peak RSS (Linux only): %w", err)
	}
	return parse(status)
}

// parse finds VmHWM in the text of a /proc/<pid>/status.
func parse(status []byte) (int64, error) {
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, errors.New("read the peak RSS: no VmHWM in /proc/<pid>/status")
}
