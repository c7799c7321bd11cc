// Package faults runs a three-member etcd cluster as real processes, each
// behind a proxy that the test owns on its peer port, and injects faults
// (kill -9 and restart, SIGSTOP, restarting every member, partitions) while
// clients work against it. Afterwards it checks the history of the
// clients' consistent operations for linearizability with porcupine, and
// that no acknowledged write was lost by any member.
//
// FAULTS_DURATION (a Go duration) sets how long faults are injected;
// FAULTS_ARTIFACTS where the evidence of a failure is saved; FAULTS_SEED
// the random seed of a run, to repeat its choices.
package faults

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/etcd-recreation/etcd/internal/testbin"
)

var (
	binDir    string // where TestMain lets the daemon be built
	buildOnce sync.Once
	etcdBin   string // the daemon under test, once built
	buildErr  error
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	var err error
	if binDir, err = os.MkdirTemp("", "etcd-faults-bin-"); err != nil {
		fmt.Fprintf(os.Stderr, "faults: %v\n", err)
		return 1
	}
	defer os.RemoveAll(binDir)
	return m.Run()
}

// buildDaemon builds the daemon the first time a test needs it: the tests
// of the harness's own checks run without it, and so do not wait for the
// build or depend on the daemon compiling.
func buildDaemon(t *testing.T) {
	t.Helper()
	buildOnce.Do(func() { etcdBin, buildErr = testbin.Build(binDir) })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}
