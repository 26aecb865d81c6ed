package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const secret = "dhgw_unit-test-key"

// keyFile writes content to a file of mode in a new directory; its path.
func keyFile(t *testing.T, mode os.FileMode, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "api-key")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode passes through the umask
		t.Fatal(err)
	}
	return path
}

func TestAKeyFileOnlyItsOwnerMayReadGivesTheKeyTrimmed(t *testing.T) {
	for _, mode := range []os.FileMode{0o600, 0o400, 0o700} {
		key, err := readAPIKey(keyFile(t, mode, "  "+secret+"\n"))
		if err != nil || key != secret {
			t.Errorf("mode %o: %q, %v", mode, key, err)
		}
	}
}

func TestABadKeyFileIsAnErrorNamingItAndNotTheKey(t *testing.T) {
	cases := map[string]struct {
		path, needle string
	}{
		"others read":  {keyFile(t, 0o644, secret), "chmod 600"},
		"group reads":  {keyFile(t, 0o640, secret), "chmod 600"},
		"others write": {keyFile(t, 0o602, secret), "chmod 600"},
		"missing":      {filepath.Join(t.TempDir(), "missing"), "no such file"},
		"empty":        {keyFile(t, 0o600, ""), "is empty"},
		"only spaces":  {keyFile(t, 0o600, " \n\t\n"), "is empty"},
	}
	for name, c := range cases {
		key, err := readAPIKey(c.path)
		if err == nil {
			t.Errorf("%s: key %q, want an error", name, key)
			continue
		}
		message := err.Error()
		if !strings.Contains(strings.ToLower(message), c.needle) || !strings.Contains(message, c.path) ||
			strings.Contains(message, secret) {
			t.Errorf("%s: %q, want %q and the path, not the key", name, message, c.needle)
		}
	}
	if _, err := readAPIKey(keyFile(t, 0o644, secret)); !strings.Contains(err.Error(), "chmod 600 ") {
		t.Errorf("the fix is not said: %v", err)
	}
}

func TestTheKeyFlagsAreUsageErrorsOnEveryCommand(t *testing.T) {
	clearConnectionEnv(t)
	readable := keyFile(t, 0o644, secret)
	for _, argv := range [][]string{
		{"--task", "t", "--file", "f.wav", "--api-key-file", readable},
		{"stop", "--task", "t", "--api-key-file", readable},
		{"get-task", "--task", "t", "--api-key-file", filepath.Join(t.TempDir(), "missing")},
		{"watch-task", "--task", "t", "--api-key-file", keyFile(t, 0o600, secret), "--api-key", "k"},
		{"--task", "t", "--file", "f.wav", "--cert", readable}, // a certificate without its key
	} {
		var stderr bytes.Buffer
		if status := run(argv, &bytes.Buffer{}, &stderr); status != 2 {
			t.Errorf("%q: status %d, want 2 (%s)", argv, status, stderr.String())
		}
		if strings.Contains(stderr.String(), secret) {
			t.Errorf("%q printed the key: %s", argv, stderr.String())
		}
	}
}

func TestAnUnreadableTLSFileIsAUsageError(t *testing.T) {
	clearConnectionEnv(t)
	missing := filepath.Join(t.TempDir(), "ca.pem")
	for _, argv := range [][]string{
		{"get-task", "--task", "t", "--ca", missing},
		{"--task", "t", "--file", "f.wav", "--cert", missing, "--key", missing},
	} {
		var stderr bytes.Buffer
		if status := run(argv, &bytes.Buffer{}, &stderr); status != 2 || !strings.Contains(stderr.String(), missing) {
			t.Errorf("%q: status %d, want 2 naming the file (%s)", argv, status, stderr.String())
		}
	}
}

func TestTheKeyFromAFileTheFlagOrTheEnvironment(t *testing.T) {
	clearConnectionEnv(t)
	t.Setenv("DHGW_API_KEY", "from-env")
	t.Setenv("DHGW_ADDRESS", "unix:/run/dhgw.sock")
	path := keyFile(t, 0o600, secret+"\n")
	for argv, want := range map[string]string{
		"--task t":                        "from-env",
		"--task t --api-key k":            "k",
		"--task t --api-key-file " + path: secret,
	} {
		a, status := parseCommand("get-task", commands["get-task"], strings.Fields(argv), &bytes.Buffer{})
		if a == nil || status != 0 || a.conn.APIKey != want || a.conn.Address != "unix:/run/dhgw.sock" {
			t.Errorf("%q: %+v, %d; want the key %q", argv, a, status, want)
		}
	}
	a, _ := parse(strings.Fields("--task t --file f --addr 127.0.0.1:9 --ca ca.pem --server-name gw.test"), &bytes.Buffer{})
	if a == nil || a.conn.Address != "127.0.0.1:9" || !a.conn.TLS || a.conn.CAFile != "ca.pem" || a.conn.ServerName != "gw.test" {
		t.Errorf("drive connection = %+v", a)
	}
}
