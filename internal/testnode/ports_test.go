package testnode

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// portsChildEnv, set, makes the test binary a child of
// TestPortsAreNotSharedAcrossProcesses: it takes ports from the port the
// variable names and up, prints them, and holds them until its standard
// input closes.
const portsChildEnv = "TESTNODE_PORTS_FROM"

const portsPerProcess = 20

func TestMain(m *testing.M) {
	if from := os.Getenv(portsChildEnv); from != "" {
		os.Exit(takePortsAndHold(from))
	}
	os.Exit(m.Run())
}

func takePortsAndHold(from string) int {
	first, err := strconv.Atoi(from)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	candidatePort = portsFrom(first)
	for range portsPerProcess {
		port, err := FreePort()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(port)
	}
	bufio.NewReader(os.Stdin).ReadString(0)
	return 0
}

// portsFrom makes Listen try first, then every port after it in turn.
func portsFrom(first int) func(int) int {
	next := first
	return func(int) int {
		next++
		return next - 1
	}
}

// TestPortsAreNotSharedAcrossProcesses: two test processes that try the
// same ports in the same order never get the same one, even once the first
// has closed its listeners (as a test does that kills a node). With a
// memory of the ports given that lasted only as long as one process, the
// second got the first's ports, and a node of one test's cluster could
// reach a node of another test running in parallel.
func TestPortsAreNotSharedAcrossProcesses(t *testing.T) {
	first := 10000 + rand.IntN(ephemeralLow()-10000-4*portsPerProcess)
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), fmt.Sprintf("%s=%d", portsChildEnv, first))
	child.Stderr = os.Stderr
	hold, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Wait()
	defer hold.Close()
	theirs := map[int]bool{}
	lines := bufio.NewScanner(out)
	for range portsPerProcess {
		if !lines.Scan() {
			t.Fatalf("the other process gave %d ports, then stopped: %v", len(theirs), lines.Err())
		}
		port, err := strconv.Atoi(lines.Text())
		if err != nil {
			t.Fatal(err)
		}
		theirs[port] = true
	}

	saved := candidatePort
	candidatePort = portsFrom(first)
	defer func() { candidatePort = saved }()
	for range portsPerProcess {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if theirs[port] {
			t.Fatalf("port %d was given to this process and to another that still runs (which has %v)", port, theirs)
		}
	}
}
