package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestHelpSaysWhatVerboseLogs: -h describes -v by what it logs, each
// client request, not as a level of detail.
func TestHelpSaysWhatVerboseLogs(t *testing.T) {
	var help bytes.Buffer
	parseFlags([]string{"-h"}, &help)
	// The flag package writes a one-letter boolean's usage on its line.
	_, afterV, _ := strings.Cut(help.String(), "\n  -v\t")
	usageOfV, _, _ := strings.Cut(afterV, "\n  -")
	if !strings.Contains(usageOfV, "each client request") {
		t.Fatalf("-h describes -v as %q; it should say that it logs each client request", strings.TrimSpace(usageOfV))
	}
}
