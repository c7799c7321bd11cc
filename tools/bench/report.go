package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// cellResult is one cell measured against one system. Fields a cell does
// not measure stay zero and are left out of the JSON.
type cellResult struct {
	Setup  string `json:"setup"`
	Cell   string `json:"cell"`
	System string `json:"system"`
	// Failed says why the cell could not be measured.
	Failed     string  `json:"failed,omitempty"`
	Ops        int     `json:"ops,omitempty"`
	Errors     int     `json:"errors,omitempty"`
	FirstError string  `json:"firstError,omitempty"`
	Seconds    float64 `json:"seconds,omitempty"`
	PerSecond  float64 `json:"perSecond,omitempty"`
	P50Ms      float64 `json:"p50Ms,omitempty"`
	P99Ms      float64 `json:"p99Ms,omitempty"`
	MaxMs      float64 `json:"maxMs,omitempty"`
	// Conflicts counts test-and-sets that lost to another client.
	Conflicts int `json:"conflicts,omitempty"`
	// BackgroundWritesPerSecond is the load a watch cell ran under.
	BackgroundWritesPerSecond float64 `json:"backgroundWritesPerSecond,omitempty"`
	// CPUPercent is of one core, all members together.
	CPUPercent float64           `json:"cpuPercentOfOneCore,omitempty"`
	Memory     map[string]memory `json:"memory,omitempty"`
	// RestartSeconds is how long a restarted member took to serve again.
	RestartSeconds float64 `json:"restartSeconds,omitempty"`
	// LeaderChanges is the most new leaders any member logged during the
	// cell; only clusters have it.
	LeaderChanges *int `json:"leaderChanges,omitempty"`
}

// measure is one row of the table: a figure of a cell, which way is
// better, and how to print it.
type measure struct {
	name           string
	higherIsBetter bool
	value          func(cellResult) float64
	format         func(float64) string
}

func perSecond(name string) measure {
	return measure{name, true, func(r cellResult) float64 { return r.PerSecond }, thousandsOf}
}

var (
	latencyP50   = measure{"p50 ms", false, func(r cellResult) float64 { return r.P50Ms }, millis}
	latencyP99   = measure{"p99 ms", false, func(r cellResult) float64 { return r.P99Ms }, millis}
	incrementP50 = measure{"p50 ms per increment, retries included", false, func(r cellResult) float64 { return r.P50Ms }, millis}
	incrementP99 = measure{"p99 ms per increment, retries included", false, func(r cellResult) float64 { return r.P99Ms }, millis}
	notifyP50    = measure{"p50 ms from write sent to watcher notified", false, func(r cellResult) float64 { return r.P50Ms }, millis}
	notifyP99    = measure{"p99 ms from write sent to watcher notified", false, func(r cellResult) float64 { return r.P99Ms }, millis}
	fanoutP50    = measure{"p50 ms from write sent to all notified", false, func(r cellResult) float64 { return r.P50Ms }, millis}
	fanoutMax    = measure{"max ms from write sent to all notified", false, func(r cellResult) float64 { return r.MaxMs }, millis}
	idleCPU      = measure{"CPU % of one core, all members", false, func(r cellResult) float64 { return r.CPUPercent }, percent}
	largestRSS   = measure{"RSS MB of the largest member", false, largestRSSMB, oneDecimal}
)

func largestRSSMB(r cellResult) float64 {
	var largest int64
	for _, m := range r.Memory {
		largest = max(largest, m.RSS)
	}
	return float64(largest) / (1 << 20)
}

func millis(v float64) string     { return strconv.FormatFloat(v, 'f', 2, 64) }
func percent(v float64) string    { return strconv.FormatFloat(v, 'f', 1, 64) + "%" }
func oneDecimal(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
func thousandsOf(v float64) string {
	return thousands(int(v + 0.5))
}

// thousands writes n with commas between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// report is everything one run measured, as written by -json.
type report struct {
	Machine     machine      `json:"machine"`
	Command     string       `json:"command"`
	CellSeconds float64      `json:"cellSeconds"`
	IdleSeconds float64      `json:"idleSeconds"`
	Results     []cellResult `json:"results"`
}

func (r *report) writeJSON(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// writeTable prints the run as one Markdown table: a row per measure of
// each cell, ours and v3.5 side by side with their ratio, and the other
// build with its own ratio to v3.5 when there is one (-before).
func (r *report) writeTable(w io.Writer) {
	found := make(map[[3]string]cellResult)
	withBefore := false
	for _, res := range r.Results {
		found[[3]string{res.Setup, res.Cell, res.System}] = res
		withBefore = withBefore || res.System == beforeLabel
	}
	systems := []system{ours{}, etcd35{}}
	if withBefore {
		systems = append(systems, ours{before: true})
		fmt.Fprintln(w, "| setup | cell | measure | better | ours | v3.5 | ours/v3.5 | before | before/v3.5 | leader changes, ours / v3.5 / before |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	} else {
		fmt.Fprintln(w, "| setup | cell | measure | better | ours | v3.5 | ours/v3.5 | leader changes, ours / v3.5 |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	}
	for _, s := range setups {
		for _, c := range cellsFor(s.members) {
			results := make([]*cellResult, len(systems))
			measured := false
			for i, sys := range systems {
				if res, ok := found[[3]string{s.name, c.name, sys.label()}]; ok {
					results[i] = &res
					measured = true
				}
			}
			if !measured {
				continue
			}
			this, v35 := results[0], results[1]
			for i, m := range c.measures {
				row := []string{s.name, c.name, m.name, better(m),
					cellText(this, m, i == 0), cellText(v35, m, i == 0), ratio(this, v35, m)}
				if withBefore {
					row = append(row, cellText(results[2], m, i == 0), ratio(results[2], v35, m))
				}
				var changes []string
				if i == 0 && s.members > 1 && !c.instant {
					for _, res := range results {
						changes = append(changes, countOrDash(res))
					}
				}
				row = append(row, strings.Join(changes, " / "))
				fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
			}
		}
	}
}

// leaderChanges adds up the leader changes of every cluster cell of a
// system; counted is false if none was counted.
func (r *report) leaderChanges(system string) (total int, counted bool) {
	for _, res := range r.Results {
		if res.System == system && res.LeaderChanges != nil {
			total += *res.LeaderChanges
			counted = true
		}
	}
	return total, counted
}

func better(m measure) string {
	if m.higherIsBetter {
		return "higher"
	}
	return "lower"
}

// cellText is a measure's value, with the cell's errors on its first row.
func cellText(r *cellResult, m measure, first bool) string {
	switch {
	case r == nil:
		return "—"
	case r.Failed != "":
		return "failed"
	}
	text := m.format(m.value(*r))
	if first && r.Errors > 0 {
		text += fmt.Sprintf(" (%d errors)", r.Errors)
	}
	return text
}

func ratio(ours, v35 *cellResult, m measure) string {
	if ours == nil || v35 == nil || ours.Failed != "" || v35.Failed != "" || m.value(*v35) == 0 {
		return "—"
	}
	return strconv.FormatFloat(m.value(*ours)/m.value(*v35), 'f', 2, 64)
}

func countOrDash(r *cellResult) string {
	if r == nil || r.LeaderChanges == nil {
		return "—"
	}
	return strconv.Itoa(*r.LeaderChanges)
}

// summary is one cell's figures on one line, for progress while the run
// goes on.
func summary(r cellResult, c cell) string {
	if r.Failed != "" {
		return "failed: " + r.Failed
	}
	parts := make([]string, 0, len(c.measures)+2)
	for _, m := range c.measures {
		parts = append(parts, m.name+" "+m.format(m.value(r)))
	}
	if r.Errors > 0 {
		parts = append(parts, fmt.Sprintf("%d errors, first: %s", r.Errors, r.FirstError))
	}
	if r.LeaderChanges != nil {
		parts = append(parts, fmt.Sprintf("%d leader changes", *r.LeaderChanges))
	}
	return strings.Join(parts, "; ")
}
