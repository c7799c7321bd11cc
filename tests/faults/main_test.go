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
	"testing"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

func TestMain(m *testing.M) { testnode.Main(m) }
