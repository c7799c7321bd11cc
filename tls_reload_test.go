package main

import (
	"io"
	"log"
	"os"
	"strings"
	"testing"
)

// TestTLSReloadNamesWhatItReloads: SIGHUP's reload names the certificate
// and key it read again, not the CA file, which is read only at start; a
// CA file changed since says that the new CA takes a restart. It captures
// the process's log, so it does not run in parallel.
func TestTLSReloadNamesWhatItReloads(t *testing.T) {
	var logged syncLog
	log.SetOutput(io.MultiWriter(os.Stderr, &logged))
	t.Cleanup(func() { log.SetOutput(os.Stderr) })

	ca := newTestCA(t, "reload")
	cert, key := ca.issue("server")
	n := startTestNode(t, "-clientCert", cert, "-clientKey", key, "-clientCAFile", ca.file)
	reloadLines := func() string {
		t.Helper()
		logged.mu.Lock()
		logged.buf.Reset()
		logged.mu.Unlock()
		n.e.reloadTLS()
		var lines []string
		for line := range strings.SplitSeq(logged.String(), "\n") {
			if strings.Contains(line, "TLS reload") {
				lines = append(lines, line)
			}
		}
		return strings.Join(lines, "\n")
	}

	got := reloadLines()
	if !strings.Contains(got, "-clientCert/-clientKey") || strings.Contains(got, "-clientCAFile") {
		t.Fatalf("a reload with the CA file unchanged logged %q; want the certificate and key named, not the CA file", got)
	}

	other := newTestCA(t, "other")
	b, err := os.ReadFile(other.file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca.file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	got = reloadLines()
	if !strings.Contains(got, "-clientCert/-clientKey") || !strings.Contains(got, "-clientCAFile") || !strings.Contains(got, "restart") {
		t.Fatalf("a reload after the CA file changed logged %q; want it to say that the new CA takes a restart", got)
	}
}
