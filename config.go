package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/etcd-recreation/etcd/internal/raftdisk"
)

// Config is everything a node is started with: the command line, and the
// identity kept in the data directory's info file.
type Config struct {
	Name string
	// Advertised addresses, host:port; clients and peers are told these.
	ClientAddr string
	RaftAddr   string
	// Where to listen: a host (the port is the advertised one) or a
	// host:port, for a node reached through a forwarder on another port.
	ClientListen string
	RaftListen   string

	Machines       string // -C
	MachinesFile   string // -CF
	DataDir        string
	Force          bool
	WebAddr        string
	HistorySize    int
	JoinRetries    int
	MaxClusterSize int
	Snapshot       bool
	SnapshotCount  uint64
	Verbose        bool
	VeryVerbose    bool
	ShowVersion    bool
	CORS           string
	CPUProfile     string
	MaxBodyBytes   int64
	MaxKeyBytes    int

	HeartbeatInterval time.Duration
	ElectionTimeout   time.Duration
	CommandTimeout    time.Duration

	ClientTLS TLSFiles
	RaftTLS   TLSFiles

	// given holds the names of the flags on the command line.
	given map[string]bool
	// identityFile is the info file the name and addresses were taken
	// from, when they differ from the flags; "" when the flags hold.
	identityFile string
}

// TLSFiles are the certificate files of one listener.
type TLSFiles struct {
	CertFile string
	KeyFile  string
	CAFile   string
}

func (t TLSFiles) enabled() bool { return t.CertFile != "" || t.KeyFile != "" || t.CAFile != "" }

// parseFlags reads the command line into a Config. Values are checked by
// Config.validate, so that the message can name the flag.
func parseFlags(args []string, output io.Writer) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	fs.SetOutput(output)

	hostname, err := os.Hostname()
	if err != nil || hostname == "" {
		hostname = "default-name"
	}
	var ignore bool
	fs.StringVar(&c.Name, "n", hostname, "the node name (unique in the cluster)")
	fs.StringVar(&c.ClientAddr, "c", "127.0.0.1:4001", "advertised client address, host:port (or a port)")
	fs.StringVar(&c.RaftAddr, "s", "127.0.0.1:7001", "advertised raft address, host:port (or a port)")
	fs.StringVar(&c.ClientListen, "cl", "", "host (or host:port) to listen on for clients (default: -c)")
	fs.StringVar(&c.RaftListen, "sl", "", "host (or host:port) to listen on for peers (default: -s)")
	fs.StringVar(&c.Machines, "C", "", "raft addresses of members to join through, comma-separated")
	fs.StringVar(&c.MachinesFile, "CF", "", "file holding the -C list")
	fs.StringVar(&c.DataDir, "d", "", "data directory (default: NAME.etcd)")
	fs.BoolVar(&c.Force, "f", false, "forget the configuration and data in the data directory")
	fs.BoolVar(&ignore, "i", false, "same as -f")
	fs.StringVar(&c.WebAddr, "w", "", "address of the web dashboard, host:port (off when empty)")
	fs.IntVar(&c.HistorySize, "m", 1024, "number of events kept for since-index watches")
	fs.IntVar(&c.JoinRetries, "r", 3, "join attempts before giving up")
	fs.IntVar(&c.MaxClusterSize, "maxsize", 9, "most machines in the cluster")
	fs.BoolVar(&c.Snapshot, "snapshot", true, "take snapshots and compact the log")
	fs.Uint64Var(&c.SnapshotCount, "snapshotCount", 10000, "committed log entries between snapshots")
	fs.BoolVar(&c.Verbose, "v", false, "log each client request once answered: remote address, method, path and query, status, time taken")
	fs.BoolVar(&c.VeryVerbose, "vv", false, "as -v, and goraft's debug lines")
	fs.BoolVar(&c.ShowVersion, "version", false, "print the version and exit")
	fs.StringVar(&c.CORS, "cors", "", "origins allowed to make cross-site requests: * or a comma-separated list of scheme://host[:port]")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile to this file until the process stops")
	fs.Int64Var(&c.MaxBodyBytes, "maxbody", 1<<20, "largest request body accepted, in bytes")
	fs.IntVar(&c.MaxKeyBytes, "maxkey", 4096, "longest key accepted, in bytes")
	fs.DurationVar(&c.HeartbeatInterval, "heartbeat", 50*time.Millisecond, "raft heartbeat interval: how often an idle leader tells its followers it is alive (writes replicate at once)")
	fs.DurationVar(&c.ElectionTimeout, "election", 150*time.Millisecond, "raft election timeout: a follower that hears no leader for this long (up to twice as long) campaigns")
	fs.DurationVar(&c.CommandTimeout, "timeout", 5*time.Second, "how long a write may wait for raft before it fails")
	fs.StringVar(&c.ClientTLS.CertFile, "clientCert", "", "client API certificate file")
	fs.StringVar(&c.ClientTLS.KeyFile, "clientKey", "", "client API key file")
	fs.StringVar(&c.ClientTLS.CAFile, "clientCAFile", "", "CA file client certificates must be signed by")
	fs.StringVar(&c.RaftTLS.CertFile, "serverCert", "", "peer API certificate file")
	fs.StringVar(&c.RaftTLS.KeyFile, "serverKey", "", "peer API key file")
	fs.StringVar(&c.RaftTLS.CAFile, "serverCAFile", "", "CA file peer certificates must be signed by")

	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		// The flag package stops at the first word that is no flag: a
		// value with a space in it, or a list with a space after a comma.
		err := fmt.Errorf("unexpected argument %q: every value belongs to a flag, a value with spaces needs quotes, and a list such as -C takes no spaces after its commas", fs.Arg(0))
		fmt.Fprintln(output, err)
		fs.Usage()
		return nil, err
	}
	c.given = make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { c.given[f.Name] = true })
	c.Force = c.Force || ignore
	c.Verbose = c.Verbose || c.VeryVerbose
	c.Name = strings.TrimSpace(c.Name)
	if c.DataDir == "" {
		c.DataDir = c.Name + ".etcd"
	}
	return c, nil
}

// validate checks and normalises the values; each error names its flag.
func (c *Config) validate() error {
	if c.Name == "" {
		return errors.New("-n: a node name is required, e.g. -n node1")
	}
	if err := checkMemberName(c.Name); err != nil {
		return fmt.Errorf("-n: %w", err)
	}
	var err error
	if c.ClientAddr, err = normalizeAddr(c.ClientAddr); err != nil {
		return fmt.Errorf("-c: %w", err)
	}
	if c.RaftAddr, err = normalizeAddr(c.RaftAddr); err != nil {
		return fmt.Errorf("-s: %w", err)
	}
	if c.HistorySize < 0 {
		return fmt.Errorf("-m: must not be negative, got %d", c.HistorySize)
	}
	if c.JoinRetries < 1 {
		return fmt.Errorf("-r: must be at least 1, got %d", c.JoinRetries)
	}
	if c.MaxClusterSize < 1 {
		return fmt.Errorf("-maxsize: must be at least 1, got %d", c.MaxClusterSize)
	}
	if c.SnapshotCount < 1 {
		return errors.New("-snapshotCount: must be at least 1")
	}
	if c.MaxBodyBytes < 1 || c.MaxBodyBytes > maxBodyFlag {
		return fmt.Errorf("-maxbody: must be between 1 and %d bytes (every member must take the log entries of the largest requests any member accepts), got %d", maxBodyFlag, c.MaxBodyBytes)
	}
	if c.MaxKeyBytes < 1 || c.MaxKeyBytes > maxKeyFlag {
		return fmt.Errorf("-maxkey: must be between 1 and %d bytes (every member must take the log entries of the largest requests any member accepts), got %d", maxKeyFlag, c.MaxKeyBytes)
	}
	if c.HeartbeatInterval <= 0 {
		return fmt.Errorf("-heartbeat: must be positive, got %v", c.HeartbeatInterval)
	}
	if c.ElectionTimeout < 2*c.HeartbeatInterval {
		return fmt.Errorf("-election: must be at least twice -heartbeat (%v), got %v", c.HeartbeatInterval, c.ElectionTimeout)
	}
	if c.CommandTimeout <= 0 {
		return fmt.Errorf("-timeout: must be positive, got %v", c.CommandTimeout)
	}
	if err := checkCORS(c.CORS); err != nil {
		return fmt.Errorf("-cors: %w", err)
	}
	if c.WebAddr != "" {
		if c.WebAddr, err = normalizeAddr(c.WebAddr); err != nil {
			return fmt.Errorf("-w: %w", err)
		}
	}
	return nil
}

// normalizeAddr turns an address flag into host:port. A bare port means
// 127.0.0.1, as the seed README used it.
func normalizeAddr(addr string) (string, error) {
	if strings.Contains(addr, "://") {
		return "", fmt.Errorf("want host:port without a scheme, got %q", addr)
	}
	if _, err := strconv.ParseUint(addr, 10, 16); err == nil {
		return net.JoinHostPort("127.0.0.1", addr), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("want host:port, got %q: %w", addr, err)
	}
	if host == "" {
		return "", fmt.Errorf("want host:port with a host to advertise, got %q", addr)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return "", fmt.Errorf("bad port in %q", addr)
	}
	return addr, nil
}

// listenAddr is where to listen: the advertised address, its port on
// another host, or an address of its own.
func listenAddr(advertised, listen string) string {
	if listen == "" {
		return advertised
	}
	if _, _, err := net.SplitHostPort(listen); err == nil {
		return listen
	}
	_, port, _ := net.SplitHostPort(advertised)
	return net.JoinHostPort(listen, port)
}

// The largest -maxbody and -maxkey. A member must take every log entry
// its leader sends, whatever the flags of either, so the limits of the
// peer port are constants (see maxEntryBytes), and the flags that size an
// entry are bounded by what those limits allow.
const (
	maxBodyFlag = 32 << 20
	maxKeyFlag  = 64 << 10
)

// headerRoom is what the client port allows a request line and headers
// beyond the longest key, percent-encoded.
const headerRoom = 16 << 10

// maxHeaderBytes is the client port's limit on a request line and headers.
func (c *Config) maxHeaderBytes() int { return 3*c.MaxKeyBytes + headerRoom }

// entryBytes bounds the log entry of a client's write to this member: a
// key and values from a body and a request line and headers of the
// largest sizes the flags allow (net/http reads up to 4 kB past its
// header limit), each byte up to six once escaped in JSON (< is \u003c),
// and the command around them.
func (c *Config) entryBytes() int64 {
	return 6*(c.MaxBodyBytes+int64(c.maxHeaderBytes())+4<<10) + 4<<10
}

// ClientURL is the URL clients are given for this node.
func (c *Config) ClientURL() string { return schemeOf(c.ClientTLS) + "://" + c.ClientAddr }

// RaftURL is the URL peers are given for this node.
func (c *Config) RaftURL() string { return schemeOf(c.RaftTLS) + "://" + c.RaftAddr }

func schemeOf(t TLSFiles) string {
	if t.enabled() {
		return "https"
	}
	return "http"
}

// ClientListenAddr is where the client API listens.
func (c *Config) ClientListenAddr() string { return listenAddr(c.ClientAddr, c.ClientListen) }

// RaftListenAddr is where the peer API listens.
func (c *Config) RaftListenAddr() string { return listenAddr(c.RaftAddr, c.RaftListen) }

// nodeInfo is the identity a node keeps in DIR/info. On a restart it wins
// over the flags: a member's name and URLs are part of the replicated state.
type nodeInfo struct {
	Name           string   `json:"name"`
	RaftURL        string   `json:"raftURL"`
	EtcdURL        string   `json:"etcdURL"`
	WebURL         string   `json:"webURL"`
	RaftListenHost string   `json:"raftListenHost"`
	EtcdListenHost string   `json:"etcdListenHost"`
	RaftTLS        TLSFiles `json:"raftTLS"`
	EtcdTLS        TLSFiles `json:"etcdTLS"`
}

const infoFile = "info"

// dataFiles are what -f removes: the node's identity and all raft state.
var dataFiles = append([]string{infoFile, infoFile + ".tmp"}, raftdisk.Files...)

// dataDirSetup is what loadDataDir found.
type dataDirSetup struct {
	ignored []string // one line for each flag given that the stored identity overrode
	removed []string // what -f removed
	first   bool     // no identity was stored: this is the node's first start
	created bool     // the data directory did not exist
}

// loadDataDir creates the data directory, wipes it on -f, and takes the
// node's identity from a stored info file.
func (c *Config) loadDataDir() (dataDirSetup, error) {
	var setup dataDirSetup
	if _, err := os.Stat(c.DataDir); errors.Is(err, os.ErrNotExist) {
		setup.created = true
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return setup, fmt.Errorf("-d: create data directory: %w", err)
	}
	if c.Force {
		removed, err := c.removeDataFiles()
		if err != nil {
			return setup, fmt.Errorf("-f: %w", err)
		}
		setup.removed = removed
	}
	path := filepath.Join(c.DataDir, infoFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		setup.first = true
		return setup, nil
	}
	if err != nil {
		return setup, fmt.Errorf("-d: read %s: %w", path, err)
	}
	var stored nodeInfo
	if err := json.Unmarshal(b, &stored); err != nil {
		return setup, fmt.Errorf("-d: %s is not valid node info (use -f to start afresh): %w", path, err)
	}
	if stored == c.infoValue() {
		return setup, nil
	}
	before := *c
	if err := c.adopt(stored); err != nil {
		return setup, fmt.Errorf("-d: %s: %w", path, err)
	}
	c.identityFile = path
	setup.ignored = before.ignoredFlags(c, path)
	return setup, nil
}

// ignoredFlags says, for each flag given on the command line, which value
// of the stored identity (in path) is used instead, when that differs.
func (c *Config) ignoredFlags(stored *Config, path string) []string {
	var lines []string
	note := func(flag, given string, differs bool, verb, used string) {
		if c.given[flag] && differs {
			lines = append(lines, fmt.Sprintf("-%s %s ignored: this data directory's member %s %s (%s)", flag, given, verb, used, path))
		}
	}
	note("n", c.Name, c.Name != stored.Name, "is", strconv.Quote(stored.Name))
	note("c", c.ClientAddr, c.ClientAddr != stored.ClientAddr, "uses", stored.ClientAddr)
	note("s", c.RaftAddr, c.RaftAddr != stored.RaftAddr, "uses", stored.RaftAddr)
	note("cl", c.ClientListen, c.ClientListenAddr() != stored.ClientListenAddr(), "listens on", stored.ClientListenAddr())
	note("sl", c.RaftListen, c.RaftListenAddr() != stored.RaftListenAddr(), "listens on", stored.RaftListenAddr())
	return lines
}

// addrSource names where a listen address came from, for an error: the
// flags, or the identity stored in the data directory, which wins over them.
func (c *Config) addrSource(flags, side string) string {
	if c.identityFile == "" {
		return flags
	}
	return fmt.Sprintf("the %s address stored in %s (%s are ignored for an existing member)", side, c.identityFile, flags)
}

// removeDataFiles removes the node's identity and raft state, and returns
// the paths it removed.
func (c *Config) removeDataFiles() ([]string, error) {
	var removed []string
	for _, name := range dataFiles {
		path := filepath.Join(c.DataDir, name)
		info, err := os.Lstat(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return removed, fmt.Errorf("remove %s: %w", path, err)
		}
		shown := path
		if info.IsDir() {
			entries, _ := os.ReadDir(path)
			shown = fmt.Sprintf("%s/ (%d entries)", path, len(entries))
		}
		if err := os.RemoveAll(path); err != nil {
			return removed, fmt.Errorf("remove %s: %w", path, err)
		}
		removed = append(removed, shown)
	}
	return removed, nil
}

// logRemoved says what -f removed from dir.
func logRemoved(dir string, removed []string) {
	if len(removed) == 0 {
		log.Printf("-f: %s held no identity or raft state to remove", dir)
		return
	}
	log.Printf("-f: removed %s", strings.Join(removed, ", "))
}

// undoFirstStart removes what a first start that failed left behind, so
// that the next start, with corrected flags, is a first start again.
func (c *Config) undoFirstStart(setup dataDirSetup) error {
	if setup.created {
		return os.RemoveAll(c.DataDir)
	}
	_, err := c.removeDataFiles()
	return err
}

// saveIdentity writes the info file on a node's first start, once it has
// founded or joined its cluster: an identity that never ran must not bind
// later starts.
func (c *Config) saveIdentity() error {
	path := filepath.Join(c.DataDir, infoFile)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	return raftdisk.WriteFileSynced(path, c.info())
}

func (c *Config) infoValue() nodeInfo {
	return nodeInfo{
		Name:           c.Name,
		RaftURL:        c.RaftURL(),
		EtcdURL:        c.ClientURL(),
		RaftListenHost: c.RaftListenAddr(),
		EtcdListenHost: c.ClientListenAddr(),
		RaftTLS:        c.RaftTLS,
		EtcdTLS:        c.ClientTLS,
	}
}

func (c *Config) info() []byte {
	b, _ := json.MarshalIndent(c.infoValue(), "", " ")
	return append(b, '\n')
}

// adopt takes the node's identity from its stored info. The TLS files come
// from the flags (so certificates can move), but whether a port has TLS is
// part of the identity members know it by.
func (c *Config) adopt(stored nodeInfo) error {
	hostPort := func(u, scheme, flags string) (string, error) {
		addr, ok := strings.CutPrefix(u, scheme+"://")
		if !ok {
			return "", fmt.Errorf("the node was created with %s; give %s to match (or use -f to start afresh)", u, flags)
		}
		return normalizeAddr(addr)
	}
	if stored.Name == "" {
		return errors.New("no node name")
	}
	raftAddr, err := hostPort(stored.RaftURL, schemeOf(c.RaftTLS), "-serverCert/-serverKey exactly when it used https")
	if err != nil {
		return err
	}
	clientAddr, err := hostPort(stored.EtcdURL, schemeOf(c.ClientTLS), "-clientCert/-clientKey exactly when it used https")
	if err != nil {
		return err
	}
	c.Name, c.RaftAddr, c.ClientAddr = stored.Name, raftAddr, clientAddr
	c.RaftListen = stored.RaftListenHost
	c.ClientListen = stored.EtcdListenHost
	return nil
}
