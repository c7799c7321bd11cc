package testnode

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// Binary returns the path of the etcd binary, building it the first time it
// is asked for: tests that run no node then neither wait for the build nor
// depend on the daemon compiling. The build's output goes to stderr, where
// a failing test run shows it.
func Binary() (string, error) {
	buildOnce.Do(func() { binPath, buildErr = build() })
	return binPath, buildErr
}

func build() (string, error) {
	dir, err := os.MkdirTemp("", "etcd-testnode-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "etcd")
	cmd := exec.Command(goTool(), "build", "-o", bin, "github.com/etcd-recreation/etcd")
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building etcd: %w", err)
	}
	return bin, nil
}

// goTool prefers the go command of the toolchain running the tests over
// whichever one PATH finds first.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// Main runs the tests of a suite that runs the binary, deletes the binary
// once they are done, and exits with their result: it is the suite's
// TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}
