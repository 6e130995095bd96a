package kore

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// ParsePrivateKey parses an unencrypted PEM RSA private key, PKCS#1 ("RSA
// PRIVATE KEY") or PKCS#8 ("PRIVATE KEY"), for Credentials.PrivateKey (RS256,
// API.md §2), and validates it. Its errors say what is wrong and never quote
// key material.
func ParsePrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block found; want an RSA private key (PKCS#1 or PKCS#8 PEM)")
	}
	if _, ok := block.Headers["Proc-Type"]; ok || block.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, errors.New("encrypted private keys are not supported")
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("not a valid PKCS#1 RSA private key")
		}
		key = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("not a valid PKCS#8 private key")
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("the key is %s; RS256 needs an RSA key", keyKind(k))
		}
		key = rk
	default:
		return nil, fmt.Errorf("PEM block is %q; want \"RSA PRIVATE KEY\" (PKCS#1) or \"PRIVATE KEY\" (PKCS#8)", block.Type)
	}
	if err := key.Validate(); err != nil {
		return nil, errors.New("RSA private key fails validation")
	}
	return key, nil
}

// keyKind names a key's algorithm from its Go type: *ecdsa.PrivateKey is
// ECDSA.
func keyKind(k any) string {
	t := strings.TrimPrefix(reflect.TypeOf(k).String(), "*")
	if pkg, _, ok := strings.Cut(t, "."); ok {
		return strings.ToUpper(pkg)
	}
	return t
}
