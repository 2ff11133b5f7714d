// Package certs provides the server's TLS identity: loading a certificate and key, creating a
// self-signed ECDSA P-256 pair on first start, and the SHA-256 fingerprint that clients pin (in the
// form ssh uses: "SHA256:" and unpadded base64).
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/myftp/myftp/lib/atomicfile"
)

// Fingerprint returns "SHA256:" followed by the unpadded base64 of the SHA-256 of a DER certificate.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// Load reads a PEM certificate and key.
func Load(certFile, keyFile string) (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return c, fmt.Errorf("load certificate: %w", err)
	}
	return c, nil
}

// LoadOrCreate reads the pair at certFile and keyFile, or, when neither exists, creates a
// self-signed ECDSA P-256 certificate valid for ten years for the names given (and localhost,
// 127.0.0.1 and ::1; clients pin the fingerprint, so the names are informative), writes it (the
// key with mode 0600) and returns it with created set. Of several processes starting on a new
// root at once, one creates the pair and the others load it.
func LoadOrCreate(certFile, keyFile string, names []string) (c tls.Certificate, created bool, err error) {
	_, errC := os.Stat(certFile)
	_, errK := os.Stat(keyFile)
	if errK == nil && errors.Is(errC, fs.ErrNotExist) { // another process is creating the pair
		c, err := awaitPair(certFile, keyFile)
		return c, false, err
	}
	if !errors.Is(errC, fs.ErrNotExist) || !errors.Is(errK, fs.ErrNotExist) {
		c, err := Load(certFile, keyFile)
		return c, false, err
	}
	certPEM, keyPEM, err := SelfSigned(names, time.Now())
	if err != nil {
		return c, false, err
	}
	if err := os.MkdirAll(filepath.Dir(keyFile), 0o700); err != nil {
		return c, false, fmt.Errorf("create certificate: %w", err)
	}
	// The key first: a crash between the two leaves no certificate without its key. Creating it
	// fails if another process created one first: that process writes the certificate.
	if err := atomicfile.Create(keyFile, keyPEM, 0o600); errors.Is(err, fs.ErrExist) {
		c, err := awaitPair(certFile, keyFile)
		return c, false, err
	} else if err != nil {
		return c, false, fmt.Errorf("create certificate: %w", err)
	}
	if err := atomicfile.WriteFile(certFile, certPEM, 0o644); err != nil {
		return c, false, fmt.Errorf("create certificate: %w", err)
	}
	c, err = tls.X509KeyPair(certPEM, keyPEM)
	return c, true, err
}

// awaitPair loads the pair that another process is creating: its key is there, its certificate
// follows at once. It gives up after 10 s (a key left alone by a crash during creation: the error
// says the certificate is missing).
func awaitPair(certFile, keyFile string) (tls.Certificate, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := Load(certFile, keyFile)
		if err == nil || time.Now().After(deadline) {
			return c, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SelfSigned makes a self-signed ECDSA P-256 certificate and key in PEM form.
func SelfSigned(names []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("generate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "myftp server", Organization: []string{"myftp"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              append([]string{"localhost"}, names...),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}
