// Command etcd is a highly-available key-value store for shared
// configuration and service discovery: a recreation of etcd v0.1 (2013),
// wire-compatible with its v1 HTTP API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goraft/raft"

	"github.com/etcd-recreation/etcd/etcderr"
	"github.com/etcd-recreation/etcd/store"
	"github.com/etcd-recreation/etcd/web"
)

// releaseVersion is the version this build answers with: that of the
// etcd release it recreates, which clients may check.
var releaseVersion = "v0.1.2"

// raftVersion is the peer protocol's version: members of one cluster must
// run the same.
var raftVersion = releaseVersion

func main() {
	boundHeapGrowth()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	log.SetOutput(stderr)
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if cfg.ShowVersion {
		fmt.Fprintln(stdout, releaseVersion)
		return 0
	}
	if cfg.CPUProfile != "" {
		stopProfile, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintf(stderr, "etcd: -cpuprofile: %v\n", err)
			return 1
		}
		defer stopProfile()
	}
	// A SIGHUP (reload the certificates) must not kill a node that is still
	// starting: it is taken from the start and acted on once the node runs.
	reload := make(chan os.Signal, 1)
	signal.Notify(reload, syscall.SIGHUP)
	// SIGINT and SIGTERM are taken from the start too: one that came as the
	// node began to serve killed it before it could stop cleanly.
	shutdown := make(chan os.Signal, 1)
	signal.Notify(shutdown, syscall.SIGINT, syscall.SIGTERM)
	type started struct {
		e   *etcd
		err error
	}
	starting := make(chan started, 1)
	go func() {
		e, err := startEtcd(cfg)
		starting <- started{e, err}
	}()
	var e *etcd
	select {
	case r := <-starting:
		if r.err != nil {
			fmt.Fprintf(stderr, "etcd: %v\n", r.err)
			return 1
		}
		e = r.e
	case sig := <-shutdown:
		// Start-up cannot be called off halfway; the process ends as a
		// crash would, which every step of start-up survives.
		fmt.Fprintf(stderr, "etcd: received %v while starting; stopping\n", sig)
		return 1
	}
	for {
		select {
		case <-reload:
			e.reloadTLS()
		case sig := <-shutdown:
			log.Printf("received %v, shutting down", sig)
			e.stop()
			return 0
		case <-e.raft.removedFromCluster():
			e.stop()
			return 0
		case err := <-e.raft.failures():
			e.stop()
			fmt.Fprintf(stderr, "etcd: %v\n", err)
			return 1
		}
	}
}

func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// etcd is one running node: its store, its raft server and its client API.
type etcd struct {
	cfg          *Config
	store        *store.Store
	raft         *raftServer
	handlers     *clientHandlers
	clientServer *http.Server
	webServer    *http.Server // nil without -w
	clientTLS    *tlsSide     // nil without TLS
	peerTLS      *tlsSide
}

// reloadTLS reads the certificate and key files of both ports again.
func (e *etcd) reloadTLS() {
	for _, side := range []*tlsSide{e.clientTLS, e.peerTLS} {
		if side == nil {
			continue
		}
		log.Print(side.reloadReport())
	}
}

// startEtcd brings a node up and returns once its client API serves.
func startEtcd(cfg *Config) (*etcd, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.VeryVerbose {
		raft.SetLogLevel(raft.Debug)
	}
	setup, err := cfg.loadDataDir()
	if err != nil {
		return nil, err
	}
	if cfg.Force {
		logRemoved(cfg.DataDir, setup.removed)
	}
	for _, w := range setup.ignored {
		log.Print(w)
	}
	e, err := bringUp(cfg)
	if err != nil && setup.first {
		if undoErr := cfg.undoFirstStart(setup); undoErr != nil {
			log.Printf("removing what the failed first start left in %s: %v", cfg.DataDir, undoErr)
		}
	}
	return e, err
}

// bringUp starts the node over its prepared data directory.
func bringUp(cfg *Config) (*etcd, error) {
	clientTLS, err := newTLSSide(cfg.ClientTLS, "-clientCert", "-clientKey", "-clientCAFile")
	if err != nil {
		return nil, err
	}
	peerTLS, err := newTLSSide(cfg.RaftTLS, "-serverCert", "-serverKey", "-serverCAFile")
	if err != nil {
		return nil, err
	}
	// Both ports are taken before anything starts, so a port in use is
	// reported at once. Until the store has caught up with the cluster the
	// client port answers every request with an error, not with stale data
	// and not with silence.
	clientListener, err := net.Listen("tcp", cfg.ClientListenAddr())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.addrSource("-c/-cl", "client"), err)
	}
	peerListener, err := net.Listen("tcp", cfg.RaftListenAddr())
	if err != nil {
		clientListener.Close()
		return nil, fmt.Errorf("%s: %w", cfg.addrSource("-s/-sl", "peer"), err)
	}
	if warning := openPeerPortWarning(peerListener.Addr(), cfg.RaftTLS.CAFile); warning != "" {
		log.Print(warning)
	}
	var webListener net.Listener
	if cfg.WebAddr != "" {
		if webListener, err = net.Listen("tcp", cfg.WebAddr); err != nil {
			clientListener.Close()
			peerListener.Close()
			return nil, fmt.Errorf("-w: %w", err)
		}
	}
	procs.start()
	gate := &startupGate{}
	var handler http.Handler = gate
	if cfg.Verbose {
		handler = logRequests(handler)
	}
	maxHeaderBytes := cfg.maxHeaderBytes()
	clientPort := "client port " + cfg.ClientListenAddr()
	clientServer := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          serverErrorLog(clientPort),
	}
	// net/http reads up to 4 kB past MaxHeaderBytes before it refuses.
	go func() {
		l := newClientListener(clientListener, clientTLS.serverConfig(), maxHeaderBytes+4<<10, clientPort)
		if err := clientServer.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Printf("client server: %v", err)
		}
	}()
	// The dashboard's address serves from the start too, so that a node
	// still catching up shows that it is. It shows every key, so it is
	// served with the client port's TLS: turning TLS on must not leave a
	// plain-HTTP way to read the keys.
	var webServer *http.Server
	if webListener != nil {
		var site http.Handler = web.Site(gate)
		if cfg.Verbose {
			site = logRequests(site)
		}
		webPort := "dashboard port " + cfg.WebAddr
		webServer = &http.Server{
			Handler:           site,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          serverErrorLog(webPort),
		}
		go func() {
			l := newClientListener(webListener, clientTLS.serverConfig(), http.DefaultMaxHeaderBytes+4<<10, webPort)
			if err := webServer.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Printf("web server: %v", err)
			}
		}()
		log.Printf("etcd web dashboard [%s] at %s://%s/", cfg.Name, clientTLS.scheme(), cfg.WebAddr)
	}
	closeServers := func() {
		clientServer.Close()
		if webServer != nil {
			webServer.Close()
		}
	}

	st := store.New(cfg.HistorySize)
	rs, err := newRaftServer(cfg, st, peerListener, peerTLS)
	if err != nil {
		closeServers()
		peerListener.Close()
		return nil, err
	}
	err = rs.bootstrap()
	if err == nil {
		err = cfg.saveIdentity()
	}
	if err != nil {
		closeServers()
		rs.stopAll()
		return nil, err
	}
	rs.startBackground()

	e := &etcd{cfg: cfg, store: st, raft: rs, handlers: newClientHandlers(cfg, st, rs), clientServer: clientServer, webServer: webServer, clientTLS: clientTLS, peerTLS: peerTLS}
	gate.open(e.handlers.router())
	log.Printf("etcd %s: node %q serves clients on %s and peers on %s (data in %s)",
		releaseVersion, cfg.Name, cfg.ClientURL(), cfg.RaftURL(), cfg.DataDir)
	return e, nil
}

// openPeerPortWarning is what to say of a peer port that others may reach
// and that trusts every caller, as it does without -serverCAFile: whoever
// reaches it can join the cluster, remove members and pose as the leader.
// "" for a port on loopback or with a CA.
func openPeerPortWarning(addr net.Addr, caFile string) string {
	if tcp, ok := addr.(*net.TCPAddr); caFile != "" || (ok && tcp.IP.IsLoopback()) {
		return ""
	}
	return fmt.Sprintf("warning: the peer port listens on %s, not a loopback address, without -serverCAFile: whoever reaches it can join the cluster, remove members and pose as its leader; give every member -serverCert, -serverKey and -serverCAFile", addr)
}

// startupGate answers client requests with an error until the node is
// ready, then hands them to the API.
type startupGate struct {
	handler atomic.Pointer[http.Handler]
}

func (g *startupGate) open(h http.Handler) { g.handler.Store(&h) }

func (g *startupGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	procs.busy()
	if h := g.handler.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	whileStarting.ServeHTTP(w, r)
}

// whileStarting answers a node's clients until it is ready: the dashboard's
// page, which needs no store and tells a person that the node is catching
// up, and an error for everything else.
var whileStarting = web.PageFiles(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	writeError(w, etcderr.New(etcderr.LeaderElect, "the node is starting: it has not caught up with the cluster yet"))
}))

// stop ends the node: background jobs first (nothing expires or compacts
// meanwhile), then the client API, so no request is cut off halfway through
// raft, then raft and the log.
func (e *etcd) stop() {
	e.raft.stopBackground()
	e.handlers.close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, srv := range []*http.Server{e.clientServer, e.webServer} {
		if srv == nil {
			continue
		}
		srv.SetKeepAlivesEnabled(false)
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	}
	e.raft.stopAll()
}
