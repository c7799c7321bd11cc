package e2e

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// prereqCommands returns the commands tools/prereqs checks for and the
// Debian packages it installs, in its order.
func prereqCommands(t *testing.T) (commands, packages []string) {
	t.Helper()
	out, err := exec.Command("../tools/prereqs", "packages").Output()
	if err != nil {
		t.Fatalf("tools/prereqs packages: %v", err)
	}
	packages = strings.Fields(string(out))
	script, err := os.ReadFile("../tools/prereqs")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^(?:list=')?([a-z]+):[a-z0-9.+-]+:`).FindAllStringSubmatch(string(script), -1) {
		commands = append(commands, m[1])
	}
	return commands, packages
}

// TestGettingStartedInstallsWhatTheTestsUse: the install command in the
// README's Getting started names exactly the packages tools/prereqs checks
// for, and every program a test looks up is among them, so that a machine
// set up as the README says runs every test.
func TestGettingStartedInstallsWhatTheTestsUse(t *testing.T) {
	t.Parallel()
	commands, packages := prereqCommands(t)
	if len(packages) == 0 || len(commands) != len(packages) {
		t.Fatalf("tools/prereqs lists commands %v and packages %v", commands, packages)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	install := regexp.MustCompile(`(?m)^sudo apt-get install -y (.*)$`).FindSubmatch(readme)
	if install == nil {
		t.Fatal("README: no `sudo apt-get install -y ...` line in Getting started")
	}
	if got := strings.Fields(string(install[1])); !slices.Equal(got, packages) {
		t.Errorf("README installs %v; tools/prereqs checks for %v", got, packages)
	}

	lookups := regexp.MustCompile(`exec\.LookPath\("([^"]+)"\)|exec\.Command\("([a-z]+)"`)
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "bin" || d.Name() == "etcd35") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range lookups.FindAllStringSubmatch(string(src), -1) {
			program := m[1] + m[2]
			if program == "go" || program == "sh" {
				continue // Getting started names Go itself; every system has a POSIX sh
			}
			if !slices.Contains(commands, program) {
				t.Errorf("%s runs %q, which tools/prereqs does not check for", path, program)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPrereqsNameWhatIsMissing: with a program gone from PATH, the check
// fails, names it with its package, and gives the install command.
func TestPrereqsNameWhatIsMissing(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	for _, tool := range []string{"sh", "cut", "tr", "sed", "id", "printf", "strace", "ip", "curl", "dash"} {
		path, err := exec.LookPath(tool)
		if err != nil {
			continue
		}
		if err := os.Symlink(path, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	sh := filepath.Join(bin, "sh")
	cmd := exec.Command(sh, "../tools/prereqs", "check")
	cmd.Env = []string{"PATH=" + bin}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("check passed without chromium on PATH:\n%s", out)
	}
	for _, want := range []string{"chromium  (Debian package chromium)", "sudo apt-get install -y chromium strace"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check's message lacks %q:\n%s", want, out)
		}
	}
}
