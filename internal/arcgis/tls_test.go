package arcgis

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func TestInsecureSkipVerifyWarns(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { layerJSON(w) }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	strict := newTestClient(t, "", WithRetryPolicy(NoRetry()))
	if _, err := strict.Layer(context.Background(), srv.URL+"/svc/FeatureServer/0"); err == nil {
		t.Fatal("self-signed certificate accepted without InsecureSkipVerify")
	}
	c := newTestClient(t, "", WithInsecureSkipVerify(), WithLogger(logger))
	if _, err := c.Layer(context.Background(), srv.URL+"/svc/FeatureServer/0"); err != nil {
		t.Fatalf("with InsecureSkipVerify: %v", err)
	}
	if !bytes.Contains(logs.Bytes(), []byte("level=WARN")) || !bytes.Contains(logs.Bytes(), []byte("InsecureSkipVerify")) {
		t.Errorf("no warning logged: %q", logs.String())
	}
}

// writeClientCert writes a self-signed client certificate and key as PEM.
func writeClientCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "field-worker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestPKIClientCertificate(t *testing.T) {
	var cn atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) > 0 {
			cn.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		}
		layerJSON(w)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	certFile, keyFile := writeClientCert(t)
	without := newTestClient(t, "", WithInsecureSkipVerify(), WithRetryPolicy(NoRetry()))
	if _, err := without.Layer(context.Background(), srv.URL+"/svc/FeatureServer/0"); err == nil {
		t.Fatal("server requiring a client certificate accepted a client without one")
	}
	c := newTestClient(t, "", WithInsecureSkipVerify(), WithClientCertificateFiles(certFile, keyFile))
	if _, err := c.Layer(context.Background(), srv.URL+"/svc/FeatureServer/0"); err != nil {
		t.Fatalf("with client certificate: %v", err)
	}
	if cn.Load() != "field-worker" {
		t.Errorf("server saw client certificate %v, want field-worker", cn.Load())
	}
	if _, err := New(WithClientCertificateFiles(filepath.Join(t.TempDir(), "missing.pem"), keyFile)); err == nil {
		t.Error("New with a missing certificate file: want error")
	}
}

func TestExplicitProxy(t *testing.T) {
	var target atomic.Value
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target.Store(r.URL.String()) // a forward proxy receives the absolute URL
		layerJSON(w)
	}))
	defer proxy.Close()
	c := newTestClient(t, "", WithProxy(proxy.URL), WithUserAgent("offlined-test/1"), WithReferer("https://app.example"))
	if _, err := c.Layer(context.Background(), "http://services.example.invalid/arcgis/rest/services/x/FeatureServer/0"); err != nil {
		t.Fatalf("through proxy: %v", err)
	}
	got, _ := target.Load().(string)
	if want := "http://services.example.invalid/arcgis/rest/services/x/FeatureServer/0?f=json"; got != want {
		t.Errorf("proxy saw %q, want %q", got, want)
	}
	if _, err := New(WithProxy("::bad")); err == nil {
		t.Error("WithProxy(invalid): want error")
	}
}

func TestHeadersSent(t *testing.T) {
	f := newFakeServer(t)
	var ref, ua atomic.Value
	f.handle("/svc/FeatureServer/0", func(w http.ResponseWriter, r *http.Request) {
		ref.Store(r.Header.Get("Referer"))
		ua.Store(r.Header.Get("User-Agent"))
		layerJSON(w)
	})
	c := newTestClient(t, "", WithUserAgent("offlined-test/1"), WithReferer("https://app.example"))
	if _, err := c.Layer(context.Background(), f.URL+"/svc/FeatureServer/0"); err != nil {
		t.Fatal(err)
	}
	if ref.Load() != "https://app.example" || ua.Load() != "offlined-test/1" {
		t.Errorf("Referer=%v User-Agent=%v", ref.Load(), ua.Load())
	}
}
