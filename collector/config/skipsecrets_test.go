package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A configuration as checked on a laptop before it is installed: its secret
// files live in a Kubernetes Secret, its variables in the pod.
const skipSecretsDoc = `
bots:
  - name: support
    bot_id: st-00000000-0000-5000-8000-000000000001
    client_id: cs-00000000-0000-5000-8000-000000000001
    client_secret_file: /etc/kore_exporter/secrets/support.secret
  - name: hr
    bot_id: st-00000000-0000-5000-8000-000000000002
    client_id: cs-00000000-0000-5000-8000-000000000002
    private_key_file: keys/hr.pem
  - name: sales
    bot_id: st-00000000-0000-5000-8000-000000000003
    client_id: cs-00000000-0000-5000-8000-000000000003
    client_secret: ${KORE_SALES_SECRET_NOT_SET_HERE}
`

// noSecretAccess fails the test on any read of a file or the environment.
func noSecretAccess(t *testing.T, dir string) ParseOptions {
	return ParseOptions{
		BaseDir:     dir,
		SkipSecrets: true,
		LookupEnv: func(name string) (string, bool) {
			t.Errorf("SkipSecrets looked up the environment variable %s", name)
			return "", false
		},
		ReadFile: func(path string) ([]byte, error) {
			t.Errorf("SkipSecrets read %s", path)
			return nil, os.ErrNotExist
		},
	}
}

func TestSkipSecretsChecksTheFormOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir() // holds none of the files

	// Without the option: every missing secret is a problem, naming it.
	_, err := ParseWith([]byte(skipSecretsDoc), ParseOptions{BaseDir: dir, LookupEnv: func(string) (string, bool) { return "", false }})
	for _, want := range []string{
		"bots[0].client_secret_file: file /etc/kore_exporter/secrets/support.secret does not exist",
		"bots[1].private_key_file: file " + filepath.Join(dir, "keys", "hr.pem") + " does not exist",
		"bots[2].client_secret: environment variable KORE_SALES_SECRET_NOT_SET_HERE is not set",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("without SkipSecrets: error does not contain %q:\n%v", want, err)
		}
	}

	// With it: valid, nothing read, the paths resolved, no secret held.
	cfg, err := ParseWith([]byte(skipSecretsDoc), noSecretAccess(t, dir))
	if err != nil {
		t.Fatalf("with SkipSecrets: %v", err)
	}
	if got := cfg.Bots[0].ClientSecretFile; got != "/etc/kore_exporter/secrets/support.secret" {
		t.Errorf("client_secret_file = %q", got)
	}
	if got := cfg.Bots[1].PrivateKeyFile; got != filepath.Join(dir, "keys", "hr.pem") {
		t.Errorf("private_key_file = %q, want it resolved against the base directory", got)
	}
	for _, b := range cfg.Bots {
		if b.ClientSecret != "" || b.PrivateKey != "" {
			t.Errorf("bot %s holds a secret although none was read", b.Name)
		}
	}
	// The plan can still be computed.
	if p := cfg.Plan(); len(p) != 3 {
		t.Errorf("plan has %d bots, want 3", len(p))
	}
	// The rest of the file is still checked.
	bad := strings.Replace(skipSecretsDoc, "    client_id: cs-00000000-0000-5000-8000-000000000002\n", "    intervall: 5m\n", 1)
	_, err = ParseWith([]byte(bad), noSecretAccess(t, dir))
	for _, want := range []string{`bots[1]: unknown field "intervall"`, "bots[1].client_id: is required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("with SkipSecrets: error does not contain %q:\n%v", want, err)
		}
	}
}

func TestSkipSecretsStillRefusesBadForms(t *testing.T) {
	t.Parallel()
	const ids = "    bot_id: st-00000000-0000-5000-8000-000000000001\n    client_id: cs-00000000-0000-5000-8000-000000000001\n"
	for name, tt := range map[string]struct{ secret, want string }{
		"none":           {"", "bots[0]: no credentials: set one of client_secret, client_secret_file or private_key_file"},
		"two":            {"    client_secret: ${A}\n    client_secret_file: a.secret\n", "bots[0]: set exactly one of client_secret, client_secret_file or private_key_file, not client_secret and client_secret_file"},
		"three":          {"    client_secret: s\n    client_secret_file: a\n    private_key_file: b\n", "not client_secret and client_secret_file and private_key_file"},
		"empty file":     {"    client_secret_file: ''\n", "bots[0].client_secret_file: is empty; set a file name"},
		"blank key file": {"    private_key_file: ' '\n", "bots[0].private_key_file: is empty; set a file name"},
		"empty secret":   {"    client_secret: ''\n", "bots[0].client_secret: is empty"},
		"unterminated":   {"    client_secret: ${KORE_X\n", "bots[0].client_secret: unterminated ${"},
		"bad name":       {"    client_secret: ${1KORE}\n", "bots[0].client_secret: invalid ${…} reference"},
		"bare $NAME":     {"    client_secret: $KORE_X\n", "bots[0].client_secret: is $KORE_X, taken as it is: write ${KORE_X}"},
		"wrong kind":     {"    client_secret_file: [a]\n", "bots[0].client_secret_file: expected a string, got a list"},
	} {
		doc := "bots:\n  - name: a\n" + ids + tt.secret
		_, err := ParseWith([]byte(doc), noSecretAccess(t, t.TempDir()))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error does not contain %q:\n%v", name, tt.want, err)
		}
	}
}

func TestLoadWithSkipSecrets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "kore.yml")
	if err := os.WriteFile(path, []byte(skipSecretsDoc), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadWith(path, ParseOptions{}); err == nil || !strings.Contains(err.Error(), "support.secret does not exist") {
		t.Errorf("LoadWith without SkipSecrets: err = %v, want the missing secret file", err)
	}
	cfg, err := LoadWith(path, ParseOptions{SkipSecrets: true})
	if err != nil {
		t.Fatalf("LoadWith with SkipSecrets: %v", err)
	}
	if got := cfg.Bots[1].PrivateKeyFile; got != filepath.Join(dir, "keys", "hr.pem") {
		t.Errorf("private_key_file = %q, want it resolved against the config's directory", got)
	}
}
