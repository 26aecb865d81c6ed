package main

// The connection flags of every dh-drive command, each else its DHGW_* variable
// (dhgateway.ConnectionFromEnv), as the Python dh-drive's: --addr --tls --ca --cert --key
// --server-name --api-key-file --api-key. The key comes from --api-key-file (a file only its
// owner may read), $DHGW_API_KEY, or --api-key; the last shows in ps and the shell's history.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"google.golang.org/grpc"

	"github.com/dh-gateway/dh-gateway/clients/go/dhgateway"
)

// connectionFlags are the flags as given ("" and false: not given).
type connectionFlags struct {
	addr, ca, cert, key, serverName, apiKey, apiKeyFile string
	tls                                                 bool
}

// register adds the connection flags to fs.
func (f *connectionFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "addr", "", "host:port or unix:/path ($DHGW_ADDRESS, else "+dhgateway.DefaultAddress+")")
	fs.BoolVar(&f.tls, "tls", false, "TLS, verified by the system's roots ($DHGW_TLS)")
	fs.StringVar(&f.ca, "ca", "", "PEM roots that verify the gateway (implies --tls; $DHGW_TLS_CA_FILE)")
	fs.StringVar(&f.cert, "cert", "", "client certificate (PEM) for mutual TLS (needs --key; $DHGW_TLS_CLIENT_CERT_FILE)")
	fs.StringVar(&f.key, "key", "", "the client certificate's private key (PEM; $DHGW_TLS_CLIENT_KEY_FILE)")
	fs.StringVar(&f.serverName, "server-name", "", "the name on the gateway's certificate ($DHGW_TLS_SERVER_NAME)")
	fs.StringVar(&f.apiKeyFile, "api-key-file", "", "read the API key from this file (mode 600)")
	fs.StringVar(&f.apiKey, "api-key", "", "the API key itself ($DHGW_API_KEY; shows in ps)")
}

// connection is the connection the flags (else the environment) describe, given the names of
// the flags that were set; an error is a usage error. It reads the key file but no TLS file.
func (f *connectionFlags) connection(given map[string]bool) (dhgateway.Connection, error) {
	key := f.apiKey
	switch {
	case given["api-key-file"] && given["api-key"]:
		return dhgateway.Connection{}, errors.New("--api-key-file and --api-key: give one")
	case given["api-key-file"]:
		var err error
		if key, err = readAPIKey(f.apiKeyFile); err != nil {
			return dhgateway.Connection{}, err
		}
	}
	return dhgateway.ConnectionFromEnv(dhgateway.Connection{
		Address: f.addr, APIKey: key, TLS: f.tls, CAFile: f.ca, CertFile: f.cert, KeyFile: f.key,
		ServerName: f.serverName,
	})
}

// readAPIKey is the API key in path, its whitespace trimmed. A missing or empty file, or one
// other users may read, is an error: a key others can read is a leaked key.
func readAPIKey(path string) (string, error) {
	info, err := os.Stat(path)
	if err == nil && info.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("--api-key-file %s may be read by other users: chmod 600 %s", path, path)
	}
	var data []byte
	if err == nil {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err // "no such file or directory": the path is said once, below
		}
		return "", fmt.Errorf("--api-key-file %s: %v", path, err)
	}
	key := strings.TrimSpace(string(data))
	if key == "" {
		return "", fmt.Errorf("--api-key-file %s is empty", path)
	}
	return key, nil
}

// dial opens the connection; a TLS file that cannot be read is a usage error (status 2), any
// other failure status 1, each said on stderr after prog (the command's name).
func dial(c dhgateway.Connection, prog string, stderr io.Writer) (*grpc.ClientConn, int) {
	options, err := c.DialOptions()
	if err != nil {
		fmt.Fprintf(stderr, "%s: error: %v\n", prog, err)
		return nil, 2
	}
	conn, err := grpc.NewClient(c.Address, options...)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return nil, 1
	}
	return conn, 0
}
