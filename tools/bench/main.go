// Command bench measures this project against etcd v3.5, built on the
// spot, in one run on one machine: a fresh single node and a fresh local
// 3-member cluster of each, the same cells against both (closed-loop
// clients on keep-alive connections, 64-byte values), and one table with
// the ratio ours/v3.5. Only one system runs at a time, so neither takes
// CPU from the other. `make bench` builds both binaries and runs it:
//
//	bench -etcd bin/etcd -etcd35 bin/etcd35 -duration 5s -json bench.json
//
// Every server it starts listens on loopback only, with its data in a new
// temporary directory, and is killed when the run ends, fails, times out
// or is interrupted. A run that times out or is interrupted prints the
// cells measured before, and fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// setup is a shape of cluster every system is measured in.
type setup struct {
	name    string
	slug    string // names its directory
	members int
}

var setups = []setup{
	{name: "single node", slug: "single", members: 1},
	{name: "3 members", slug: "cluster", members: 3},
}

// settle is how long a fresh cluster is left alone before its first cell,
// so that start-up work does not count.
const settle = time.Second

type config struct {
	binaries map[string]string // by system label
	systems  []system
	setups   []setup
	duration time.Duration
	idle     time.Duration
	jsonPath string
	// cells, if not empty, are the only cells run: a cell runs if its name
	// contains one of them.
	cells []string
}

func main() {
	os.Exit(benchMain())
}

// benchMain is main with an exit code, so that its deferred clean-up runs
// before the process exits.
func benchMain() int {
	ourBinary := flag.String("etcd", "bin/etcd", "this project's binary")
	v35Binary := flag.String("etcd35", "bin/etcd35", "etcd v3.5's binary, built from tools/etcd35")
	beforeBinary := flag.String("before", "", "another build of this project, e.g. of the commit before a change: measured beside -etcd as the system \"before\" (its v2 cells only if it serves /v2/keys)")
	duration := flag.Duration("duration", 5*time.Second, "how long each load cell runs")
	idle := flag.Duration("idle", 10*time.Second, "how long the idle 3-member cluster's CPU time is measured")
	jsonPath := flag.String("json", "", "also write the results as JSON to this file")
	systemsFlag := flag.String("systems", "ours,v3.5", "systems to measure, comma-separated: ours, v3.5")
	setupsFlag := flag.String("setups", "single,cluster", "setups to measure, comma-separated: single, cluster")
	limit := flag.Duration("timeout", 30*time.Minute, "stop after this long, print the cells measured so far, and fail")
	cellsFlag := flag.String("cells", "", "run only the cells whose name contains one of these, comma-separated (e.g. '1 client writing,reading')")
	profileDir := flag.String("profile", "", "write a CPU profile of each of this project's members into this directory")
	flag.Parse()

	cfg := config{
		binaries: map[string]string{ours{}.label(): *ourBinary, etcd35{}.label(): *v35Binary, beforeLabel: *beforeBinary},
		duration: *duration,
		idle:     *idle,
		jsonPath: *jsonPath,
	}
	cfg.cells = cellNames(*cellsFlag)
	var err error
	if cfg.systems, err = pickSystems(*systemsFlag, *beforeBinary != "", *profileDir); err == nil {
		cfg.setups, err = pickSetups(*setupsFlag)
	}
	if err == nil && (*duration <= 0 || *idle <= 0) {
		err = errors.New("-duration and -idle must be positive")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}

	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	ctx, cancel := context.WithTimeoutCause(ctx, *limit, fmt.Errorf("-timeout %v reached", *limit))
	defer cancel()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}

// cellNames reads -cells. An empty name, as after a trailing comma, is
// left out: every cell's name contains it.
func cellNames(list string) []string {
	return slices.DeleteFunc(strings.Split(list, ","), func(name string) bool { return name == "" })
}

// wants says whether cell c is among the cells to run.
func (cfg config) wants(c cell) bool {
	return len(cfg.cells) == 0 || slices.ContainsFunc(cfg.cells, func(part string) bool {
		return strings.Contains(c.name, part)
	})
}

// pickSystems reads -systems; with -before, the other build runs right
// after this one, so that the two meet the machine in the same state.
func pickSystems(list string, withBefore bool, profileDir string) ([]system, error) {
	var picked []system
	for name := range strings.SplitSeq(list, ",") {
		switch name {
		case ours{}.label():
			picked = append(picked, ours{profileDir: profileDir})
			if withBefore {
				picked = append(picked, ours{profileDir: profileDir, before: true})
			}
		case etcd35{}.label():
			picked = append(picked, etcd35{})
		default:
			return nil, fmt.Errorf("-systems: unknown system %q", name)
		}
	}
	if withBefore && !slices.ContainsFunc(picked, func(s system) bool { return s.label() == beforeLabel }) {
		return nil, errors.New("-before needs ours in -systems")
	}
	return picked, nil
}

func pickSetups(list string) ([]setup, error) {
	var picked []setup
	for name := range strings.SplitSeq(list, ",") {
		i := slices.IndexFunc(setups, func(s setup) bool { return s.slug == name })
		if i < 0 {
			return nil, fmt.Errorf("-setups: unknown setup %q", name)
		}
		picked = append(picked, setups[i])
	}
	return picked, nil
}

// run measures every setup of every system, then prints the table.
func run(ctx context.Context, cfg config) error {
	for _, sys := range cfg.systems {
		if _, err := os.Stat(cfg.binaries[sys.label()]); err != nil {
			return fmt.Errorf("%s binary: %w", sys.label(), err)
		}
	}
	root, err := os.MkdirTemp("", "etcd-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)

	rep := report{
		Command:     strings.Join(os.Args, " "),
		CellSeconds: cfg.duration.Seconds(),
		IdleSeconds: cfg.idle.Seconds(),
	}
	if rep.Machine, err = describeMachine(root); err != nil {
		return fmt.Errorf("describing the machine: %w", err)
	}
	fmt.Fprintf(os.Stderr, "bench: %d CPUs, %s; fsync of a 64-byte append p50 %.0f µs; load average %s\n",
		rep.Machine.CPUs, rep.Machine.CPUModel, rep.Machine.FsyncP50Micros, rep.Machine.LoadAverageAtStart)

	// Each setup runs for every system back to back, so that both meet the
	// machine in the same state.
	var stopped error
measuring:
	for _, s := range cfg.setups {
		for _, sys := range cfg.systems {
			dir := filepath.Join(root, strings.ReplaceAll(sys.label(), ".", "")+"-"+s.slug)
			rep.Results = append(rep.Results, measureSetup(ctx, cfg, sys, s, dir)...)
			if ctx.Err() != nil {
				stopped = context.Cause(ctx)
				break measuring
			}
		}
	}
	rep.Machine.LoadAverageAtEnd = loadAverage()
	return finish(os.Stdout, rep, cfg.jsonPath, stopped)
}

// finish prints the table of the cells measured, and writes the JSON if
// asked. A run stopped early (an interrupt, -timeout) reports the cells it
// measured before, and fails.
func finish(w io.Writer, rep report, jsonPath string, stopped error) error {
	if stopped != nil {
		fmt.Fprintf(w, "Stopped early (%v): the table holds only the cells measured before.\n", stopped)
	}
	printHeader(w, rep)
	rep.writeTable(w)
	if jsonPath != "" {
		if err := rep.writeJSON(jsonPath); err != nil {
			return err
		}
	}
	if stopped != nil {
		return fmt.Errorf("stopped early (%w); the table holds only the cells measured before", stopped)
	}
	failed := 0
	for _, r := range rep.Results {
		if r.Failed != "" {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d cells failed", failed)
	}
	return nil
}

func printHeader(w io.Writer, rep report) {
	m := rep.Machine
	fmt.Fprintf(w, "Machine: %d CPUs, %s, %s; fsync of a 64-byte append: p50 %.0f µs, mean %.0f µs.\n",
		m.CPUs, m.CPUModel, m.GoVersion, m.FsyncP50Micros, m.FsyncMeanMicros)
	fmt.Fprintf(w, "Load average (1, 5, 15 min): %s at the start, %s at the end.\n", m.LoadAverageAtStart, m.LoadAverageAtEnd)
	fmt.Fprintf(w, "Each load cell ran %v, closed loop, keep-alive, 64-byte values, every request to the leader; idle CPU over %v.\n",
		time.Duration(rep.CellSeconds*float64(time.Second)), time.Duration(rep.IdleSeconds*float64(time.Second)))
	for _, sys := range []system{ours{}, etcd35{}, ours{before: true}} {
		if n, counted := rep.leaderChanges(sys.label()); counted {
			fmt.Fprintf(w, "Leader changes in all cluster cells, %s: %d.\n", sys.label(), n)
		}
	}
	fmt.Fprintf(w, "Command: %s\n\n", rep.Command)
}

// measureSetup starts a fresh cluster of sys shaped as s and runs every
// cell of s against it; a cell that cannot run is reported as failed.
func measureSetup(ctx context.Context, cfg config, sys system, s setup, dir string) []cellResult {
	cells := slices.DeleteFunc(cellsFor(s.members), func(c cell) bool { return !cfg.wants(c) })
	results := make([]cellResult, 0, len(cells))
	fail := func(from int, why string) []cellResult {
		for _, c := range cells[from:] {
			results = append(results, cellResult{Setup: s.name, Cell: c.name, System: sys.label(), Failed: why})
		}
		return results
	}

	fmt.Fprintf(os.Stderr, "bench: %s, %s: starting\n", s.name, sys.label())
	c, err := startCluster(ctx, sys, cfg.binaries[sys.label()], s.members, dir)
	defer c.stop()
	if ctx.Err() != nil {
		return results
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s, %s: %v\n", s.name, sys.label(), err)
		return fail(0, "the cluster did not start")
	}
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return results
	}

	cells, droppedV2, err := withoutV2(ctx, cells, c.members[0])
	if ctx.Err() != nil {
		return results
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s, %s: %v\n", s.name, sys.label(), err)
		return fail(0, "no answer to GET /v2/keys/")
	}
	if droppedV2 {
		fmt.Fprintf(os.Stderr, "bench: %s, %s: no /v2/keys, the v2 cells are left out\n", s.name, sys.label())
	}
	// A run stopped early (an interrupt, -timeout) ends here, with the
	// cells measured so far: the one it cut short measured nothing whole.
	env := &cellEnv{system: sys, cluster: c, duration: cfg.duration, idle: cfg.idle}
	for i, cl := range cells {
		if ctx.Err() != nil {
			return results
		}
		r := runCell(ctx, env, cl, s)
		if ctx.Err() != nil {
			fmt.Fprintf(os.Stderr, "bench: %s, %s, %s: stopped (%v), not counted\n", s.name, sys.label(), cl.name, context.Cause(ctx))
			return results
		}
		r.Setup, r.Cell, r.System = s.name, cl.name, sys.label()
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "bench: %s, %s, %s: %s\n", s.name, sys.label(), cl.name, summary(r, cl))
		for _, m := range c.members {
			if m.hasExited() {
				fmt.Fprintf(os.Stderr, "bench: %s exited:\n%s", m.name, c.logTails())
				return fail(i+1, m.name+" exited")
			}
		}
	}
	return results
}

// runCell runs one cell against the cluster's current leader, counting
// the leader changes the members logged meanwhile.
func runCell(ctx context.Context, env *cellEnv, cl cell, s setup) cellResult {
	leader, err := env.cluster.leader(ctx)
	if err != nil {
		return cellResult{Failed: err.Error()}
	}
	env.target = leader
	env.api = cl.api(env.system)
	before, err := env.cluster.leaderChangesSeen()
	if err != nil {
		return cellResult{Failed: err.Error()}
	}
	r, err := cl.run(ctx, env)
	if err != nil {
		r.Failed = err.Error()
	}
	if s.members > 1 && !cl.instant {
		after, err := env.cluster.leaderChangesSeen()
		if err != nil {
			r.Failed = err.Error()
			return r
		}
		changes := 0
		for i := range after {
			changes = max(changes, after[i]-before[i])
		}
		r.LeaderChanges = &changes
	}
	return r
}

// withoutV2 drops the v2 cells if member does not serve /v2/keys (a build
// from before v2); dropped says whether it did.
func withoutV2(ctx context.Context, cells []cell, member *process) (kept []cell, dropped bool, err error) {
	isV2 := func(c cell) bool { return c.speaks != nil }
	if !slices.ContainsFunc(cells, isV2) {
		return cells, false, nil
	}
	served, err := servesV2(ctx, member.clientURL())
	if err != nil || served {
		return cells, false, err
	}
	return slices.DeleteFunc(cells, isV2), true, nil
}
