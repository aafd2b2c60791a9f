package testenv_test

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/istio-module/operator/internal/testenv"
)

// reaperChildEnv makes the test binary the process that gets killed.
const reaperChildEnv = "TESTENV_REAPER_CHILD"

// A process killed with SIGKILL runs no deferred Stop: its kube-apiserver
// and etcd must still go.
func TestControlPlaneDiesWithItsProcess(t *testing.T) {
	if os.Getenv(reaperChildEnv) != "" {
		if _, err := testenv.StartAPI(); err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("started\n")
		select {} // until killed
	}
	g := NewWithT(t)
	child := exec.Command(os.Args[0], "-test.run=^TestControlPlaneDiesWithItsProcess$", "-test.timeout=5m")
	child.Env = append(os.Environ(), reaperChildEnv+"=1")
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(child.Start()).To(Succeed())
	var pids []int
	t.Cleanup(func() {
		_ = child.Process.Kill()
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL) // in case the reaper failed
		}
	})
	started := make(chan bool, 1)
	go func() {
		lines := bufio.NewScanner(out)
		for lines.Scan() {
			if strings.TrimSpace(lines.Text()) == "started" {
				started <- true
				return
			}
		}
		started <- false
	}()
	select {
	case ok := <-started:
		g.Expect(ok).To(BeTrue(), "the child started its API server")
	case <-time.After(2 * time.Minute):
		t.Fatal("the child did not start its API server within 2 minutes")
	}
	pids, err = testenv.ChildrenOf(child.Process.Pid, "kube-apiserver", "etcd")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pids).To(HaveLen(2), "the child's kube-apiserver and etcd")

	g.Expect(child.Process.Kill()).To(Succeed())
	_ = child.Wait()
	alive := func() []int {
		var left []int
		for _, pid := range pids {
			stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
			if err != nil {
				continue
			}
			s := string(stat)
			if fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]); len(fields) > 0 && fields[0] != "Z" {
				left = append(left, pid)
			}
		}
		return left
	}
	g.Eventually(alive).WithTimeout(30 * time.Second).Should(BeEmpty())
}
