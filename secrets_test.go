package main

// Secrets never show. The exporter holds three kinds of credentials: the
// bots' client secrets (HS256), their RSA private keys (RS256) and, with
// --web.config.file, the password its scrapers send for basic auth. Every
// request to Kore.ai carries a JWT signed with one of the first two. The
// tests here give each a canary value, drive every path on which an error
// may quote something (bad configurations at start-up, under --config.check
// and on reload, unreadable secret and key files, 401 answers, 5xx answers
// that echo the request with its token, a job id that is the token, a panic
// inside a report run, failed basic auth), then search everything the
// exporter says (logs, errors, reload answers, /metrics, /status in HTML and
// JSON, the landing page) for the canaries, their encodings, the key's
// material, every token the simulated API received, and anything shaped
// like a JWT. The search is shown to find each of them first.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"html"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/kore-exporter/kore_exporter/collector"
	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

// The canaries: values that must never appear in anything the exporter says.
const (
	canaryClientSecret = "canary-client-secret-4f1d0c8a7e2b6d93"
	canaryWebUser      = "scraper"
	canaryWebPassword  = "canary-web-password-b7e19a2c5d"
	canaryEnvVar       = "KORE_CANARY_CLIENT_SECRET"
)

// jwtLike matches the start of anything shaped like a JWT, or a part of
// one: base64url of a JSON object ("{"" encodes as eyJ), long enough not to
// be a word.
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}`)

// secretSearch holds what must not show and searches texts for it.
type secretSearch struct {
	mu      sync.Mutex
	needles map[string]string // what → value
	tokens  map[string]bool   // every token the simulated API received
}

func newSecretSearch() *secretSearch {
	return &secretSearch{needles: map[string]string{}, tokens: map[string]bool{}}
}

// add adds a value that must not show, with its usual encodings.
func (s *secretSearch) add(what, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.needles[what] = v
	s.needles[what+" (base64)"] = base64.StdEncoding.EncodeToString([]byte(v))
	s.needles[what+" (base64url)"] = base64.RawURLEncoding.EncodeToString([]byte(v))
	s.needles[what+" (hex)"] = hex.EncodeToString([]byte(v))
}

// addRaw adds a value that must not show, as it is.
func (s *secretSearch) addRaw(what, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.needles[what] = v
}

// addKey adds a private key's material: each base64 line of its PEM body,
// the whole body on one line, and its private numbers (as given).
func (s *secretSearch) addKey(what string, pemBytes []byte, private ...string) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		panic("addKey: no PEM block")
	}
	for i, line := range strings.Split(string(pemBytes), "\n") {
		// Lines of 16 bytes or more: a short last line ("AA==") could be
		// any text.
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			s.addRaw(fmt.Sprintf("%s PEM line %d", what, i), line)
		}
	}
	s.addRaw(what+" DER (base64)", base64.StdEncoding.EncodeToString(block.Bytes))
	for i, n := range private {
		s.addRaw(fmt.Sprintf("%s private number %d", what, i), n)
	}
}

// recordToken remembers a token sent to the simulated API.
func (s *secretSearch) recordToken(tok string) {
	if tok == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = true
}

func (s *secretSearch) tokenCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tokens)
}

// unescapers undo the escaping of the places searched: HTML (html/template
// writes + as &#43;), JSON and logfmt.
var jsonUnescaper = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&", `\/`, "/", `\"`, `"`, `\\`, `\`)

// find returns what of the canaries, tokens and JWT-shaped strings text
// holds, as it is and unescaped.
func (s *secretSearch) find(text string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	variants := []string{text, html.UnescapeString(text), jsonUnescaper.Replace(text)}
	var hits []string
	seen := map[string]bool{}
	hit := func(h string) {
		if !seen[h] {
			seen[h] = true
			hits = append(hits, h)
		}
	}
	for _, v := range variants {
		for what, n := range s.needles {
			if strings.Contains(v, n) {
				hit(what)
			}
		}
		for tok := range s.tokens {
			sig := tok[strings.LastIndexByte(tok, '.')+1:]
			if strings.Contains(v, tok) {
				hit("a token sent to the API")
			} else if len(sig) >= 16 && strings.Contains(v, sig) {
				hit("a token's signature")
			}
		}
		if m := jwtLike.FindString(v); m != "" {
			hit("something shaped like a JWT: " + m[:13] + "…")
		}
	}
	sort.Strings(hits)
	return hits
}

// check reports every hit in each of the texts (place → text).
func (s *secretSearch) check(t *testing.T, texts map[string]string) {
	t.Helper()
	places := make([]string, 0, len(texts))
	for p := range texts {
		places = append(places, p)
	}
	sort.Strings(places)
	bytes := 0
	for _, p := range places {
		bytes += len(texts[p])
		if hits := s.find(texts[p]); len(hits) > 0 {
			t.Errorf("%s shows %s", p, strings.Join(hits, "; "))
		}
	}
	t.Logf("searched %d places (%d bytes) for %d canaries and encodings, the %d tokens the API received and anything shaped like a JWT", len(places), bytes, len(s.needles), s.tokenCount())
}

// selfCheck shows that find finds every needle, a token and a JWT planted
// in a text, and nothing in a text without them.
func (s *secretSearch) selfCheck(t *testing.T, jwts ...string) {
	t.Helper()
	s.mu.Lock()
	needles := make(map[string]string, len(s.needles))
	for k, v := range s.needles {
		needles[k] = v
	}
	var tokens []string
	for tok := range s.tokens {
		tokens = append(tokens, tok)
	}
	s.mu.Unlock()
	for what, n := range needles {
		for _, planted := range []string{"err=\"x " + n + " y\"", "<td>" + html.EscapeString(n) + "</td>", `{"e":` + mustJSON(n) + `}`} {
			if hits := s.find(planted); !contains(hits, what) {
				t.Errorf("self-check: %s planted in %q is not found (hits %v)", what, planted, hits)
			}
		}
	}
	for _, tok := range append(tokens, jwts...) {
		if hits := s.find("auth: " + tok + "\n"); len(hits) == 0 {
			t.Errorf("self-check: token %.20s… planted is not found", tok)
		}
	}
	for _, tok := range tokens { // recorded: their signatures alone too
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if hits := s.find("signature " + sig); !contains(hits, "a token's signature") {
			t.Errorf("self-check: the signature of a recorded token planted is not found (hits %v)", hits)
		}
	}
	if hits := s.find(`msg="report run failed" err="kore: POST /api/public/bot/st-1/taskContainmentReport: HTTP 500: Internal Server Error Auth: [redacted]" <td>ok</td>`); len(hits) > 0 {
		t.Errorf("self-check: a clean text has hits: %v", hits)
	}
}

func mustJSON(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// canaryKeys are an RSA key (the bots' RS256 key) and an ECDSA key (a key of
// the wrong kind, for an error path), with their PEM files.
type canaryKeys struct {
	rsa       *rsa.PrivateKey
	rsaPEM    []byte
	ecdsaPEM  []byte
	ecdsaNums []string // the private scalar in decimal and hex
}

func newCanaryKeys(t *testing.T) canaryKeys {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(ek)
	if err != nil {
		t.Fatal(err)
	}
	return canaryKeys{
		rsa:       rk,
		rsaPEM:    pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}),
		ecdsaPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		ecdsaNums: ecdsaNums(t, ek),
	}
}

// ecdsaNums returns k's private scalar in decimal and in hex.
func ecdsaNums(t *testing.T, k *ecdsa.PrivateKey) []string {
	t.Helper()
	b, err := k.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return []string{new(big.Int).SetBytes(b).String(), hex.EncodeToString(b)}
}

// search returns a secretSearch of the canaries and keys.
func (k canaryKeys) search() *secretSearch {
	s := newSecretSearch()
	s.add("the client secret", canaryClientSecret)
	s.add("the basic-auth password", canaryWebPassword)
	s.addRaw("the basic-auth header", base64.StdEncoding.EncodeToString([]byte(canaryWebUser+":"+canaryWebPassword)))
	s.addKey("the RSA key", k.rsaPEM, k.rsa.D.String(), k.rsa.Primes[0].String(), k.rsa.Primes[1].String())
	s.addKey("the ECDSA key", k.ecdsaPEM, k.ecdsaNums...)
	return s
}

// canaryJWT is a token signed with the canary client secret, as the
// exporter signs them.
func canaryJWT(t *testing.T) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"appId": "cs-1", "sub": "kore_exporter"}).SignedString([]byte(canaryClientSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// secretsBots are the simulated bots of TestSecretsNeverShow, by the name
// the configuration gives them, and the faults they start with.
var secretsBots = []struct {
	name  string
	cred  string // how the configuration gives the credential
	fault koretest.Fault
}{
	{"healthy", "client_secret_file: canary.secret", koretest.Fault{}},
	{"unauthorized", "client_secret: " + canaryClientSecret, koretest.Fault{}},
	{"echo-submit", "client_secret: ${" + canaryEnvVar + "}", koretest.Fault{ServerErrors: 1000, EchoRequest: true}},
	{"echo-submit-rs256", "private_key_file: canary.pem", koretest.Fault{ServerErrors: 1000, EchoRequest: true}},
	{"echo-poll", "client_secret_file: canary.secret", koretest.Fault{}}, // the fault comes after the submit
	{"token-job-id", "client_secret_file: canary.secret", koretest.Fault{TokenAsJobID: true}},
}

// secretsConfig is the configuration of secretsBots against host.
func secretsConfig(host string, bots []koretest.Bot) string {
	var b strings.Builder
	fmt.Fprintf(&b, "defaults:\n  host: %s\n  allow_insecure_http: true\n  interval: 1m\n  windows: [1h]\n  timeout: 12s\nbots:\n", host)
	for i, sb := range secretsBots {
		fmt.Fprintf(&b, "  - name: %s\n    bot_id: %s\n    client_id: %s\n    %s\n", sb.name, bots[i].ID, bots[i].ClientID, sb.cred)
	}
	b.WriteString("limits:\n  max_concurrent_jobs: 6\n")
	return b.String()
}

// badSecretConfigs are configurations that fail, each on a path where an
// error could quote a secret or key: the good configuration with one bot
// changed. dir holds the files they name.
func badSecretConfigs(t *testing.T, dir string, keys canaryKeys) map[string]func(good string) string {
	t.Helper()
	files := map[string][]byte{
		"empty.secret":     nil,
		"big.secret":       []byte(strings.Repeat(canaryClientSecret+"\n", config.MaxSecretFileSize/len(canaryClientSecret)+1)),
		"armored.pem":      []byte("-----BEGIN RSA PRIVATE KEY-----\n" + canaryClientSecret + "\n-----END RSA PRIVATE KEY-----\n"),
		"secret-as.pem":    []byte(canaryClientSecret + "\n"),
		"truncated.pem":    keys.rsaPEM[:len(keys.rsaPEM)/2],
		"cut-body.pem":     cutPEMBody(keys.rsaPEM),
		"ecdsa.pem":        keys.ecdsaPEM,
		"encrypted.pem":    []byte(strings.Replace(string(keys.rsaPEM), "-----\n", "-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,"+strings.Repeat("0", 32)+"\n\n", 1)),
		"pem-headers.pem":  []byte(strings.Replace(string(keys.rsaPEM), "-----\n", "-----\nX-Canary: "+canaryClientSecret+"\n\n", 1)),
		"key-as-secret.sk": keys.rsaPEM,
	}
	for name, data := range files {
		writeFile(t, filepath.Join(dir, name), data)
	}
	if err := os.Mkdir(filepath.Join(dir, "a-directory"), 0o700); err != nil {
		t.Fatal(err)
	}
	// on replaces the credential line of the bot "healthy".
	on := func(cred string) func(string) string {
		return func(good string) string {
			return strings.Replace(good, "client_secret_file: canary.secret", cred, 1)
		}
	}
	bad := map[string]func(string) string{
		"literal secret and other errors": func(g string) string {
			return on("client_secret: " + canaryClientSecret + "\n    page_size: 0\n    windows: [91d]")(g)
		},
		"literal secret and a secret file":   on("client_secret: " + canaryClientSecret + "\n    client_secret_file: canary.secret"),
		"secret where a number goes":         on("client_secret_file: canary.secret\n    page_size: " + canaryClientSecret),
		"secret where a list goes":           on("client_secret_file: canary.secret\n    windows: " + canaryClientSecret),
		"secret as a mapping":                on("client_secret: {" + canaryClientSecret + ": x}"),
		"secret and an unset variable":       on("client_secret: " + canaryClientSecret + "${KORE_UNSET_VARIABLE}"),
		"secret as a variable name":          on("client_secret: ${" + canaryClientSecret + "}"),
		"secret then a syntax error":         on("client_secret: " + canaryClientSecret + "\n    windows: [1h"),
		"secret in the host's password":      on("client_secret_file: canary.secret\n    host: https://u:" + canaryClientSecret + "@platform.kore.ai"),
		"secret file missing":                on("client_secret_file: missing.secret"),
		"secret file empty":                  on("client_secret_file: empty.secret"),
		"secret file too large":              on("client_secret_file: big.secret"),
		"secret file a directory":            on("client_secret_file: a-directory"),
		"secret file holds a key":            on("client_secret_file: key-as-secret.sk\n    page_size: 0"),
		"key file holds the secret":          on("private_key_file: secret-as.pem"),
		"key file armors the secret":         on("private_key_file: armored.pem"),
		"key file truncated":                 on("private_key_file: truncated.pem"),
		"key file with a cut body":           on("private_key_file: cut-body.pem"),
		"key file of the wrong kind (ECDSA)": on("private_key_file: ecdsa.pem"),
		"key file encrypted":                 on("private_key_file: encrypted.pem"),
		"key file with a canary PEM header":  on("private_key_file: pem-headers.pem\n    windows: [91d]"),
		"key and secret both":                on("private_key_file: canary.pem\n    client_secret: " + canaryClientSecret),
		"secret file, duplicate bot": func(g string) string {
			dup := g[strings.Index(g, "  - name: healthy"):strings.Index(g, "  - name: unauthorized")]
			return strings.Replace(g, "limits:", strings.Replace(dup, "healthy", "healthy-again", 1)+"limits:", 1)
		},
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		bad["secret file /dev/zero"] = on("client_secret_file: /dev/zero")
		bad["key file /dev/zero"] = on("private_key_file: /dev/zero")
	}
	return bad
}

// cutPEMBody returns the PEM with its body's last lines removed, armor kept:
// real key material that does not parse.
func cutPEMBody(p []byte) []byte {
	lines := strings.Split(strings.TrimSpace(string(p)), "\n")
	return []byte(strings.Join(append(lines[:len(lines)/2], lines[len(lines)-1]), "\n") + "\n")
}

// authClient sends requests to an exporter under basic auth.
type authClient struct {
	t          *testing.T
	base       string
	user, pass string
}

func (c authClient) do(method, path string, hdr map[string]string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.user != "" || c.pass != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSecretsNeverShow runs the real wiring (run) under basic auth with
// canary credentials against the simulated API, drives the error paths
// and searches everything the exporter says; no t.Parallel: it sets an
// environment variable.
func TestSecretsNeverShow(t *testing.T) {
	skipShort(t, "secrets end-to-end on a real clock")
	keys := newCanaryKeys(t)
	search := keys.search()
	search.selfCheck(t, canaryJWT(t))

	// The simulated API, behind a recorder of every token it receives.
	sim := koretest.NewInMemory(koretest.WithJobDuration(5 * time.Second))
	defer sim.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		search.recordToken(r.Header.Get("Auth"))
		sim.Handler().ServeHTTP(w, r)
	}))
	defer api.Close()
	bots := koretest.DemoBots(len(secretsBots), 23)
	for i, sb := range secretsBots {
		bots[i].ClientSecret = canaryClientSecret
		if sb.name == "unauthorized" {
			bots[i].ClientSecret = "the-secret-the-api-knows"
		}
		if strings.HasPrefix(sb.cred, "private_key_file") {
			bots[i].RSAPublicKey = &keys.rsa.PublicKey
		}
		sim.AddBot(bots[i])
		sim.SetFault(bots[i].ID, sb.fault)
	}

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "canary.secret"), []byte(canaryClientSecret+"\n"))
	writeFile(t, filepath.Join(dir, "canary.pem"), keys.rsaPEM)
	t.Setenv(canaryEnvVar, canaryClientSecret)
	good := secretsConfig(api.URL, bots)
	path := filepath.Join(dir, "kore.yml")
	writeFile(t, path, []byte(good))
	hash, err := bcrypt.GenerateFromPassword([]byte(canaryWebPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	writeFile(t, webCfg, []byte("basic_auth_users:\n  "+canaryWebUser+": "+string(hash)+"\n"))

	said := map[string]string{} // place → what the exporter said there
	e := startExporter(t, "--config.file="+path, "--web.config.file="+webCfg, "--web.enable-lifecycle", "--log.level=debug")
	c := authClient{t: t, base: e.base, user: canaryWebUser, pass: canaryWebPassword}

	// echo-poll: once its job is submitted, its status calls answer 5xx
	// echoing the request (JSON and HTML in turn; the client retries them).
	pollBot := bots[4].ID
	deadline := time.Now().Add(30 * time.Second)
	for sim.Stats(pollBot).Submits == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("echo-poll never submitted; logs:\n%s", e.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	sim.SetFault(pollBot, koretest.Fault{ServerErrors: 1000, EchoRequest: true})

	deadline = time.Now().Add(60 * time.Second)
	for {
		if code, _ := c.do(http.MethodGet, "/-/ready", nil); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 60s; logs:\n%s", e.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Each error path was taken: the results say so, and the echoes reached
	// the client (and were scrubbed there).
	code, body := c.do(http.MethodGet, "/status?format=json", nil)
	var st []statusRow
	if err := json.Unmarshal([]byte(body), &st); code != http.StatusOK || err != nil {
		t.Fatalf("/status?format=json: HTTP %d, %v: %s", code, err, body)
	}
	want := map[string]struct{ result, errHas string }{
		"healthy":           {"success", ""},
		"unauthorized":      {"unauthorized", "HTTP 401"},
		"echo-submit":       {"api_error", "Auth: [redacted]"},
		"echo-submit-rs256": {"api_error", "Auth: [redacted]"},
		"echo-poll":         {"api_error", "HTTP 50"},
		"token-job-id":      {"invalid_response", "_id: not a job id"},
	}
	for _, j := range st {
		w, ok := want[j.Bot]
		if !ok {
			t.Errorf("unexpected job %+v", j)
			continue
		}
		if j.LastResult != w.result || !strings.Contains(j.LastError, w.errHas) {
			t.Errorf("%s: result %q, error %q; want %q with an error containing %q", j.Bot, j.LastResult, j.LastError, w.result, w.errHas)
		}
		delete(want, j.Bot)
	}
	if len(want) > 0 {
		t.Errorf("jobs missing from /status: %v", want)
	}
	if s := sim.Stats(pollBot); s.ServerErrors < 2 {
		t.Errorf("echo-poll: %d 5xx answers to its status calls, want at least 2 (a JSON and an HTML echo)", s.ServerErrors)
	}
	if n := search.tokenCount(); n < len(secretsBots) {
		t.Errorf("the simulated API received %d tokens, want at least one per bot", n)
	}

	// Failed basic auth: no credentials, a wrong password, the password for
	// another user.
	for _, wrong := range []authClient{{t: t, base: e.base}, {t: t, base: e.base, user: canaryWebUser, pass: "wrong"}, {t: t, base: e.base, user: "other", pass: canaryWebPassword}} {
		for _, p := range []string{"/metrics", "/status", "/"} {
			code, body := wrong.do(http.MethodGet, p, nil)
			if code != http.StatusUnauthorized {
				t.Errorf("%s as %q: HTTP %d, want 401", p, wrong.user, code)
			}
			said[fmt.Sprintf("401 answer of %s as %q", p, wrong.user)] = body
		}
	}

	// Reload failures: every bad configuration is refused, its error in the
	// answer and the log.
	bad := badSecretConfigs(t, dir, keys)
	for name, mk := range bad {
		writeFile(t, path, []byte(mk(good)))
		code, body := c.do(http.MethodPost, "/-/reload", nil)
		if code != http.StatusInternalServerError {
			t.Errorf("reload of %q: HTTP %d, want 500: %s", name, code, body)
		}
		said["reload answer, "+name] = body
	}
	writeFile(t, path, []byte(good))
	if code, body := c.do(http.MethodPost, "/-/reload", nil); code != http.StatusOK {
		t.Errorf("reload of the good configuration: HTTP %d: %s", code, body)
	}

	for _, p := range []struct {
		path   string
		header map[string]string
	}{
		{"/metrics", nil},
		{"/metrics", map[string]string{"Accept": "application/openmetrics-text;version=1.0.0"}},
		{"/status", nil},
		{"/status?format=json", nil},
		{"/", nil},
		{"/-/ready", nil},
		{"/-/healthy", nil},
		{"/-/reload", nil}, // a GET: refused
	} {
		code, body := c.do(http.MethodGet, p.path, p.header)
		if code == 0 || code == http.StatusUnauthorized || body == "" {
			t.Errorf("%s: HTTP %d, %d bytes", p.path, code, len(body))
		}
		said[fmt.Sprintf("GET %s %v", p.path, p.header)] = body
	}
	if _, body := c.do(http.MethodGet, "/status", nil); !strings.Contains(body, "[redacted]") || !strings.Contains(body, "unauthorized") {
		t.Errorf("/status does not show the errors (an echo, redacted; a 401):\n%s", body)
	}
	if _, body := c.do(http.MethodGet, "/metrics", nil); !strings.Contains(body, `kore_exporter_report_runs_total{bot="echo-poll",result="api_error",window="1h"} 1`) {
		t.Errorf("/metrics does not count echo-poll's failed run")
	}

	// Start-up and --config.check with every bad configuration.
	for name, mk := range bad {
		writeFile(t, path, []byte(mk(good)))
		var out, logs syncBuffer
		if code := run(t.Context(), []string{"--config.file=" + path, "--web.listen-address=" + freeAddr(t)}, &out, &logs); code != 1 {
			t.Errorf("start-up with %q: exit %d, want 1", name, code)
		}
		if !strings.Contains(logs.String(), "invalid configuration") {
			t.Errorf("start-up with %q: no configuration error logged:\n%s", name, logs.String())
		}
		said["start-up, "+name] = out.String() + logs.String()
		out, logs = syncBuffer{}, syncBuffer{}
		if code := run(t.Context(), []string{"--config.file=" + path, "--config.check", "--config.check.verbose"}, &out, &logs); code != 1 {
			t.Errorf("--config.check of %q: exit %d, want 1", name, code)
		}
		said["--config.check, "+name] = out.String() + logs.String()
	}
	writeFile(t, path, []byte(good))

	// A bad web configuration (the password where its hash goes, or where a
	// mapping goes) stops the exporter with an error that quotes neither.
	for name, web := range map[string]string{
		"password for the users":   "basic_auth_users: " + canaryWebPassword + "\n",
		"password for a hash":      "basic_auth_users:\n  " + canaryWebUser + ": " + canaryWebPassword + "\n",
		"password in a list":       "basic_auth_users:\n  " + canaryWebUser + ": [" + canaryWebPassword + "]\n",
		"password and a bad field": "basic_auth_users:\n  " + canaryWebUser + ": " + canaryWebPassword + "\nno_such_field: 1\n",
	} {
		badWeb := filepath.Join(dir, "bad-web.yml")
		writeFile(t, badWeb, []byte(web))
		var out, logs syncBuffer
		if code := run(t.Context(), []string{"--config.file=" + path, "--web.config.file=" + badWeb, "--web.listen-address=" + freeAddr(t)}, &out, &logs); code != 1 {
			t.Errorf("web configuration %q: exit %d, want 1", name, code)
		}
		if !strings.Contains(logs.String(), "HTTP server failed") {
			t.Errorf("web configuration %q: no error logged:\n%s", name, logs.String())
		}
		said["bad web configuration, "+name] = out.String() + logs.String()
	}

	var out, logs syncBuffer
	if code := run(t.Context(), []string{"--config.file=" + path, "--config.check", "--config.check.verbose"}, &out, &logs); code != 0 && code != exitPlanCannotBeMet {
		t.Errorf("--config.check of the good configuration: exit %d: %s", code, logs.String())
	}
	said["--config.check, good configuration"] = out.String() + logs.String()

	e.stop()
	said["the log"] = e.logs.String()
	for _, want := range []string{"report run failed", "reload failed", "configuration reloaded"} {
		if !strings.Contains(said["the log"], want) {
			t.Errorf("the log does not say %q", want)
		}
	}
	search.selfCheck(t) // the recorded tokens too
	search.check(t, said)
}

// panicRunner is a report.Runner whose run panics with a value that quotes
// its bot's credentials: the client secret or private key, and a JWT signed
// with it, as a bug deep in a client could.
type panicRunner struct {
	bot   config.Bot
	token string
}

func (p panicRunner) RunContainmentReport(context.Context, string, kore.ReportRequest) (*kore.Report, error) {
	switch {
	case p.bot.PrivateKey != "":
		panic(fmt.Errorf("cannot sign with key %q: token %s", p.bot.PrivateKey.Reveal(), p.token))
	case strings.HasSuffix(p.bot.Name, "-header"):
		panic(http.Header{"Auth": {p.token}, "Secret": {p.bot.ClientSecret.Reveal()}})
	default:
		panic("bad secret " + p.bot.ClientSecret.Reveal() + " in token " + p.token)
	}
}

// TestSecretsNeverShowAfterAPanic: the scheduler turns a panic inside a
// report run into the run's error; a panic value that quotes the secret,
// the private key or a token shows none of them in the log, /status
// (HTML and JSON), /metrics or the landing page. The wiring is run's
// (newLogger, the scheduler, the reloader, newMux), with a report.Runner that
// panics in place of the Kore.ai client.
func TestSecretsNeverShowAfterAPanic(t *testing.T) {
	keys := newCanaryKeys(t)
	search := keys.search()
	token := canaryJWT(t)
	search.addRaw("the token in the panic", token)
	search.selfCheck(t, token)

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "canary.secret"), []byte(canaryClientSecret+"\n"))
	writeFile(t, filepath.Join(dir, "canary.pem"), keys.rsaPEM)
	path := filepath.Join(dir, "kore.yml")
	writeFile(t, path, []byte(`defaults: {interval: 1m, windows: [1h]}
bots:
  - {name: secret, bot_id: st-1, client_id: cs-1, client_secret: `+canaryClientSecret+`}
  - {name: secret-header, bot_id: st-2, client_id: cs-2, client_secret_file: canary.secret}
  - {name: key, bot_id: st-3, client_id: cs-3, private_key_file: canary.pem}
`))
	f, code, exited := parseFlags([]string{"--config.file=" + path, "--web.enable-lifecycle", "--log.level=debug"}, io.Discard, io.Discard)
	if exited {
		t.Fatalf("flags: exit %d", code)
	}
	var logBuf syncBuffer
	logger, slogger := newLogger(&logBuf, f.logFormat, f.logLevel)
	load := func() (*config.Config, error) { return config.Load(f.configFile) }
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	reg, metrics, err := collector.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	store := collector.NewStore()
	sched := collector.NewScheduler(collector.SchedulerOpts{
		Logger: logger, Store: store, Metrics: metrics, MaxStartSpread: 50 * time.Millisecond,
		NewClient: func(b config.Bot, _ *kore.Budgets, _ kore.Observer) (report.Runner, error) {
			return panicRunner{bot: b, token: token}, nil
		},
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rl := &reloader{logger: logger, source: path, sched: sched, metrics: metrics, load: load, ctx: ctx}
	if err := rl.apply(cfg); err != nil {
		t.Fatal(err)
	}
	defer sched.Stop()
	mux, err := newMux(f, store, reg, sched, rl, slogger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := authClient{t: t, base: srv.URL}

	deadline := time.Now().Add(20 * time.Second)
	for code, _ := c.do(http.MethodGet, "/-/ready", nil); code != http.StatusOK; code, _ = c.do(http.MethodGet, "/-/ready", nil) {
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 20s; logs:\n%s", logBuf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	said := map[string]string{}
	for _, p := range []string{"/status", "/status?format=json", "/metrics", "/"} {
		_, said[p] = c.do(http.MethodGet, p, nil)
	}
	// A reload (the same file) keeps the jobs; the log says so.
	if code, body := c.do(http.MethodPost, "/-/reload", nil); code != http.StatusOK {
		t.Errorf("reload: HTTP %d: %s", code, body)
	}
	var st []statusRow
	if err := json.Unmarshal([]byte(said["/status?format=json"]), &st); err != nil || len(st) != 3 {
		t.Fatalf("/status?format=json: %v: %s", err, said["/status?format=json"])
	}
	for _, j := range st {
		if j.LastResult != report.ResultError || !strings.Contains(j.LastError, "report run panicked") {
			t.Errorf("%s: result %q, error %q; want %q, the panic recorded", j.Bot, j.LastResult, j.LastError, report.ResultError)
		}
	}
	sched.Stop()
	said["the log"] = logBuf.String()
	if n := strings.Count(said["the log"], "report run panicked"); n < 3 {
		t.Errorf("the log records %d panics, want 3:\n%s", n, said["the log"])
	}
	search.check(t, said)
	if t.Failed() {
		t.Logf("log:\n%s", said["the log"])
	}
}

// TestSecretSearchFindsJWTs: the JWT pattern finds tokens of both
// algorithms the exporter signs with, whole or cut, and nothing in
// ordinary output.
func TestSecretSearchFindsJWTs(t *testing.T) {
	keys := newCanaryKeys(t)
	rs, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"appId": "cs-1"}).SignedString(keys.rsa)
	if err != nil {
		t.Fatal(err)
	}
	hs := canaryJWT(t)
	for _, tok := range []string{hs, rs, hs[:40], rs[strings.IndexByte(rs, '.')+1:]} {
		if !jwtLike.MatchString("x " + tok + " y") {
			t.Errorf("%.30s… is not found", tok)
		}
	}
	for _, clean := range []string{"kore_task_sessions{bot=\"eyJ\"} 1", "Auth: [redacted]", errors.New("kore: report job ds-1 failed").Error()} {
		if jwtLike.MatchString(clean) {
			t.Errorf("%q matches the JWT pattern", clean)
		}
	}
}

// hungReads reads secret files, those of one path blocking while hung is
// set until released, as a read on a hung network mount does; it counts
// the reads that blocked.
type hungReads struct {
	path    string
	hung    atomic.Bool
	blocked atomic.Int32
	entered chan struct{} // closed when the first read blocks
	release chan struct{}
	once    sync.Once
	freed   sync.Once
}

// free lets every blocked read return.
func (h *hungReads) free() { h.freed.Do(func() { close(h.release) }) }

func newHungReads(path string) *hungReads {
	return &hungReads{path: path, entered: make(chan struct{}), release: make(chan struct{})}
}

func (h *hungReads) read(path string) ([]byte, error) {
	if path == h.path && h.hung.Load() {
		h.blocked.Add(1)
		h.once.Do(func() { close(h.entered) })
		<-h.release
	}
	return config.ReadSecretFile(path)
}

// blockedSecretSetup is the reloader of run (with the scheduler) over a
// configuration whose client_secret_file is read through reads and a
// FileGuard of timeout (0: the default) under ctx.
func blockedSecretSetup(t *testing.T, ctx context.Context, dir string, reads *hungReads, timeout time.Duration, logs *syncBuffer) (*reloader, *collector.Metrics, *credentialLog) {
	t.Helper()
	path := filepath.Join(dir, "kore.yml")
	writeFile(t, path, []byte("defaults: {interval: 1m, windows: [1h]}\nbots:\n  - {name: filed, bot_id: st-1, client_id: cs-1, client_secret_file: canary.secret}\n"))
	logger, _ := newLogger(logs, "logfmt", "info")
	_, metrics, err := collector.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	creds := &credentialLog{}
	sched := collector.NewScheduler(collector.SchedulerOpts{Logger: logger, Store: collector.NewStore(), Metrics: metrics, NewClient: creds.newClient})
	t.Cleanup(sched.Stop)
	guard := &config.FileGuard{Timeout: timeout}
	load := func() (*config.Config, error) {
		return config.LoadWith(path, config.ParseOptions{ReadFile: guard.ReadFunc(ctx, reads.read)})
	}
	rl := &reloader{logger: logger, source: path, sched: sched, metrics: metrics, load: load, ctx: ctx}
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.apply(cfg); err != nil {
		t.Fatal(err)
	}
	return rl, metrics, creds
}

// TestReloadWithABlockedSecretRead: a reload whose client_secret_file read
// blocks (a hung network mount) fails at the read deadline, 5s, with an
// error naming the file and the deadline; the log and the reload
// self-metric say so and the running configuration keeps serving. Later
// reloads fail at once while the read stays blocked, starting no other
// read of the file, and succeed once it answers. On a fake clock.
func TestReloadWithABlockedSecretRead(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "canary.secret")
	writeFile(t, secret, []byte(canaryClientSecret+"\n"))
	search := newSecretSearch()
	search.add("the client secret", canaryClientSecret)
	synctest.Test(t, func(t *testing.T) {
		var logs syncBuffer
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		reads := newHungReads(secret)
		defer reads.free()
		rl, metrics, creds := blockedSecretSetup(t, ctx, dir, reads, 0, &logs)
		// reload reloads, failing the test should it block for a minute.
		reload := func() (time.Duration, error) {
			t.Helper()
			start := time.Now()
			done := make(chan error, 1)
			go func() { done <- rl.reload() }()
			select {
			case err := <-done:
				return time.Since(start), err
			case <-time.After(time.Minute):
				reads.free()
				<-done
				t.Fatalf("the reload still blocked after a minute")
				return 0, nil
			}
		}

		reads.hung.Store(true)
		took, err := reload()
		if took != config.DefaultFileTimeout {
			t.Errorf("the reload took %v, want the read deadline %v", took, config.DefaultFileTimeout)
		}
		want := "bots[0].client_secret_file: cannot read file " + secret + ": "
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "5s") {
			t.Fatalf("reload error %v: want %q… naming the deadline 5s", err, want)
		}
		if v := gaugeValue(t, metrics, reloadOK); v != 0 {
			t.Errorf("%s = %v after the failed reload, want 0", reloadOK, v)
		}
		logged := `level=error msg="reload failed; keeping the running configuration" file=` + filepath.Join(dir, "kore.yml") + ` problem=1/1 err="` + want
		if !strings.Contains(withoutTimeAndCaller(logs.String()), logged) {
			t.Errorf("the log does not say %q:\n%s", logged, logs.String())
		}
		if cred, n := creds.last("filed"); cred != canaryClientSecret || n != 1 {
			t.Errorf("the bot has had %d clients, the last one not with the running secret", n)
		}
		if st := rl.sched.Status(); len(st) != 1 || st[0].Bot != "filed" {
			t.Errorf("jobs after the failed reload: %+v, want the running one", st)
		}

		for i := range 3 {
			took, err := reload()
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("reload %d while the read stays blocked: %v, want %q…", i+2, err, want)
			}
			if took != 0 {
				t.Errorf("reload %d while the read stays blocked took %v, want a failure at once", i+2, took)
			}
		}
		if n := reads.blocked.Load(); n != 1 {
			t.Errorf("%d reads of the hung file blocked, want 1: they pile up", n)
		}

		reads.free()
		synctest.Wait()
		if _, err := reload(); err != nil {
			t.Errorf("reload once the file answers: %v", err)
		}
		if v := gaugeValue(t, metrics, reloadOK); v != 1 {
			t.Errorf("%s = %v after the good reload, want 1", reloadOK, v)
		}
		cancel()
		rl.sched.Stop()
		search.check(t, map[string]string{"the log": logs.String()})
	})
}

// TestShutdownDuringABlockedSecretRead: SIGTERM (the end of run's context)
// during a reload blocked on a secret file read ends the reload at once,
// long before the read deadline (an hour here), so run returns promptly.
// Real clock: it logs how long the reload took to return.
func TestShutdownDuringABlockedSecretRead(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "canary.secret")
	writeFile(t, secret, []byte(canaryClientSecret+"\n"))
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reads := newHungReads(secret)
	defer reads.free()
	rl, _, _ := blockedSecretSetup(t, ctx, dir, reads, time.Hour, &logs)

	reads.hung.Store(true)
	done := make(chan error, 1)
	go func() { done <- rl.reload() }()
	select {
	case <-reads.entered:
	case err := <-done:
		t.Fatalf("the reload did not block: %v", err)
	}
	start := time.Now()
	cancel() // what SIGTERM does to run's context
	select {
	case err := <-done:
		took := time.Since(start)
		t.Logf("the reload returned %v after the shutdown began: %v", took, err)
		if err == nil || !strings.Contains(err.Error(), "cannot read file "+secret+": ") || !strings.Contains(err.Error(), context.Canceled.Error()) {
			t.Errorf("reload error %v: want %q, naming the file", err, context.Canceled)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the reload still blocks 30s after the shutdown began: run would not return")
	}
}
