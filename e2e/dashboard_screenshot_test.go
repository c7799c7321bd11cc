package e2e

import (
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDashboardScreenshotCommand runs the README's screenshot command, as
// pasted but for the node's port and the browser's path, and checks that
// each picture shows the node, not the page waiting for it ("connecting to
// the node…"): the state arrived by script after the picture was taken.
func TestDashboardScreenshotCommand(t *testing.T) {
	var command string
	for _, it := range readmeSection(t, "Dashboard") {
		if it.lang == "sh" && strings.Contains(it.text, "--screenshot") {
			command = strings.TrimSpace(it.text)
		}
	}
	if command == "" {
		t.Fatal("the README's Dashboard section has no screenshot command")
	}
	n := startNode(t, "node1")
	n.set("/message", "Hello world")
	command = strings.Replace(command, "http://127.0.0.1:4001", n.url(""), 1)
	command = strings.Replace(command, "chromium ", chromiumPath(t)+" ", 1)
	// Several pictures: whether one taken at load showed the state was a
	// race with the page's first reads.
	for i := range 3 {
		dir := t.TempDir()
		cmd := exec.Command("sh", "-c", command)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", command, err, out)
		}
		f, err := os.Open(filepath.Join(dir, "dashboard.png"))
		if err != nil {
			t.Fatalf("%s wrote no dashboard.png: %v", command, err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("dashboard.png: %v", err)
		}
		if !showsServingNode(img) {
			keep := filepath.Join(os.TempDir(), "etcd-dashboard-screenshot.png")
			if b, err := os.ReadFile(filepath.Join(dir, "dashboard.png")); err == nil && os.WriteFile(keep, b, 0o644) == nil {
				t.Logf("the picture is in %s", keep)
			}
			t.Fatalf("picture %d shows no serving node (the green status in the header): the page was still connecting", i+1)
		}
	}
}

// showsServingNode reports whether the header of a picture of the page
// holds the status of a node that serves: a pill of the page's --ok green
// (#1f7a46), drawn only once the node's state is on the page.
func showsServingNode(img image.Image) bool {
	const header = 48 // px, the height of the page's header
	b := img.Bounds()
	for y := b.Min.Y; y < min(b.Max.Y, b.Min.Y+header); y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 == 0x1f && g>>8 == 0x7a && bl>>8 == 0x46 {
				return true
			}
		}
	}
	return false
}
