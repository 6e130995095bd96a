package kore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParsePrivateKey(t *testing.T) {
	t.Parallel()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})
	secret := "c2VjcmV0LWtleS1tYXRlcmlhbA"
	tests := []struct {
		name string
		in   []byte
		want string // substring of the error; "" = success
	}{
		{"pkcs1", pkcs1, ""},
		{"pkcs8", pkcs8(rk), ""},
		{"not pem", []byte(secret), "no PEM block found"},
		{"ec key", pkcs8(ek), "the key is ECDSA; RS256 needs an RSA key"},
		{"encrypted", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: []byte(secret)}), "encrypted private keys are not supported"},
		{"broken pkcs1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte(secret)}), "not a valid PKCS#1 RSA private key"},
		{"broken pkcs8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte(secret)}), "not a valid PKCS#8 private key"},
		{"other block", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte(secret)}), `PEM block is "CERTIFICATE"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key, err := ParsePrivateKey(tt.in)
			if tt.want == "" {
				if err != nil || key == nil || !key.Equal(rk) {
					t.Fatalf("ParsePrivateKey: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "MII") {
				t.Errorf("error quotes key material: %v", err)
			}
		})
	}
}

func TestCheckHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host     string
		insecure bool
		want     string // in the error; "" = accepted
	}{
		{"https://platform.kore.ai", false, ""},
		{"https://platform.kore.ai/", false, ""},
		{"https://kore.example.com:8443", false, ""},
		{"http://localhost:8080", true, ""},
		{"", false, "is empty"},
		{"https://u:secret@platform.kore.ai:x/%zz", false, "is not a valid URL"},
		{"https://u:secret@platform.kore.ai", false, "must not contain a user name or password"},
		{"platform.kore.ai", false, "is not an absolute URL"},
		{"https://", false, "is not an absolute URL"},
		{"ftp://platform.kore.ai", true, "scheme must be https"},
		{"https://platform.kore.ai/api/public", false, "must not have a path"},
		{"https://platform.kore.ai?region=us", false, "must not have a query or fragment"},
		{"https://platform.kore.ai#x", false, "must not have a query or fragment"},
		{"http://platform.kore.ai", false, "uses plain http"},
	}
	for _, tt := range tests {
		err := CheckHost(tt.host, tt.insecure)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckHost(%q, %v) = %v, want nil", tt.host, tt.insecure, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("CheckHost(%q, %v) = %v, want an error saying %q", tt.host, tt.insecure, err, tt.want)
		case err != nil && strings.Contains(err.Error(), "secret"):
			t.Errorf("CheckHost(%q) quotes the password: %v", tt.host, err)
		}
	}
	if err := CheckHost("http://platform.kore.ai", false); !errors.Is(err, ErrPlainHTTP) {
		t.Errorf("plain http: %v, want ErrPlainHTTP", err)
	}
}

func TestDefaultPollBackoffSteps(t *testing.T) {
	t.Parallel()
	b := DefaultPollBackoff()
	// 2 + 3 + 4.5 + 6.75 + 10.1 + 15.2 + 22.8 s ≈ 64 s ≥ 1 min.
	for d, want := range map[time.Duration]int{0: 0, time.Second: 1, 2 * time.Second: 1, 5 * time.Second: 2, time.Minute: 7, 5 * time.Minute: 15} {
		if got := b.Steps(d); got != want {
			t.Errorf("Steps(%s) = %d, want %d", d, got, want)
		}
	}
	if got := (Backoff{}).Steps(time.Minute); got != 0 {
		t.Errorf("invalid backoff: Steps = %d, want 0", got)
	}
}
