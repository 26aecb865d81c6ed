package dhgateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// DefaultAddress is the gateway's address when neither a Connection nor DHGW_ADDRESS gives one.
const DefaultAddress = "127.0.0.1:50051"

// Connection is how to reach one gateway: its address, TLS and API key. Every language's
// client reads the same DHGW_* variables (ConnectionFromEnv), so one shell points them all
// at a gateway:
//
//   - DHGW_ADDRESS: host:port or unix:/path (default 127.0.0.1:50051);
//   - DHGW_API_KEY: sent as "authorization: Bearer <key>";
//   - DHGW_TLS: on for TLS verified by the system's roots;
//   - DHGW_TLS_CA_FILE: PEM roots that verify the gateway (turns TLS on);
//   - DHGW_TLS_CLIENT_CERT_FILE and DHGW_TLS_CLIENT_KEY_FILE: a client certificate for
//     mutual TLS (turn TLS on);
//   - DHGW_TLS_SERVER_NAME: the name on the gateway's certificate, when not the address's host;
//   - TRACEPARENT and TRACESTATE: a W3C trace context to join (OpenTelemetry's convention for
//     handing one to a process through its environment), sent with every call.
//
// Dial opens the connection it describes.
type Connection struct {
	// Address is host:port or unix:/path.
	Address string
	// APIKey is sent with every call; "" for a gateway without keys.
	APIKey string
	// TLS connects with TLS; the files below imply it.
	TLS bool
	// CAFile holds PEM roots that verify the gateway; "" means the system's.
	CAFile string
	// CertFile and KeyFile are a client certificate and its key (PEM) for mutual TLS: both or
	// neither.
	CertFile, KeyFile string
	// ServerName is the name to verify the gateway's certificate against; "" means the host.
	ServerName string
	// Traceparent and Tracestate are a W3C trace context sent with every call ("": none; a
	// Tracestate only with a Traceparent), unless the call carries its own traceparent: a
	// program instrumented with OpenTelemetry passes its spans' context with otelgrpc's stats
	// handler (Dial's extra options), and that one wins.
	Traceparent, Tracestate string
}

var (
	trueWords  = []string{"1", "on", "true", "yes"}
	falseWords = []string{"", "0", "off", "false", "no"}
)

// ConnectionFromEnv is given with each empty field taken from its DHGW_* variable (else
// DefaultAddress for Address), and TLS on when given.TLS, DHGW_TLS or any of the files says
// so. It fails when DHGW_TLS is not on/off, or a client certificate comes without its key (or
// the other way round); it reads no file (Dial and TransportCredentials do).
func ConnectionFromEnv(given Connection) (Connection, error) {
	pick := func(value *string, name string) {
		if *value == "" {
			*value = os.Getenv(name)
		}
	}
	c := given
	pick(&c.Address, "DHGW_ADDRESS")
	pick(&c.APIKey, "DHGW_API_KEY")
	pick(&c.CAFile, "DHGW_TLS_CA_FILE")
	pick(&c.CertFile, "DHGW_TLS_CLIENT_CERT_FILE")
	pick(&c.KeyFile, "DHGW_TLS_CLIENT_KEY_FILE")
	pick(&c.ServerName, "DHGW_TLS_SERVER_NAME")
	pick(&c.Traceparent, "TRACEPARENT")
	pick(&c.Tracestate, "TRACESTATE")
	c.Traceparent, c.Tracestate = strings.TrimSpace(c.Traceparent), strings.TrimSpace(c.Tracestate)
	if c.Address == "" {
		c.Address = DefaultAddress
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return Connection{}, errors.New("a client certificate needs its key, and a key its certificate")
	}
	word := strings.ToLower(strings.TrimSpace(os.Getenv("DHGW_TLS")))
	switch {
	case slices.Contains(trueWords, word):
		c.TLS = true
	case !slices.Contains(falseWords, word):
		return Connection{}, fmt.Errorf("DHGW_TLS=%q is not on/off", os.Getenv("DHGW_TLS"))
	}
	c.TLS = c.TLS || c.CAFile != "" || c.CertFile != ""
	return c, nil
}

// TransportCredentials are the connection's TLS credentials (insecure ones without TLS). It
// reads the certificate files now: an unreadable or unparsable one is an error.
func (c Connection) TransportCredentials() (credentials.TransportCredentials, error) {
	if !c.TLS && c.CAFile == "" && c.CertFile == "" {
		return insecure.NewCredentials(), nil
	}
	// grpc-go sets ServerName from the address's host when it is empty here.
	config := &tls.Config{ServerName: c.ServerName, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, err
		}
		config.RootCAs = x509.NewCertPool()
		if !config.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate in it", c.CAFile)
		}
	}
	if c.CertFile != "" || c.KeyFile != "" {
		pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, err
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(config), nil
}

// DialOptions are the options of a grpc.NewClient to the gateway: the transport credentials
// and, with an APIKey, per-call credentials that send it. It reads the certificate files now.
func (c Connection) DialOptions() ([]grpc.DialOption, error) {
	transport, err := c.TransportCredentials()
	if err != nil {
		return nil, err
	}
	options := []grpc.DialOption{grpc.WithTransportCredentials(transport)}
	if c.APIKey != "" {
		options = append(options, grpc.WithPerRPCCredentials(apiKey(c.APIKey)))
	}
	if c.Traceparent != "" {
		options = append(options, grpc.WithPerRPCCredentials(traceContext{c.Traceparent, c.Tracestate}))
	}
	return options, nil
}

// traceContext sends a W3C trace context with every call, as given: the gateway ignores a
// malformed one (a new trace). A call that carries its own traceparent (otelgrpc's stats
// handler puts its span's there) keeps it: two would leave the gateway to pick one.
type traceContext struct{ parent, state string }

func (t traceContext) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	if own, _ := metadata.FromOutgoingContext(ctx); len(own.Get("traceparent")) > 0 {
		return nil, nil
	}
	headers := map[string]string{"traceparent": t.parent}
	if t.state != "" {
		headers["tracestate"] = t.state
	}
	return headers, nil
}

// RequireTransportSecurity is false: a trace context is no secret.
func (traceContext) RequireTransportSecurity() bool { return false }

// Dial is a new connection to the gateway (grpc.NewClient: it connects on the first call),
// with DialOptions and then extra; the caller closes it.
func (c Connection) Dial(extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	options, err := c.DialOptions()
	if err != nil {
		return nil, err
	}
	return grpc.NewClient(c.Address, append(options, extra...)...)
}

// apiKey sends the key as "authorization: Bearer <key>" with every call.
type apiKey string

func (k apiKey) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(k)}, nil
}

// RequireTransportSecurity is false: a gateway on loopback or a unix socket may take keys in
// plaintext, as every language's client allows.
func (apiKey) RequireTransportSecurity() bool { return false }

// String keeps the key out of logs and %v.
func (apiKey) String() string { return "apiKey(redacted)" }
