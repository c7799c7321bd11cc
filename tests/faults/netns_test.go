package faults

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// A network lab puts each member in a network namespace of its own, joined
// to the others by a veth pair into a bridge in the test's namespace, where
// the clients and the harness stay: they reach every member over the bridge
// whatever the partition. A partition is real packet loss: a blackhole
// route in a member's namespace drops every packet it sends to a peer, one
// direction. TCP needs both directions, so a blocked direction also stops
// new connections the other way, and on a connection already open lets the
// peer's requests through while their answers are lost.
//
// Every name the lab creates starts with a prefix of its own run, and
// everything it created is removed when the test ends, failed or not.

// labHost is one member's place in the lab.
type labHost struct {
	ns       string // network namespace
	hostLink string // the veth end in the test's namespace, on the bridge
	nsLink   string // the veth end in the member's namespace
	ip       string
}

type netLab struct {
	t      *testing.T
	prefix string // of the links' names (at most 15 bytes with a suffix)
	bridge string
	subnet string // "10.A.B."
	hosts  []labHost

	mu      sync.Mutex
	blocked map[[2]int]bool // from, to: a blackhole route in from's namespace
}

// needLab skips t where the lab cannot be built: it needs root and ip(8).
func needLab(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: network namespaces need root (this test creates one per member with ip netns)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: the ip command (iproute2) is missing; it builds the network namespaces")
	}
}

// newNetLab builds n namespaces on a bridge, in a /24 of 10/8 that no
// address or route of this host uses.
func newNetLab(t *testing.T, n int) *netLab {
	t.Helper()
	needLab(t)
	id := make([]byte, 3)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	tag := hex.EncodeToString(id)
	lab := &netLab{t: t, prefix: "ef" + tag, blocked: map[[2]int]bool{}}
	lab.bridge = lab.prefix + "br"
	subnet, err := unusedSubnet()
	if err != nil {
		t.Fatal(err)
	}
	lab.subnet = subnet

	// Each removal is registered as soon as its object exists, so that a
	// failure half-way leaves nothing behind.
	if err := ipCmd("link", "add", lab.bridge, "type", "bridge"); err != nil {
		t.Fatalf("network lab: %v", err)
	}
	t.Cleanup(func() { lab.remove("link", "del", lab.bridge) })
	for _, args := range [][]string{
		{"addr", "add", subnet + "1/24", "dev", lab.bridge},
		{"link", "set", lab.bridge, "up"},
	} {
		if err := ipCmd(args...); err != nil {
			t.Fatalf("network lab: %v", err)
		}
	}
	for i := range n {
		h := labHost{
			ns:       fmt.Sprintf("etcd-faults-%s-%d", tag, i+1),
			hostLink: fmt.Sprintf("%sh%d", lab.prefix, i+1),
			nsLink:   fmt.Sprintf("%sn%d", lab.prefix, i+1),
			ip:       fmt.Sprintf("%s%d", subnet, 11+i),
		}
		if err := ipCmd("netns", "add", h.ns); err != nil {
			t.Fatalf("network lab: %v (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)", err)
		}
		t.Cleanup(func() { lab.remove("netns", "del", h.ns) })
		if err := ipCmd("link", "add", h.hostLink, "type", "veth", "peer", "name", h.nsLink); err != nil {
			t.Fatalf("network lab: %v", err)
		}
		t.Cleanup(func() { lab.removeLink(h.hostLink) })
		for _, args := range [][]string{
			{"link", "set", h.nsLink, "netns", h.ns},
			{"link", "set", h.hostLink, "master", lab.bridge},
			{"link", "set", h.hostLink, "up"},
			{"-n", h.ns, "addr", "add", h.ip + "/24", "dev", h.nsLink},
			{"-n", h.ns, "link", "set", h.nsLink, "up"},
			{"-n", h.ns, "link", "set", "lo", "up"},
		} {
			if err := ipCmd(args...); err != nil {
				t.Fatalf("network lab: %v", err)
			}
		}
		lab.hosts = append(lab.hosts, h)
	}
	return lab
}

// unusedSubnet picks 10.A.B. at random among those no address or route of
// this host mentions.
func unusedSubnet() (string, error) {
	out, err := exec.Command("ip", "-4", "-o", "addr", "show").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ip addr show: %v: %s", err, out)
	}
	routes, err := exec.Command("ip", "-4", "route", "show", "table", "all").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ip route show: %v: %s", err, routes)
	}
	taken := string(out) + string(routes)
	for range 100 {
		a, err := rand.Int(rand.Reader, big.NewInt(190))
		if err != nil {
			return "", err
		}
		b, err := rand.Int(rand.Reader, big.NewInt(255))
		if err != nil {
			return "", err
		}
		subnet := fmt.Sprintf("10.%d.%d.", 64+a.Int64(), b.Int64())
		if !strings.Contains(taken, subnet) {
			return subnet, nil
		}
	}
	return "", errors.New("network lab: no unused 10.A.B.0/24 found")
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// remove runs a removal at the end of the test; what is gone already is
// no error.
func (lab *netLab) remove(args ...string) {
	if err := ipCmd(args...); err != nil && !strings.Contains(err.Error(), "Cannot find") && !strings.Contains(err.Error(), "No such") {
		lab.t.Errorf("network lab cleanup: %v", err)
	}
}

// removeLink deletes a veth pair by its end in the test's namespace; it is
// gone already when its namespace went first.
func (lab *netLab) removeLink(name string) {
	if exec.Command("ip", "link", "show", name).Run() != nil {
		return
	}
	lab.remove("link", "del", name)
}

// wrapper is the command a member of host i runs under.
func (lab *netLab) wrapper(i int) []string { return []string{"ip", "netns", "exec", lab.hosts[i].ns} }

// block drops every packet host from sends to host to.
func (lab *netLab) block(from, to int) error {
	lab.mu.Lock()
	defer lab.mu.Unlock()
	key := [2]int{from, to}
	if lab.blocked[key] {
		return nil
	}
	if err := ipCmd("-n", lab.hosts[from].ns, "route", "add", "blackhole", lab.hosts[to].ip+"/32"); err != nil {
		return err
	}
	lab.blocked[key] = true
	return nil
}

// heal removes every blackhole route.
func (lab *netLab) heal() error {
	lab.mu.Lock()
	defer lab.mu.Unlock()
	var errs []error
	for key := range lab.blocked {
		if err := ipCmd("-n", lab.hosts[key[0]].ns, "route", "del", "blackhole", lab.hosts[key[1]].ip+"/32"); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(lab.blocked, key)
	}
	return errors.Join(errs...)
}
