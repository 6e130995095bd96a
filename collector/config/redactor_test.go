package config

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
)

// TestRedactorQuotedAndPartialSecrets: a secret quoted by %q or JSON (a
// key's newlines escaped), and any line of a private key on its own, are
// redacted like the secret itself.
func TestRedactorQuotedAndPartialSecrets(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	const secret = `CANARY-"quoted"\secret`
	c := &Config{Bots: []Bot{{ClientSecret: secret}, {PrivateKey: Secret(keyPEM)}}}
	r := c.Redactor()
	lines := strings.Split(strings.TrimSpace(keyPEM), "\n")
	jsonKey, _ := json.Marshal(keyPEM)
	for name, text := range map[string]string{
		"secret":          "bad secret " + secret,
		"secret, %q":      fmt.Sprintf("bad secret %q", secret),
		"key":             "key " + keyPEM,
		"key, %q":         fmt.Sprintf("key %q", keyPEM),
		"key, JSON":       `{"key":` + string(jsonKey) + `}`,
		"key, CRLF":       strings.ReplaceAll(keyPEM, "\n", "\r\n"),
		"key, one line":   "line " + lines[3] + " alone",
		"key, body only":  strings.Join(lines[1:len(lines)-1], ""),
		"key, first half": keyPEM[:len(keyPEM)/2],
	} {
		got := r.Replace(text)
		if !strings.Contains(got, "<secret>") {
			t.Errorf("%s: nothing redacted in %q", name, got)
		}
		if strings.Contains(got, "CANARY") || strings.Contains(got, `quoted\"\\secret`) {
			t.Errorf("%s: the secret shows: %q", name, got)
		}
		for i, l := range lines[1 : len(lines)-1] {
			if len(l) >= 16 && strings.Contains(got, l) {
				t.Errorf("%s: line %d of the key shows: %q", name, i+1, got)
			}
		}
	}
	if got := r.Replace("nothing secret here"); got != "nothing secret here" {
		t.Errorf("a text without secrets changed: %q", got)
	}
}
