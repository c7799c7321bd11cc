package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA is a throwaway certificate authority made at test time.
type testCA struct {
	t    *testing.T
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // the CA certificate, PEM
}

var serial int64 = 1

// newKeyAndTemplate makes a key and a certificate for name, valid for an
// hour either side of now, with a serial number of its own.
func newKeyAndTemplate(t *testing.T, name string) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	return key, &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, tmpl := newKeyAndTemplate(t, name)
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{t: t, dir: t.TempDir(), cert: cert, key: key}
	ca.file = ca.write(name+"-ca.crt", "CERTIFICATE", der)
	return ca
}

func (ca *testCA) write(name, kind string, der []byte) string {
	path := filepath.Join(ca.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		ca.t.Fatal(err)
	}
	return path
}

// issue makes a certificate for 127.0.0.1 usable by servers and clients,
// and returns its certificate and key files.
func (ca *testCA) issue(name string) (certFile, keyFile string) {
	ca.t.Helper()
	key, tmpl := newKeyAndTemplate(ca.t, name)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		ca.t.Fatal(err)
	}
	return ca.write(name+".crt", "CERTIFICATE", der), ca.write(name+".key", "EC PRIVATE KEY", keyDER)
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// httpsClient trusts ca and presents the given client certificate, if any.
func httpsClient(t *testing.T, ca *testCA, certFile, keyFile string) *http.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: ca.pool()}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}, Timeout: 10 * time.Second}
}

func TestClientHTTPSWithoutClientAuth(t *testing.T) {
	ca := newTestCA(t, "ca")
	cert, key := ca.issue("server")
	n := startTestNode(t, "-clientCert", cert, "-clientKey", key)
	httpsURL := strings.Replace(n.url, "http://", "https://", 1)
	resp, err := httpsClient(t, ca, "", "").PostForm(httpsURL+"/v1/keys/foo", url.Values{"value": {"bar"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"value":"bar"`) {
		t.Fatalf("HTTPS set: %d %s", resp.StatusCode, body)
	}
	machines, _ := httpsClient(t, ca, "", "").Get(httpsURL + "/v1/machines")
	list, _ := io.ReadAll(machines.Body)
	machines.Body.Close()
	if string(list) != httpsURL {
		t.Fatalf("/v1/machines = %q, want %q", list, httpsURL)
	}
	if resp, err := testClient.Get(n.url + "/version"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP was served on the HTTPS port")
		}
	}
}

func TestClientCertificateRequired(t *testing.T) {
	ca := newTestCA(t, "ca")
	other := newTestCA(t, "other")
	cert, key := ca.issue("server")
	n := startTestNode(t, "-clientCert", cert, "-clientKey", key, "-clientCAFile", ca.file)
	httpsURL := strings.Replace(n.url, "http://", "https://", 1) + "/version"

	goodCert, goodKey := ca.issue("client")
	strangerCert, strangerKey := other.issue("stranger")
	tests := []struct {
		name      string
		client    *http.Client
		wantError bool
	}{
		{"no certificate", httpsClient(t, ca, "", ""), true},
		{"certificate from another CA", httpsClient(t, ca, strangerCert, strangerKey), true},
		{"certificate from the CA", httpsClient(t, ca, goodCert, goodKey), false},
	}
	for _, tt := range tests {
		resp, err := tt.client.Get(httpsURL)
		if err == nil {
			resp.Body.Close()
		}
		if (err != nil) != tt.wantError || (err == nil && resp.StatusCode != http.StatusOK) {
			t.Errorf("%s: err %v, want error %v", tt.name, err, tt.wantError)
		}
	}
}

func TestTLSFlagErrorsNameTheFlag(t *testing.T) {
	ca := newTestCA(t, "ca")
	cert, key := ca.issue("server")
	_, otherKey := ca.issue("other")
	tests := []struct {
		args []string
		flag string
	}{
		{[]string{"-clientCert", cert}, "-clientCert"},
		{[]string{"-clientKey", key}, "-clientCert"},
		{[]string{"-serverCAFile", ca.file}, "-serverCert"},
		{[]string{"-serverCert", cert, "-serverKey", filepath.Join(t.TempDir(), "missing.key")}, "-serverCert"},
		{[]string{"-clientCert", cert, "-clientKey", otherKey}, "-clientCert"},
		{[]string{"-clientCert", cert, "-clientKey", key, "-clientCAFile", key}, "-clientCAFile"},
	}
	for _, tt := range tests {
		args := append([]string{"-n", "tls", "-d", t.TempDir(), "-c", "127.0.0.1:" + freePort(t), "-s", "127.0.0.1:" + freePort(t)}, tt.args...)
		cfg, err := parseFlags(args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		e, err := startEtcd(cfg)
		if err == nil {
			e.stop()
			t.Errorf("%v: started", tt.args)
			continue
		}
		if !strings.Contains(err.Error(), tt.flag) {
			t.Errorf("%v: error %q does not name %s", tt.args, err, tt.flag)
		}
	}
}

func TestPeerTLSCluster(t *testing.T) {
	ca := newTestCA(t, "ca")
	peerFlags := func(name string) []string {
		cert, key := ca.issue(name)
		return []string{"-n", name, "-serverCert", cert, "-serverKey", key, "-serverCAFile", ca.file}
	}
	first := startTestNode(t, peerFlags("node1")...)
	seed := strings.TrimPrefix(first.e.cfg.RaftURL(), "https://")
	if !strings.HasPrefix(first.e.cfg.RaftURL(), "https://") {
		t.Fatalf("raft URL %s is not https", first.e.cfg.RaftURL())
	}
	second := startTestNode(t, append(peerFlags("node2"), "-C", seed)...)
	third := startTestNode(t, append(peerFlags("node3"), "-C", seed)...)

	set := first.set("secure", "value")
	for _, n := range []*testNode{second, third} {
		waitFor(t, 5*time.Second, "replication over TLS", func() bool {
			code, r := n.do(http.MethodGet, "/v1/keys/secure", nil)
			return code == http.StatusOK && r.Value == "value" && r.Index >= set.Index
		})
	}
	code, leaderURL := 0, ""
	if resp, err := testClient.Get(third.url + "/v1/leader"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		code, leaderURL = resp.StatusCode, string(b)
	}
	if code != http.StatusOK || leaderURL != first.e.cfg.RaftURL() {
		t.Fatalf("/v1/leader on node3: %d %q, want %s", code, leaderURL, first.e.cfg.RaftURL())
	}

	// The leader goes; the other two elect one of themselves over TLS.
	first.e.stop()
	first.e = nil
	var leader *testNode
	waitFor(t, 10*time.Second, "a new leader over TLS", func() bool {
		for _, n := range []*testNode{second, third} {
			if n.e.raft.isLeader() {
				leader = n
				return true
			}
		}
		return false
	})
	if r := leader.set("after", "failover"); r.Index <= set.Index {
		t.Fatalf("write after failover has index %d, not above %d", r.Index, set.Index)
	}

	// A member without peer TLS cannot join, and says why.
	alive := strings.TrimPrefix(leader.e.cfg.RaftURL(), "https://")
	plain, err := parseFlags([]string{"-n", "plain", "-d", t.TempDir(), "-c", "127.0.0.1:" + freePort(t),
		"-s", "127.0.0.1:" + freePort(t), "-C", alive, "-r", "1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := startEtcd(plain); err == nil {
		e.stop()
		t.Fatal("a plain member joined a TLS cluster")
	} else if !strings.Contains(err.Error(), "HTTPS") {
		t.Fatalf("plain join error %q does not explain the TLS mismatch", err)
	}

	// Nor can one whose certificate comes from another CA.
	other := newTestCA(t, "other")
	cert, key := other.issue("stranger")
	stranger, _ := parseFlags([]string{"-n", "stranger", "-d", t.TempDir(), "-c", "127.0.0.1:" + freePort(t),
		"-s", "127.0.0.1:" + freePort(t), "-C", alive, "-r", "1",
		"-serverCert", cert, "-serverKey", key, "-serverCAFile", other.file}, io.Discard)
	if e, err := startEtcd(stranger); err == nil {
		e.stop()
		t.Fatal("a member with a certificate from another CA joined")
	}
}

func TestTLSReloadServesTheNewCertificate(t *testing.T) {
	ca := newTestCA(t, "ca")
	cert, key := ca.issue("server")
	n := startTestNode(t, "-clientCert", cert, "-clientKey", key)
	addr := strings.TrimPrefix(n.url, "http://")
	servedSerial := func() *big.Int {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool()})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber
	}
	before := servedSerial()
	newCert, newKey := ca.issue("server-rotated")
	for _, f := range [][2]string{{newCert, cert}, {newKey, key}} {
		b, _ := os.ReadFile(f[0])
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n.e.reloadTLS()
	if after := servedSerial(); after.Cmp(before) == 0 {
		t.Fatalf("still serving certificate %v after the reload", before)
	}
}

func TestTLSMemberCannotJoinPlainCluster(t *testing.T) {
	plain := startTestNode(t)
	ca := newTestCA(t, "ca")
	cert, key := ca.issue("node2")
	cfg, err := parseFlags([]string{"-n", "node2", "-d", t.TempDir(), "-c", "127.0.0.1:" + freePort(t),
		"-s", "127.0.0.1:" + freePort(t), "-C", plain.e.cfg.RaftAddr, "-r", "1",
		"-serverCert", cert, "-serverKey", key, "-serverCAFile", ca.file}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	e, err := startEtcd(cfg)
	if err == nil {
		e.stop()
		t.Fatal("a TLS member joined a plain cluster")
	}
	if !strings.Contains(err.Error(), "plain HTTP") {
		t.Fatalf("error %q does not explain the TLS mismatch", err)
	}
}

// TestOpenPeerPortWarning: a peer port beyond loopback without a CA file is
// warned about; on loopback, or with a CA, it is not.
func TestOpenPeerPortWarning(t *testing.T) {
	for _, tt := range []struct {
		ip   string
		ca   string
		warn bool
	}{
		{"127.0.0.1", "", false},
		{"127.0.0.2", "", false},
		{"::1", "", false},
		{"0.0.0.0", "", true},
		{"::", "", true},
		{"10.1.2.3", "", true},
		{"0.0.0.0", "ca.crt", false},
	} {
		addr := &net.TCPAddr{IP: net.ParseIP(tt.ip), Port: 7001}
		if got := openPeerPortWarning(addr, tt.ca); (got != "") != tt.warn || (tt.warn && !strings.Contains(got, addr.String())) {
			t.Errorf("peer port on %s, CA file %q: warning %q, want one: %v", addr, tt.ca, got, tt.warn)
		}
	}
}
