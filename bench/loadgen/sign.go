package main

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strconv"
)

// signature is the vendor's request signature (zego-api.md §3):
// md5(AppId + SignatureNonce + ServerSecret + Timestamp) as 32 lowercase hex digits.
func signature(appID uint32, nonce, secret string, timestamp int64) string {
	text := strconv.FormatUint(uint64(appID), 10) + nonce + secret + strconv.FormatInt(timestamp, 10)
	sum := md5.Sum([]byte(text))
	return hex.EncodeToString(sum[:])
}

// newNonce is a SignatureNonce: the hex of 8 random bytes (16 hex digits, §2).
func newNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b[:])
}

// signedQuery is the common query of one request (§2), freshly signed (§3).
func signedQuery(action string, appID uint32, secret, nonce string, timestamp int64) url.Values {
	return url.Values{
		"Action":           {action},
		"AppId":            {strconv.FormatUint(uint64(appID), 10)},
		"SignatureNonce":   {nonce},
		"Timestamp":        {strconv.FormatInt(timestamp, 10)},
		"Signature":        {signature(appID, nonce, secret, timestamp)},
		"SignatureVersion": {"2.0"},
	}
}
