package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync/atomic"
)

// tlsSide is the TLS of one port: the node's certificate and, when a CA
// file is given, the CA that certificates of the other side must chain to.
// The certificate and key are read again on reload, so they rotate without
// a restart; the CA is read at start.
type tlsSide struct {
	files     TLSFiles
	flags     string // the flag names, for messages
	certFlags string // the flags of the files a reload reads, for its messages
	caFlag    string
	cert      atomic.Pointer[tls.Certificate]
	pool      *x509.CertPool // nil: no client certificates asked for, and system roots as a client
	caPEM     []byte         // the CA file as read at start
}

// newTLSSide checks one port's TLS flags and loads their files. It returns
// nil when the port has no TLS.
func newTLSSide(files TLSFiles, certFlag, keyFlag, caFlag string) (*tlsSide, error) {
	if !files.enabled() {
		return nil, nil
	}
	flags := fmt.Sprintf("%s/%s/%s", certFlag, keyFlag, caFlag)
	if files.CertFile == "" || files.KeyFile == "" {
		return nil, fmt.Errorf("%s: give a certificate and its key, and optionally a CA file; or none of them", flags)
	}
	t := &tlsSide{files: files, flags: flags, certFlags: certFlag + "/" + keyFlag, caFlag: caFlag}
	if err := t.reload(); err != nil {
		return nil, err
	}
	if files.CAFile != "" {
		pem, err := os.ReadFile(files.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", caFlag, err)
		}
		t.caPEM = pem
		t.pool = x509.NewCertPool()
		if !t.pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate in %s", caFlag, files.CAFile)
		}
	}
	return t, nil
}

// reload reads the certificate and key files again.
func (t *tlsSide) reload() error {
	cert, err := tls.LoadX509KeyPair(t.files.CertFile, t.files.KeyFile)
	if err != nil {
		return fmt.Errorf("%s: load %s and %s: %w", t.flags, t.files.CertFile, t.files.KeyFile, err)
	}
	t.cert.Store(&cert)
	return nil
}

// reloadReport reloads the certificate and key, and says what it did; a
// CA file that changed since start is not taken, and the report says so.
func (t *tlsSide) reloadReport() string {
	if err := t.reload(); err != nil {
		return fmt.Sprintf("TLS reload: %v (the previous certificate stays in use)", err)
	}
	report := fmt.Sprintf("TLS reload: %s reloaded from %s and %s", t.certFlags, t.files.CertFile, t.files.KeyFile)
	if t.files.CAFile == "" {
		return report
	}
	switch pem, err := os.ReadFile(t.files.CAFile); {
	case err != nil:
		report += fmt.Sprintf("; %s: %v (the CA read at start stays in use)", t.caFlag, err)
	case !bytes.Equal(pem, t.caPEM):
		report += fmt.Sprintf("; %s %s changed since start, and a new CA takes a restart: the CA read at start stays in use", t.caFlag, t.files.CAFile)
	}
	return report
}

func (t *tlsSide) currentCert() *tls.Certificate { return t.cert.Load() }

// serverConfig is the listener's TLS, nil for a port without. With a CA
// file, a client must present a certificate signed by it: others fail the
// handshake and reach no handler.
func (t *tlsSide) serverConfig() *tls.Config {
	if t == nil {
		return nil
	}
	c := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return t.currentCert(), nil },
	}
	if t.pool != nil {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = t.pool
	}
	return c
}

// clientConfig is the TLS a member uses to call its peers: it presents its
// own certificate and checks theirs against the CA file.
func (t *tlsSide) clientConfig() *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS12,
		RootCAs:              t.pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return t.currentCert(), nil },
	}
}

// scheme is the URL scheme of a port with this TLS.
func (t *tlsSide) scheme() string {
	if t == nil {
		return "http"
	}
	return "https"
}
