package powerloss

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// The traces below are written as strace prints them, with two shorthands:
// {root} is the data directory, and <<text>> is text as -xx prints a string.
const testRoot = "/data/node.etcd"

var shorthandString = regexp.MustCompile(`<<(.*?)>>`)

func expandTrace(root, trace string) string {
	trace = strings.ReplaceAll(trace, "{root}", root)
	return shorthandString.ReplaceAllStringFunc(trace, func(s string) string {
		return hexString(s[2 : len(s)-2])
	})
}

// hexString prints s as strace -xx does.
func hexString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, `\x%02x`, s[i])
	}
	b.WriteByte('"')
	return b.String()
}

func replay(t *testing.T, trace string) *Model {
	t.Helper()
	m, err := Replay(strings.NewReader(expandTrace(testRoot, trace)), testRoot)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	return m
}

// afterPowerCut replays trace and returns the materialized image: path →
// contents, "<dir>" for a directory.
func afterPowerCut(t *testing.T, trace string) map[string]string {
	t.Helper()
	return readImage(t, replay(t, trace))
}

func readImage(t *testing.T, m *Model) map[string]string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "image")
	if err := m.Materialize(dir); err != nil {
		t.Fatalf("Materialize: %v", err)
	}
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if e.IsDir() {
			files[rel] = "<dir>"
			return nil
		}
		b, err := os.ReadFile(p)
		files[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func expectImage(t *testing.T, got, want map[string]string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after the power cut:\n got  %q\n want %q", got, want)
	}
}

// createLog creates {root}/log as fd 3 and makes its entry durable, as a
// careful program does.
const createLog = `
100 mkdirat(AT_FDCWD, <<{root}>>, 0700) = 0
100 openat(AT_FDCWD, <<{root}/log>>, O_WRONLY|O_CREAT|O_CLOEXEC, 0600) = 3
100 openat(AT_FDCWD, <<{root}>>, O_RDONLY|O_CLOEXEC) = 9
100 fsync(9) = 0
100 close(9) = 0
`

func TestWriteWithoutFsyncIsLost(t *testing.T) {
	got := afterPowerCut(t, createLog+`
100 write(3, <<hello>>, 5) = 5
`)
	expectImage(t, got, map[string]string{"log": ""})
}

func TestFsyncedWriteIsKept(t *testing.T) {
	got := afterPowerCut(t, createLog+`
100 write(3, <<hello>>, 5) = 5
100 fsync(3) = 0
100 write(3, << world>>, 6) = 6
`)
	expectImage(t, got, map[string]string{"log": "hello"})
}

func TestFsyncThroughAnotherDescriptorKeepsTheFile(t *testing.T) {
	got := afterPowerCut(t, createLog+`
100 openat(AT_FDCWD, <<{root}/log>>, O_RDONLY|O_CLOEXEC) = 4
100 write(3, <<hello>>, 5) = 5
100 fdatasync(4) = 0
`)
	expectImage(t, got, map[string]string{"log": "hello"})
}

func TestCreatedFileWithoutDirectoryFsyncIsAbsent(t *testing.T) {
	m := replay(t, `
100 mkdirat(AT_FDCWD, <<{root}>>, 0700) = 0
100 openat(AT_FDCWD, <<{root}/log>>, O_WRONLY|O_CREAT|O_CLOEXEC, 0600) = 3
100 write(3, <<hello>>, 5) = 5
100 fsync(3) = 0
`)
	expectImage(t, readImage(t, m), map[string]string{})
	want := []string{"log: missing: the data directory was not fsynced after the file was created or renamed into it (5 bytes lost)"}
	if got := m.Losses(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Losses() = %q, want %q", got, want)
	}
}

// writeConf replaces {root}/conf with text through conf.tmp, fsyncing the
// file but not the directory.
func writeConf(text string) string {
	return fmt.Sprintf(`
100 openat(AT_FDCWD, <<{root}/conf.tmp>>, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0600) = 5
100 write(5, <<%s>>, %d) = %[2]d
100 fsync(5) = 0
100 close(5) = 0
100 renameat(AT_FDCWD, <<{root}/conf.tmp>>, AT_FDCWD, <<{root}/conf>>) = 0
`, text, len(text))
}

const fsyncRoot = `
100 openat(AT_FDCWD, <<{root}>>, O_RDONLY|O_CLOEXEC) = 9
100 fsync(9) = 0
100 close(9) = 0
`

func TestRenameWithoutDirectoryFsyncKeepsTheOldName(t *testing.T) {
	m := replay(t, createLog+writeConf("first")+fsyncRoot+writeConf("second"))
	expectImage(t, readImage(t, m), map[string]string{"log": "", "conf": "first"})
	want := []string{"conf: names an older file: the data directory was not fsynced after the rename over it"}
	if got := m.Losses(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Losses() = %q, want %q", got, want)
	}

	// Before any directory fsync the new name is not even there; after one,
	// the rename is.
	expectImage(t, afterPowerCut(t, createLog+writeConf("first")), map[string]string{"log": ""})
	expectImage(t, afterPowerCut(t, createLog+writeConf("first")+fsyncRoot+writeConf("second")+fsyncRoot),
		map[string]string{"log": "", "conf": "second"})
}

func TestUnlinkWithoutDirectoryFsyncLeavesTheFile(t *testing.T) {
	m := replay(t, createLog+`
100 write(3, <<hello>>, 5) = 5
100 fsync(3) = 0
100 unlinkat(AT_FDCWD, <<{root}/log>>, 0) = 0
`)
	expectImage(t, readImage(t, m), map[string]string{"log": "hello"})
	want := []string{"log: present though removed or renamed since: the data directory was not fsynced after that"}
	if got := m.Losses(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Losses() = %q, want %q", got, want)
	}
}

// An fsync guarantees what was written before it began. A write that ends
// while it runs, even one that began before it, may or may not be on disk.
func TestWriteDuringAnFsyncIsNotCounted(t *testing.T) {
	got := afterPowerCut(t, createLog+`
100 write(3, <<one >>, 4) = 4
101 fsync(3 <unfinished ...>
100 write(3, <<two >>, 4) = 4
101 <... fsync resumed>) = 0
`)
	expectImage(t, got, map[string]string{"log": "one "})

	got = afterPowerCut(t, createLog+`
100 write(3, <<one >>, 4) = 4
100 write(3, <<two >>, 4 <unfinished ...>
101 fsync(3 <unfinished ...>
100 <... write resumed>) = 4
101 <... fsync resumed>) = 0
`)
	expectImage(t, got, map[string]string{"log": "one "})
}

func TestFsyncThatNeverReturnedCountsForNothing(t *testing.T) {
	for name, end := range map[string]string{
		"trace ends":        "101 fsync(3 <unfinished ...>\n",
		"thread dies":       "101 fsync(3 <unfinished ...>) = ?\n",
		"resumed, unknown":  "101 fsync(3 <unfinished ...>\n101 <... fsync resumed>) = ?\n",
		"fails":             "101 fsync(3) = -1 EIO (Input/output error)\n",
		"killed after this": "101 fsync(3 <unfinished ...>\n100 +++ killed by SIGKILL +++\n101 +++ killed by SIGKILL +++\n",
	} {
		t.Run(name, func(t *testing.T) {
			got := afterPowerCut(t, createLog+"100 write(3, <<hello>>, 5) = 5\n"+end)
			expectImage(t, got, map[string]string{"log": ""})
		})
	}
}

func TestAppendingDescriptorsWriteAtTheEnd(t *testing.T) {
	got := afterPowerCut(t, createLog+`
100 openat(AT_FDCWD, <<{root}/log>>, O_WRONLY|O_APPEND|O_CLOEXEC) = 4
100 openat(AT_FDCWD, <<{root}/log>>, O_WRONLY|O_APPEND|O_CLOEXEC) = 5
100 write(4, <<a>>, 1) = 1
100 write(5, <<bb>>, 2) = 2
100 write(4, <<ccc>>, 3) = 3
100 lseek(5, 0, SEEK_SET) = 0
100 pwrite64(5, <<d>>, 1, 0) = 1
100 fsync(4) = 0
`)
	expectImage(t, got, map[string]string{"log": "abbcccd"})
}

func TestTruncation(t *testing.T) {
	got := afterPowerCut(t, createLog+`
100 write(3, <<hello world>>, 11) = 11
100 fsync(3) = 0
100 ftruncate(3, 5) = 0
100 fsync(3) = 0
100 ftruncate(3, 8) = 0
100 fsync(3) = 0
`)
	expectImage(t, got, map[string]string{"log": "hello\x00\x00\x00"})

	got = afterPowerCut(t, createLog+`
100 write(3, <<hello world>>, 11) = 11
100 fsync(3) = 0
100 truncate(<<{root}/log>>, 5) = 0
`)
	expectImage(t, got, map[string]string{"log": "hello world"})

	got = afterPowerCut(t, createLog+`
100 write(3, <<hello world>>, 11) = 11
100 fsync(3) = 0
100 openat(AT_FDCWD, <<{root}/log>>, O_WRONLY|O_TRUNC|O_CLOEXEC) = 4
100 write(4, <<bye>>, 3) = 3
100 fsync(4) = 0
`)
	expectImage(t, got, map[string]string{"log": "bye"})
}

// Reads, seeks, dup'ed descriptors, short writes, pwrite and writev all
// move (or keep) the offset the next write lands at.
func TestOffsets(t *testing.T) {
	got := afterPowerCut(t, createLog+`
100 write(3, <<0123456789>>, 10) = 10
100 openat(AT_FDCWD, <<{root}/log>>, O_RDWR|O_CLOEXEC) = 4
100 read(4, <<0123>>, 4) = 4
100 write(4, <<abcd>>, 4) = 2
100 dup(4) = 5
100 write(5, <<X>>, 1) = 1
100 fcntl(5, F_DUPFD_CLOEXEC, 0) = 6
100 close(4) = 0
100 close(5) = 0
100 pwrite64(6, <<Q>>, 1, 9) = 1
100 write(6, <<Y>>, 1) = 1
100 lseek(6, 1, SEEK_SET) = 1
100 writev(6, [{iov_base=<<m>>, iov_len=1}, {iov_base=<<n>>, iov_len=1}], 2) = 2
100 dup3(6, 4, O_CLOEXEC) = 4
100 write(4, <<!>>, 1) = 1
100 fsync(4) = 0
`)
	expectImage(t, got, map[string]string{"log": "0mn!abXY8Q"})
}

func TestSubdirectoryNeedsItsParentFsynced(t *testing.T) {
	subdir := createLog + `
100 mkdirat(AT_FDCWD, <<{root}/snapshot>>, 0700) = 0
100 openat(AT_FDCWD, <<{root}/snapshot/1_2.ss>>, O_WRONLY|O_CREAT|O_CLOEXEC, 0600) = 4
100 write(4, <<state>>, 5) = 5
100 fsync(4) = 0
100 openat(AT_FDCWD, <<{root}/snapshot>>, O_RDONLY|O_CLOEXEC|O_DIRECTORY) = 5
100 fsync(5) = 0
`
	m := replay(t, subdir)
	expectImage(t, readImage(t, m), map[string]string{"log": ""})
	want := []string{
		"snapshot: missing: the data directory was not fsynced after the file was created or renamed into it",
		"snapshot/1_2.ss: missing, as its directory is (5 bytes lost)",
	}
	if got := m.Losses(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Losses() = %q, want %q", got, want)
	}
	expectImage(t, afterPowerCut(t, subdir+fsyncRoot),
		map[string]string{"log": "", "snapshot": "<dir>", "snapshot/1_2.ss": "state"})
}

// Files outside the data directory, sockets and the standard streams are
// not modeled; a descriptor number they used is modeled again once the data
// directory's file takes it.
func TestOnlyTheDataDirectoryCounts(t *testing.T) {
	got := afterPowerCut(t, `
100 openat(AT_FDCWD, <</etc/localtime>>, O_RDONLY) = 3
100 read(3, <<TZif>>, 4096) = 4
100 write(1, <<starting>>, 8) = 8
100 close(3) = 0
100 mkdirat(AT_FDCWD, <<{root}>>, 0700) = 0
100 openat(AT_FDCWD, <<{root}.other>>, O_WRONLY|O_CREAT|O_CLOEXEC, 0600) = 3
100 write(3, <<elsewhere>>, 9) = 9
100 close(3) = 0
`+createLog+`
101 write(7, <<HTTP/1.1 200 OK>>, 15) = 15
101 writev(8, [{iov_base=<<x>>, iov_len=1}], 1) = 1
100 write(3, <<kept>>, 4) = 4
100 fsync(3) = 0
100 renameat(AT_FDCWD, <</tmp/a>>, AT_FDCWD, <</tmp/b>>) = 0
100 unlinkat(AT_FDCWD, <</tmp/b>>, 0) = 0
`)
	expectImage(t, got, map[string]string{"log": "kept"})
}

func TestTraceLineForms(t *testing.T) {
	// strace writing to a terminal prefixes [pid N]; without -f, nothing;
	// results may be padded, hexadecimal or errors.
	got := afterPowerCut(t, `
mkdirat(AT_FDCWD, <<{root}>>, 0700) = 0
[pid   100] openat(AT_FDCWD, <<{root}/log>>, O_WRONLY|O_CREAT|O_CLOEXEC, 0600) = 3
[pid 101] openat(AT_FDCWD, <<{root}/nothing>>, O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)
100   fcntl(3, F_GETFL)                 = 0x8001 (flags O_WRONLY|O_LARGEFILE)
100   --- SIGURG {si_signo=SIGURG, si_code=SI_TKILL, si_pid=100, si_uid=0} ---
100   write(3, <<hello>>, 5)            = 5
100   fsync(3 <unfinished ...>
101   openat(AT_FDCWD, <<{root}>>, O_RDONLY|O_CLOEXEC <unfinished ...>
100   <... fsync resumed>)              = 0
101   <... openat resumed>)             = 9
101   fsync(9)                          = 0
100   write(3, <<late>>, 4 <unfinished ...>
101   pwrite64(3, <<later>>, 5, 0 <unfinished ...>
100   --- SIGSTOP {si_signo=SIGSTOP, si_code=SI_USER, si_pid=99, si_uid=0} ---
100   <... write resumed> <unfinished ...>) = ?
101   <... pwrite64 resumed> <unfinished ...>) = ?
100   --- stopped by SIGSTOP ---
101   +++ exited with 0 +++
`)
	expectImage(t, got, map[string]string{"log": "hello"})
}

func TestReplayRefusesWhatItCannotModel(t *testing.T) {
	for name, tc := range map[string]struct{ trace, err string }{
		"a file from before the trace": {
			`100 openat(AT_FDCWD, <<{root}/log>>, O_RDWR|O_CLOEXEC) = 3`,
			"log existed before the trace began",
		},
		"a write strace cut short": {
			createLog + `100 write(3, "\x61\x62"..., 3) = 3`,
			"cut short by strace",
		},
		"strings not printed with -xx": {
			createLog + `100 write(3, "ab", 2) = 2`,
			"not printed with -xx",
		},
		"a relative path": {
			`100 openat(AT_FDCWD, <<log>>, O_RDONLY) = 3`,
			"needs the process to use absolute paths",
		},
		"a hard link into the data directory": {
			createLog + `100 linkat(AT_FDCWD, <</tmp/x>>, AT_FDCWD, <<{root}/x>>, 0) = 0`,
			"linkat of x in the data directory is not modeled",
		},
		"fallocate": {
			createLog + `100 fallocate(3, 0, 0, 4096) = 0`,
			"fallocate on /data/node.etcd/log in the data directory is not modeled",
		},
		"a rename into the data directory": {
			`100 renameat(AT_FDCWD, <</tmp/x>>, AT_FDCWD, <<{root}/x>>) = 0`,
			"crosses the data directory's boundary",
		},
		"a resumed call that never started": {
			`100 <... fsync resumed>) = 0`,
			"pid 100 has no unfinished fsync",
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Replay(strings.NewReader(expandTrace(testRoot, tc.trace)), testRoot)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Replay error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

func TestVerifyComparesWithTheRealDirectory(t *testing.T) {
	root := filepath.Join(t.TempDir(), "node.etcd")
	if err := os.MkdirAll(filepath.Join(root, "snapshot"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "log"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	trace := expandTrace(root, createLog+`
100 write(3, <<hello>>, 5) = 5
100 mkdirat(AT_FDCWD, <<{root}/snapshot>>, 0700) = 0
`)
	m, err := Replay(strings.NewReader(trace), root)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(root); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, "log"), []byte("hello!"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "conf"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err = m.Verify(root)
	for _, want := range []string{"log: 6 bytes on disk, 5 in the model, first difference at byte 5", "conf: on disk, not in the model"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Verify after changing the directory: %v; want it to report %q", err, want)
		}
	}
}

// Calls the kill cut short count for nothing after a power cut, but the
// directory the kill left may show them, in part or in full.
func TestVerifyAllowsWhatCallsCutShortMayHaveDone(t *testing.T) {
	root := filepath.Join(t.TempDir(), "node.etcd")
	trace := expandTrace(root, createLog+writeConf("first")+fsyncRoot+`
100 write(3, <<hello>>, 5) = 5
100 fsync(3) = 0
100 write(3, << world>>, 6 <unfinished ...>
101 openat(AT_FDCWD, <<{root}/conf.tmp>>, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0600) = 5
101 write(5, <<second>>, 6) = 6
101 fsync(5) = 0
101 close(5) = 0
101 renameat(AT_FDCWD, <<{root}/conf.tmp>>, AT_FDCWD, <<{root}/conf>> <unfinished ...>
100 +++ killed by SIGKILL +++
101 <... renameat resumed>) = ?
101 +++ killed by SIGKILL +++
`)
	m, err := Replay(strings.NewReader(trace), root)
	if err != nil {
		t.Fatal(err)
	}
	expectImage(t, readImage(t, m), map[string]string{"log": "hello", "conf": "first"})

	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	// The write landed in part, the rename in full.
	write("log", "hello wo")
	write("conf", "second")
	if err := m.Verify(root); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// The write did not land at all, nor the rename.
	write("log", "hello")
	write("conf", "first")
	write("conf.tmp", "second")
	if err := m.Verify(root); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// Not something the write could have done.
	write("log", "hello wX")
	if err := m.Verify(root); err == nil || !strings.Contains(err.Error(), "log: 8 bytes on disk, 5 in the model, first difference at byte 5") {
		t.Fatalf("Verify with a log the cut write cannot explain: %v", err)
	}
}
