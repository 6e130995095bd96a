package deploy_test

// Web security proven with the real Prometheus: the exporter runs with
// --web.config.file enabling TLS (a certificate for 127.0.0.1 from a CA made
// here) and basic auth (a bcrypt hash), and Prometheus scrapes it with
// several jobs: over HTTPS with the CA and the right password the target is
// up; with a wrong password it is down on a 401; over plain HTTP, or over
// HTTPS without trusting the CA, it is down too. A Go client checks the same
// from outside: plain HTTP to the TLS port is answered 400 and serves no
// metrics.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// writeTLSFiles makes a CA and a server certificate for 127.0.0.1 signed by
// it, and writes ca.pem, server.pem and server-key.pem into dir.
func writeTLSFiles(t *testing.T, dir string) (caFile, certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kore_exporter test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srvKeyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	for path, block := range map[string]*pem.Block{
		caFile:   {Type: "CERTIFICATE", Bytes: caDER},
		certFile: {Type: "CERTIFICATE", Bytes: srvDER},
		keyFile:  {Type: "PRIVATE KEY", Bytes: srvKeyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return caFile, certFile, keyFile, pool
}

// target is one of Prometheus' active targets.
type target struct {
	Labels    map[string]string `json:"labels"`
	Health    string            `json:"health"`
	LastError string            `json:"lastError"`
	ScrapeURL string            `json:"scrapeUrl"`
}

func (p promAPI) targets() ([]target, error) {
	var r struct {
		Active []target `json:"activeTargets"`
	}
	err := p.get("/api/v1/targets", nil, &r)
	return r.Active, err
}

func TestWebSecurityOnRealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the exporter and a real Prometheus: skipped with -short")
	}
	promBin := tool(t, "PROMETHEUS_BIN", "prometheus")
	began := time.Now()
	dir := t.TempDir()
	exporter := filepath.Join(dir, "kore_exporter")
	run(t, "..", "go", "build", "-o", exporter, ".")

	const user, password = "prometheus", "web-security-test-password"
	caFile, certFile, keyFile, pool := writeTLSFiles(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webCfg, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  %s: %s\n",
		certFile, keyFile, user, hash)), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	exp := start(t, exporter, "--demo", "--web.config.file="+webCfg, "--web.listen-address="+addr)

	// From a Go client: HTTPS with the CA and the password is served;
	// without or with the wrong password, 401; plain HTTP to the TLS port
	// gets Go's TLS server's answer, 400, and no metrics.
	tlsClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(c *http.Client, url, user, pass string) (int, string, error) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return 0, "", err
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	https := "https://" + addr + "/metrics"
	eventually(t, 20*time.Second, "the exporter serving HTTPS", func() string {
		code, body, err := get(tlsClient, https, user, password)
		if err != nil {
			return err.Error() + "\n" + exp.output()
		}
		if code != http.StatusOK || !strings.Contains(body, "kore_exporter_build_info") {
			return fmt.Sprintf("HTTP %d: %.200s", code, body)
		}
		return ""
	})
	for _, c := range []struct{ user, pass string }{{"", ""}, {user, "wrong"}, {"other", password}} {
		if code, _, err := get(tlsClient, https, c.user, c.pass); err != nil || code != http.StatusUnauthorized {
			t.Errorf("HTTPS as %q with password %q: HTTP %d, %v; want 401", c.user, c.pass, code, err)
		}
	}
	code, body, err := get(&http.Client{Timeout: 5 * time.Second}, "http://"+addr+"/metrics", user, password)
	if err != nil || code != http.StatusBadRequest || !strings.Contains(body, "HTTPS") || strings.Contains(body, "kore_") {
		t.Errorf("plain HTTP to the TLS port: HTTP %d, %v, %q; want 400 (client sent an HTTP request to an HTTPS server) and no metrics", code, err, body)
	}
	if _, _, err := get(&http.Client{Timeout: 5 * time.Second}, https, user, password); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("HTTPS without trusting the CA: %v, want a certificate error", err)
	}

	// The real Prometheus, with one job per way of scraping.
	promCfg := fmt.Sprintf(`global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: https-basic-auth
    scheme: https
    tls_config: {ca_file: %[1]s}
    basic_auth: {username: %[2]s, password: %[3]s}
    static_configs: [{targets: ["%[4]s"]}]
  - job_name: https-wrong-password
    scheme: https
    tls_config: {ca_file: %[1]s}
    basic_auth: {username: %[2]s, password: wrong}
    static_configs: [{targets: ["%[4]s"]}]
  - job_name: https-untrusted
    scheme: https
    basic_auth: {username: %[2]s, password: %[3]s}
    static_configs: [{targets: ["%[4]s"]}]
  - job_name: plain-http
    scheme: http
    basic_auth: {username: %[2]s, password: %[3]s}
    static_configs: [{targets: ["%[4]s"]}]
`, caFile, user, password, addr)
	promDir := filepath.Join(dir, "prometheus")
	if err := os.MkdirAll(promDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(promDir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(promCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	promAddr := freePort(t)
	prom := start(t, promBin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(promDir, "data"), "--web.listen-address="+promAddr)
	api := promAPI{base: "http://" + promAddr, t: t}

	// Each job's target: its health and what its last error must say.
	want := map[string]struct{ health, lastError string }{
		"https-basic-auth":     {"up", ""},
		"https-wrong-password": {"down", "401"},
		"https-untrusted":      {"down", "certificate"},
		"plain-http":           {"down", "400"},
	}
	var seen []target
	eventually(t, 30*time.Second, "every target scraped with the expected outcome", func() string {
		ts, err := api.targets()
		if err != nil {
			return err.Error() + "\n" + prom.output()
		}
		seen = ts
		var wrong []string
		for job, w := range want {
			found := false
			for _, tg := range ts {
				if tg.Labels["job"] != job {
					continue
				}
				found = true
				if tg.Health != w.health || !strings.Contains(tg.LastError, w.lastError) || (w.lastError == "" && tg.LastError != "") {
					wrong = append(wrong, fmt.Sprintf("%s: health %q, last error %q; want %q with an error containing %q", job, tg.Health, tg.LastError, w.health, w.lastError))
				}
			}
			if !found {
				wrong = append(wrong, job+": no target")
			}
		}
		return strings.Join(wrong, "\n")
	})
	for _, tg := range seen {
		t.Logf("%s %s: %s %s", tg.Labels["job"], tg.ScrapeURL, tg.Health, tg.LastError)
	}
	eventually(t, 10*time.Second, "up by job", func() string {
		up, err := byLabel(api, "up", "job")
		if err != nil {
			return err.Error()
		}
		for job, w := range want {
			v, ok := up[job]
			if !ok || (v == 1) != (w.health == "up") {
				return fmt.Sprintf("up: %v; want 1 for https-basic-auth only", up)
			}
		}
		// The authenticated scrape got the exporter's own metrics.
		if n, err := byLabel(api, `kore_exporter_build_info`, "job"); err != nil || len(n) != 1 || n["https-basic-auth"] != 1 {
			return fmt.Sprintf("kore_exporter_build_info by job: %v, %v; want only https-basic-auth", n, err)
		}
		return ""
	})
	t.Logf("web security on the real Prometheus: %s", time.Since(began).Round(time.Second))
}
