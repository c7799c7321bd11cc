package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNormalizeAddr(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"127.0.0.1:4001", "127.0.0.1:4001", true},
		{"4002", "127.0.0.1:4002", true},
		{"example.com:7001", "example.com:7001", true},
		{"[::1]:4001", "[::1]:4001", true},
		{"http://127.0.0.1:4001", "", false},
		{":4001", "", false},
		{"127.0.0.1", "", false},
		{"127.0.0.1:0", "", false},
		{"127.0.0.1:99999", "", false},
		{"notaport", "", false},
	}
	for _, tt := range tests {
		got, err := normalizeAddr(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("normalizeAddr(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestFlagDefaults(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.ClientURL() != "http://127.0.0.1:4001" || cfg.RaftURL() != "http://127.0.0.1:7001" {
		t.Errorf("default URLs %s, %s", cfg.ClientURL(), cfg.RaftURL())
	}
	if cfg.DataDir != cfg.Name+".etcd" || !cfg.Snapshot || cfg.HistorySize != 1024 || cfg.MaxClusterSize != 9 {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestBadFlagsNameTheFlag(t *testing.T) {
	tests := []struct {
		args []string
		flag string
	}{
		{[]string{"-c", "nope"}, "-c"},
		{[]string{"-s", "http://x:1"}, "-s"},
		{[]string{"-n", " "}, "-n"},
		{[]string{"-m", "-1"}, "-m"},
		{[]string{"-maxsize", "0"}, "-maxsize"},
		{[]string{"-heartbeat", "100ms", "-election", "150ms"}, "-election"},
		{[]string{"-w", "nope"}, "-w"},
		{[]string{"-maxbody", "33554433"}, "-maxbody"},
		{[]string{"-maxkey", "65537"}, "-maxkey"},
	}
	for _, tt := range tests {
		cfg, err := parseFlags(tt.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		err = cfg.validate()
		if err == nil || !strings.Contains(err.Error(), tt.flag) {
			t.Errorf("%v: error %v does not name %s", tt.args, err, tt.flag)
		}
	}
}

func TestStoredIdentityWinsOverFlags(t *testing.T) {
	dir := t.TempDir()
	first, _ := parseFlags([]string{"-n", "alpha", "-c", "4101", "-s", "7101", "-d", dir}, io.Discard)
	if err := first.validate(); err != nil {
		t.Fatal(err)
	}
	if setup, err := first.loadDataDir(); err != nil || len(setup.ignored) != 0 || !setup.first {
		t.Fatalf("first start: %+v, %v", setup, err)
	}
	if err := first.saveIdentity(); err != nil {
		t.Fatal(err)
	}
	again, _ := parseFlags([]string{"-n", "beta", "-c", "4201", "-d", dir}, io.Discard)
	if err := again.validate(); err != nil {
		t.Fatal(err)
	}
	setup, err := again.loadDataDir()
	if err != nil || setup.first {
		t.Fatalf("restart: %+v, %v", setup, err)
	}
	// Only the flags given are named; -s was not, and its default differs
	// from the stored address too.
	info := filepath.Join(dir, "info")
	want := []string{
		`-n beta ignored: this data directory's member is "alpha" (` + info + `)`,
		`-c 127.0.0.1:4201 ignored: this data directory's member uses 127.0.0.1:4101 (` + info + `)`,
	}
	if strings.Join(setup.ignored, "\n") != strings.Join(want, "\n") {
		t.Fatalf("restart: ignored flags %q, want %q", setup.ignored, want)
	}
	if again.Name != "alpha" || again.ClientAddr != "127.0.0.1:4101" || again.RaftAddr != "127.0.0.1:7101" {
		t.Fatalf("restart took %s %s %s, want the stored identity", again.Name, again.ClientAddr, again.RaftAddr)
	}
}

func TestForceWipesDataDir(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"info", "log", "conf"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "snapshot"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg, _ := parseFlags([]string{"-n", "gamma", "-d", dir, "-f"}, io.Discard)
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.loadDataDir(); err != nil {
		t.Fatal(err)
	}
	if err := cfg.saveIdentity(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"log", "conf", "snapshot"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s survived -f", name)
		}
	}
	info, _ := os.ReadFile(filepath.Join(dir, "info"))
	if !strings.Contains(string(info), `"name": "gamma"`) {
		t.Errorf("info after -f: %s", info)
	}
}

func TestListenAddr(t *testing.T) {
	tests := []struct{ advertised, listen, want string }{
		{"127.0.0.1:4001", "", "127.0.0.1:4001"},
		{"10.0.0.5:4001", "0.0.0.0", "0.0.0.0:4001"},
		{"proxy.example:7001", "127.0.0.1:17001", "127.0.0.1:17001"},
	}
	for _, tt := range tests {
		if got := listenAddr(tt.advertised, tt.listen); got != tt.want {
			t.Errorf("listenAddr(%q, %q) = %q, want %q", tt.advertised, tt.listen, got, tt.want)
		}
	}
}

// TestEveryEntryFitsEveryMembersAppendLimit: the peer port's limits are
// constants, and a client's write to a member with the largest flags
// allowed makes an entry within them. The bound itself is checked against
// the worst entry a member with small flags can make: a test-and-set whose
// key, value and previous value are all characters that JSON escapes, the
// value filling the body and the previous value the request line.
func TestEveryEntryFitsEveryMembersAppendLimit(t *testing.T) {
	largest, err := parseFlags([]string{"-maxbody", strconv.Itoa(maxBodyFlag), "-maxkey", strconv.Itoa(maxKeyFlag)}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := largest.validate(); err != nil {
		t.Fatalf("the largest flags allowed are refused: %v", err)
	}
	if got := largest.entryBytes(); got != maxEntryBytes {
		t.Fatalf("maxEntryBytes is %d, but a member with -maxbody %d and -maxkey %d may propose entries of %d bytes", maxEntryBytes, maxBodyFlag, maxKeyFlag, got)
	}
	small := &Config{MaxBodyBytes: 1000, MaxKeyBytes: 50}
	const escaped = "<"
	headers := small.maxHeaderBytes() + 4<<10 - small.MaxKeyBytes
	cmd := &TestAndSetCommand{
		Key:        "/" + strings.Repeat(escaped, small.MaxKeyBytes-1),
		Value:      strings.Repeat(escaped, int(small.MaxBodyBytes)),
		PrevValue:  strings.Repeat(escaped, headers),
		ExpireTime: expireTime(time.Now()),
	}
	var encoded bytes.Buffer
	if err := json.NewEncoder(&encoded).Encode(cmd); err != nil {
		t.Fatal(err)
	}
	if got := entrySize(cmd.CommandName(), encoded.Bytes()); got > small.entryBytes() {
		t.Fatalf("an entry of %d bytes from a member whose bound is %d", got, small.entryBytes())
	}
}
