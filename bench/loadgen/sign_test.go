package main

import (
	"regexp"
	"testing"
)

// The vendor's official test vector (zego-api.md §3).
func TestSignatureVendorVector(t *testing.T) {
	got := signature(12345, "4fd24687296dd9f3", "9193cc662a4c0ec135ec71fb57194b38", 1615186943)
	if want := "43e5cfcca828314675f91b001390566a"; got != want {
		t.Fatalf("signature = %s, want %s", got, want)
	}
}

func TestSignedQuery(t *testing.T) {
	q := signedQuery("DriveByWsStream", 12345, "9193cc662a4c0ec135ec71fb57194b38", "4fd24687296dd9f3", 1615186943)
	want := map[string]string{
		"Action":           "DriveByWsStream",
		"AppId":            "12345",
		"SignatureNonce":   "4fd24687296dd9f3",
		"Timestamp":        "1615186943",
		"Signature":        "43e5cfcca828314675f91b001390566a",
		"SignatureVersion": "2.0",
	}
	if len(q) != len(want) {
		t.Fatalf("query has %d parameters, want %d: %v", len(q), len(want), q)
	}
	for key, value := range want {
		if got := q.Get(key); got != value {
			t.Errorf("%s = %q, want %q", key, got, value)
		}
	}
}

func TestNonce(t *testing.T) {
	hex16 := regexp.MustCompile(`^[0-9a-f]{16}$`)
	a, b := newNonce(), newNonce()
	if !hex16.MatchString(a) || !hex16.MatchString(b) {
		t.Fatalf("nonces %q %q are not 16 lowercase hex digits", a, b)
	}
	if a == b {
		t.Fatalf("two nonces are equal: %q", a)
	}
}
