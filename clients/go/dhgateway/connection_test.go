package dhgateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/dh-gateway/dh-gateway/clients/go/dhgatewayv1"
)

var connectionEnv = []string{"DHGW_ADDRESS", "DHGW_API_KEY", "DHGW_TLS", "DHGW_TLS_CA_FILE",
	"DHGW_TLS_CLIENT_CERT_FILE", "DHGW_TLS_CLIENT_KEY_FILE", "DHGW_TLS_SERVER_NAME", "TRACEPARENT",
	"TRACESTATE"}

func clearEnv(t *testing.T) {
	t.Helper()
	for _, name := range connectionEnv {
		t.Setenv(name, "")
	}
}

func TestEachFieldElseItsVariableElseTheDefault(t *testing.T) {
	clearEnv(t)
	if c, err := ConnectionFromEnv(Connection{}); err != nil || c != (Connection{Address: DefaultAddress}) {
		t.Errorf("no flags, no variables: %+v, %v", c, err)
	}
	t.Setenv("DHGW_ADDRESS", "gw:443")
	t.Setenv("DHGW_API_KEY", "env-key")
	t.Setenv("DHGW_TLS_CA_FILE", "ca.pem")
	t.Setenv("DHGW_TLS_SERVER_NAME", "gw.test")
	c, err := ConnectionFromEnv(Connection{APIKey: "given"})
	want := Connection{Address: "gw:443", APIKey: "given", TLS: true, CAFile: "ca.pem", ServerName: "gw.test"}
	if err != nil || c != want {
		t.Errorf("from the environment: %+v, %v; want %+v", c, err, want)
	}
}

// metadataServer serves the gateway's service (every call unimplemented) on loopback, in
// plaintext unless options say otherwise; the metadata each call carried goes to its channel.
func metadataServer(t *testing.T, options ...grpc.ServerOption) (string, <-chan metadata.MD) {
	t.Helper()
	seen := make(chan metadata.MD, 8)
	server := grpc.NewServer(append(options, grpc.UnaryInterceptor(
		func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			md, _ := metadata.FromIncomingContext(ctx)
			seen <- md
			return handler(ctx, req)
		}))...)
	pb.RegisterDriveGatewayServer(server, pb.UnimplementedDriveGatewayServer{})
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = server.Serve(listener) }() // ends with Stop
	t.Cleanup(server.Stop)
	return listener.Addr().String(), seen
}

func TestTheTraceContextComesFromTheEnvironmentAndGoesWithEveryCall(t *testing.T) {
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	const own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	address, seen := metadataServer(t)
	clearEnv(t)
	t.Setenv("DHGW_ADDRESS", address)
	t.Setenv("DHGW_API_KEY", "k-1")
	t.Setenv("TRACEPARENT", " "+parent+" ")
	t.Setenv("TRACESTATE", "vendor=agent-7")
	c, err := ConnectionFromEnv(Connection{})
	if err != nil || c.Traceparent != parent || c.Tracestate != "vendor=agent-7" {
		t.Fatalf("from the environment: %+v, %v", c, err)
	}
	// call makes one call on a new connection of c and returns the metadata the server got.
	call := func(c Connection, ctx context.Context) metadata.MD {
		t.Helper()
		conn, err := c.Dial()
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := NewClient(conn).Capabilities(ctx); status.Code(err) != codes.Unimplemented {
			t.Fatalf("the call did not reach the server: %v", err)
		}
		return <-seen
	}
	check := func(name string, md metadata.MD, key string, want ...string) {
		t.Helper()
		if got := md.Get(key); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: %s = %q, want %q", name, key, got, want)
		}
	}
	md := call(c, context.Background())
	check("from the environment", md, "traceparent", parent)
	check("from the environment", md, "tracestate", "vendor=agent-7")
	check("from the environment", md, "authorization", "Bearer k-1")

	// What otelgrpc's stats handler does with its span: the call's own context wins, whole.
	md = call(c, metadata.AppendToOutgoingContext(context.Background(), "traceparent", own))
	check("the call's own", md, "traceparent", own)
	check("the call's own", md, "tracestate")
	check("the call's own", md, "authorization", "Bearer k-1")

	c.Tracestate = ""
	check("no tracestate", call(c, context.Background()), "tracestate")
	c.Traceparent, c.Tracestate = "", "vendor=agent-7"
	md = call(c, context.Background())
	check("a tracestate alone", md, "traceparent")
	check("a tracestate alone", md, "tracestate")
}

func TestDHGWTLSIsOnOrOff(t *testing.T) {
	clearEnv(t)
	for word, want := range map[string]bool{"on": true, " TRUE ": true, "1": true, "yes": true,
		"off": false, "0": false, "": false, "no": false} {
		t.Setenv("DHGW_TLS", word)
		if c, err := ConnectionFromEnv(Connection{}); err != nil || c.TLS != want {
			t.Errorf("DHGW_TLS=%q: %+v, %v", word, c, err)
		}
	}
	t.Setenv("DHGW_TLS", "maybe")
	if _, err := ConnectionFromEnv(Connection{}); err == nil || !strings.Contains(err.Error(), "maybe") {
		t.Errorf("DHGW_TLS=maybe: %v", err)
	}
}

func TestACertificateNeedsItsKey(t *testing.T) {
	clearEnv(t)
	for _, c := range []Connection{{CertFile: "c.pem"}, {KeyFile: "k.pem"}} {
		if _, err := ConnectionFromEnv(c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	t.Setenv("DHGW_TLS_CLIENT_KEY_FILE", "k.pem")
	if c, err := ConnectionFromEnv(Connection{CertFile: "c.pem"}); err != nil || !c.TLS || c.KeyFile != "k.pem" {
		t.Errorf("the key from the environment: %+v, %v", c, err)
	}
}

func TestTransportCredentialsReadTheFilesNow(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if creds, err := (Connection{}).TransportCredentials(); err != nil || creds.Info().SecurityProtocol != "insecure" {
		t.Errorf("plaintext: %v, %v", creds, err)
	}
	if creds, err := (Connection{TLS: true}).TransportCredentials(); err != nil || creds.Info().SecurityProtocol != "tls" {
		t.Errorf("system roots: %v, %v", creds, err)
	}
	missing := filepath.Join(dir, "missing.pem")
	for _, c := range []Connection{{TLS: true, CAFile: missing}, {TLS: true, CAFile: notPEM},
		{TLS: true, CertFile: missing, KeyFile: missing}, {TLS: true, CertFile: notPEM, KeyFile: notPEM}} {
		if _, err := c.TransportCredentials(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

// pki writes a CA, a server certificate for "gateway.test" and a client certificate, signed by
// it, into dir.
type pki struct{ ca, serverCert, serverKey, clientCert, clientKey string }

func makePKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	write := func(name, kind string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	newKey := func() *ecdsa.PrivateKey {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return key
	}
	caKey := newKey()
	caTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, usage x509.ExtKeyUsage, names []string) ([]byte, []byte) {
		key := newKey()
		template := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"}, DNSNames: names,
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, template, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return der, keyDER
	}
	serverDER, serverKey := leaf(2, x509.ExtKeyUsageServerAuth, []string{"gateway.test"})
	clientDER, clientKey := leaf(3, x509.ExtKeyUsageClientAuth, nil)
	return pki{
		ca:         write("ca.pem", "CERTIFICATE", caDER),
		serverCert: write("server.pem", "CERTIFICATE", serverDER),
		serverKey:  write("server.key", "PRIVATE KEY", serverKey),
		clientCert: write("client.pem", "CERTIFICATE", clientDER),
		clientKey:  write("client.key", "PRIVATE KEY", clientKey),
	}
}

// mtlsServer is a metadataServer with mutual TLS.
func mtlsServer(t *testing.T, p pki) (string, <-chan metadata.MD) {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(p.serverCert, p.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	caPEM, _ := os.ReadFile(p.ca)
	roots.AppendCertsFromPEM(caPEM)
	config := &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: roots, ClientAuth: tls.RequireAndVerifyClientCert}
	return metadataServer(t, grpc.Creds(credentials.NewTLS(config)))
}

func TestDialReachesAMutualTLSGatewayWithTheKey(t *testing.T) {
	p := makePKI(t)
	address, seen := mtlsServer(t, p)
	call := func(c Connection) error {
		conn, err := c.Dial()
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = NewClient(conn).Capabilities(ctx)
		return err
	}
	good := Connection{Address: address, APIKey: "k-1", TLS: true, CAFile: p.ca, CertFile: p.clientCert,
		KeyFile: p.clientKey, ServerName: "gateway.test"}
	// Unimplemented: the call went through TLS both ways and reached the service.
	if err := call(good); status.Code(err) != codes.Unimplemented {
		t.Fatalf("mutual TLS: %v", err)
	}
	if got := (<-seen).Get("authorization"); len(got) != 1 || got[0] != "Bearer k-1" {
		t.Errorf("authorization %q", got)
	}
	noCert := good
	noCert.CertFile, noCert.KeyFile = "", ""
	wrongName := good
	wrongName.ServerName = "" // the certificate is for gateway.test, not 127.0.0.1
	for name, c := range map[string]Connection{"no client certificate": noCert, "wrong name": wrongName} {
		if err := call(c); status.Code(err) != codes.Unavailable {
			t.Errorf("%s: %v, want UNAVAILABLE", name, err)
		}
	}
	if len(seen) != 0 {
		t.Errorf("a refused connection reached the service: %q", <-seen)
	}
}
