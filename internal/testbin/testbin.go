// Package testbin builds the etcd binary for the tests that run it as a
// separate process, as its users do.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Build compiles the daemon into dir and returns the binary's path. The
// build's output goes to stderr, where a failing test run shows it.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "etcd")
	goTool := "go"
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			goTool = p
		}
	}
	build := exec.Command(goTool, "build", "-o", bin, "github.com/etcd-recreation/etcd")
	build.Stdout = os.Stderr
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building etcd: %w", err)
	}
	return bin, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
