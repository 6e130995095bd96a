package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kore-exporter/kore_exporter/kore"
	"github.com/prometheus/common/model"
)

// testKeys are generated once per test binary, so no private key lives in
// the repository. The tests serve them as testdata/keys/*.pem through
// ParseOptions.ReadFile.
var testKeys = sync.OnceValue(func() map[string][]byte {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			panic(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	return map[string][]byte{
		"rsa-pkcs1.pem": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}),
		"rsa-pkcs8.pem": pkcs8(rk),
		"ec-pkcs8.pem":  pkcs8(ek),
	}
})

// testEnv is the environment the tests parse with.
var testEnv = map[string]string{
	"KORE_TEST_SECRET":  "env-secret",
	"KORE_TEST_EMPTY":   "",
	"KORE_SALES_SECRET": "sales-secret-from-env",
}

// testOptions resolves files against dir, serves the generated keys as
// <dir>/keys/*.pem and (for config.example.yml in ../..) ../../secrets/support.secret,
// and reads the environment from testEnv.
func testOptions(dir string) ParseOptions {
	return ParseOptions{
		BaseDir: dir,
		LookupEnv: func(name string) (string, bool) {
			v, ok := testEnv[name]
			return v, ok
		},
		ReadFile: func(path string) ([]byte, error) {
			if filepath.Dir(path) == filepath.Join(dir, "keys") {
				if k, ok := testKeys()[filepath.Base(path)]; ok {
					return k, nil
				}
				return testKeys()["rsa-pkcs1.pem"], nil
			}
			if dir == filepath.Join("..", "..") && path == filepath.Join(dir, "secrets", "support.secret") {
				return []byte("support-secret-from-file\n"), nil
			}
			return os.ReadFile(path)
		},
	}
}

func parseTestFile(t *testing.T, name string) (*Config, error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return ParseWith(data, testOptions("testdata"))
}

func TestParseGoodFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file  string
		check func(t *testing.T, c *Config)
	}{
		{"good-minimal.yml", func(t *testing.T, c *Config) {
			want := Bot{
				Name:          "st-00000000-0000-5000-8000-000000000001",
				BotID:         "st-00000000-0000-5000-8000-000000000001",
				ClientID:      "cs-00000000-0000-5000-8000-000000000001",
				ClientSecret:  "minimal-secret",
				Host:          "https://platform.kore.ai",
				Interval:      5 * time.Minute,
				Windows:       []Window{{Name: "24h", Duration: 24 * time.Hour}},
				Timeout:       10 * time.Minute,
				StaleAfter:    15 * time.Minute,
				PageSize:      100,
				MaxTaskRows:   1000,
				MaxReportRows: 10000,
				Filters:       Filters{},
				Sessions:      Sessions{PeakPerHour: DefaultSessionsPeakPerHour},
			}
			if len(c.Bots) != 1 || !reflect.DeepEqual(c.Bots[0], want) {
				t.Errorf("bots = %+v\nwant [%+v]", c.Bots, want)
			}
			if want := (Limits{MaxConcurrentJobs: 4, AutoConcurrentJobs: true, RequestsPerMinutePerBot: 30}); c.Limits != want {
				t.Errorf("limits = %+v, want %+v", c.Limits, want)
			}
		}},
		{"good-variants.yml", func(t *testing.T, c *Config) {
			if len(c.Bots) != 3 || c.Bots[0].BotID != c.Bots[1].BotID || c.Bots[1].BotID != c.Bots[2].BotID {
				t.Fatalf("bots = %+v", c.Bots)
			}
			want := []map[string]string{
				{"team": "support-bots", "env": "prod"},
				{"team": "messaging", "env": "prod"},
				{"team": "support-bots", "env": "prod"},
			}
			for i, b := range c.Bots {
				if !reflect.DeepEqual(b.Labels, want[i]) {
					t.Errorf("bots[%d].labels = %v, want %v", i, b.Labels, want[i])
				}
			}
		}},
		{"good-full.yml", func(t *testing.T, c *Config) {
			s, h := c.Bots[0], c.Bots[1]
			if s.ClientSecret.Reveal() != "test-client-secret-support" || s.ClientSecretFile != filepath.Join("testdata", "secrets", "support.secret") {
				t.Errorf("support secret from %q not read and trimmed", s.ClientSecretFile)
			}
			if s.Host != "https://platform.kore.ai" {
				t.Errorf("support host = %q, want the trailing / trimmed", s.Host)
			}
			if got := windowNames(s.Windows); got != "1h,24h,7d" {
				t.Errorf("support windows = %s", got)
			}
			if s.StaleAfter != 20*time.Minute {
				t.Errorf("support stale_after = %v, want the default's 20m", s.StaleAfter)
			}
			if s.MaxTaskRows != 2000 || s.MaxReportRows != 20000 {
				t.Errorf("support max_task_rows %d, max_report_rows %d; want the defaults' 2000 and 20000", s.MaxTaskRows, s.MaxReportRows)
			}
			if h.MaxTaskRows != 50 || h.MaxReportRows != 500 {
				t.Errorf("hr max_task_rows %d, max_report_rows %d; want its own 50 and 500", h.MaxTaskRows, h.MaxReportRows)
			}
			wantF := Filters{ConversationType: "Interactive", ConversationStatus: "Closed", IncludeTaskNames: []string{"Book Flight"},
				Tags: []Tag{{Name: "channel", Values: []string{"web"}, Type: "session"}}}
			if !reflect.DeepEqual(s.Filters, wantF) {
				t.Errorf("support filters = %+v, want %+v", s.Filters, wantF)
			}
			if h.PrivateKey == "" || h.ClientSecret != "" || h.PrivateKeyFile != filepath.Join("testdata", "keys", "rsa-pkcs1.pem") {
				t.Errorf("hr key not read from %q", h.PrivateKeyFile)
			}
			wantH := Filters{ConversationType: "Non-Interactive", IncludeTaskNames: nil,
				Tags: []Tag{{Name: "dept", Values: []string{"hr", "payroll"}, Type: "user"}}}
			if !reflect.DeepEqual(h.Filters, wantH) {
				t.Errorf("hr filters = %+v, want %+v", h.Filters, wantH)
			}
			if h.Interval != 15*time.Minute || h.Delay != 15*time.Minute || h.Timeout != 20*time.Minute ||
				h.PageSize != 500 || h.StaleAfter != time.Hour || !h.AllowInsecureHTTP || h.Host != "https://de-platform.kore.ai" {
				t.Errorf("hr overrides not applied: %+v", h)
			}
			if got := h.Windows; !reflect.DeepEqual(got, []Window{{"1h30m", 90 * time.Minute}, {"30d", 30 * 24 * time.Hour}}) {
				t.Errorf("hr windows = %v", got)
			}
			if c.Limits != (Limits{MaxConcurrentJobs: 8, RequestsPerMinutePerBot: 20}) {
				t.Errorf("limits = %+v", c.Limits)
			}
		}},
		{"good-pkcs8.yml", func(t *testing.T, c *Config) {
			if c.Bots[0].PrivateKey.Reveal() != string(testKeys()["rsa-pkcs8.pem"]) {
				t.Error("PKCS#8 key not kept verbatim")
			}
		}},
		{"good-env.yml", func(t *testing.T, c *Config) {
			if got := c.Bots[0].ClientSecret.Reveal(); got != "env-secret" {
				t.Errorf("whole-value expansion = %q", got)
			}
			if got := c.Bots[1].ClientSecret.Reveal(); got != "pre-env-secret-${LITERAL}" {
				t.Errorf("embedded expansion = %q", got)
			}
		}},
		{"good-http-allowed.yml", func(t *testing.T, c *Config) {
			if b := c.Bots[0]; b.Host != "http://127.0.0.1:8080" || !b.AllowInsecureHTTP {
				t.Errorf("host %q insecure %v", b.Host, b.AllowInsecureHTTP)
			}
		}},
		{"good-anchors.yml", func(t *testing.T, c *Config) {
			a, b := c.Bots[0], c.Bots[1]
			if b.Name != "support-eu" || b.ClientSecret != a.ClientSecret || windowNames(b.Windows) != "1h,24h" || b.Host != "https://de-platform.kore.ai" {
				t.Errorf("merged bot = %+v", b)
			}
		}},
		{"good-bounds.yml", func(t *testing.T, c *Config) {
			b := c.Bots[0]
			if b.Interval != time.Minute || b.StaleAfter != time.Minute || b.PageSize != 10000 || windowNames(b.Windows) != "1s,90d,12w" ||
				b.MaxTaskRows != 1000000 || b.MaxReportRows != 10000 {
				t.Errorf("bot = %+v", b)
			}
			if c.Limits != (Limits{MaxConcurrentJobs: 1, RequestsPerMinutePerBot: 60}) {
				t.Errorf("limits = %+v", c.Limits)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			c, err := parseTestFile(t, tt.file)
			if err != nil {
				t.Fatalf("unexpected error:\n%v", err)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate after Parse:\n%v", err)
			}
			tt.check(t, c)
		})
	}
}

// badFiles maps each testdata/bad-*.yml (one per rule) to substrings its
// error must contain.
var badFiles = map[string][]string{
	"bad-unknown-field.yml":             {`bots[0]: unknown field "clinet_id" (line 4); did you mean "client_id"?`, "known fields: "},
	"bad-unknown-top.yml":               {`(top level): unknown field "bot" (line 2); did you mean "bots"?`},
	"bad-unknown-defaults-field.yml":    {`defaults: unknown field "bot_id" (line 3); known fields: `},
	"bad-unknown-filter.yml":            {`bots[0].filters: unknown field "conversation_typ" (line 7); did you mean "conversation_type"?`},
	"bad-empty.yml":                     {"config is empty"},
	"bad-no-bots.yml":                   {"bots: at least one bot is required"},
	"bad-multi-doc.yml":                 {"multiple YAML documents (the second starts at line 6)"},
	"bad-syntax.yml":                    {"invalid YAML: line"},
	"bad-type-int.yml":                  {"bots[0].page_size: expected an integer, got a string (line 6)"},
	"bad-type-list.yml":                 {"bots: expected a list, got a mapping (line 3)"},
	"bad-type-bool.yml":                 {"bots[0].allow_insecure_http: expected true or false, got a string"},
	"bad-window-too-long.yml":           {"bots[0].windows[1]: window 91d exceeds the API's 90-day maximum"},
	"bad-window-syntax.yml":             {`bots[0].windows[0]: "7x" is not a valid window`},
	"bad-window-zero.yml":               {"bots[0].windows[0]: window 0s must be longer than zero"},
	"bad-window-duplicate.yml":          {"bots[0].windows[1]: window 1d duplicates windows[0] (24h)"},
	"bad-windows-empty.yml":             {"bots[0].windows: at least one window is required"},
	"bad-interval-short.yml":            {"defaults.interval: 30s is shorter than the minimum of 1m"},
	"bad-interval-syntax.yml":           {`bots[0].interval: "5" is not a valid duration`},
	"bad-delay-negative.yml":            {`bots[0].delay: "-5m" is not a valid duration`},
	"bad-timeout-zero.yml":              {"bots[0].timeout: must be longer than zero"},
	"bad-page-size.yml":                 {"bots[0].page_size: 0 is outside 1..10000"},
	"bad-page-size-large.yml":           {"bots[0].page_size: 20000 is outside 1..10000"},
	"bad-max-task-rows.yml":             {"bots[0].max_task_rows: 0 is outside 10..1000000"},
	"bad-max-task-rows-large.yml":       {"defaults.max_task_rows: 1000001 is outside 10..1000000"},
	"bad-max-report-rows.yml":           {"bots[0].max_report_rows: 2000000 is outside 1..1000000"},
	"bad-max-report-rows-page.yml":      {"bots[0].max_report_rows: 100 is less than page_size 500: a run must be able to fetch at least one full page"},
	"bad-max-report-rows-inherited.yml": {"defaults.max_report_rows: 50 is less than page_size 100"},
	"bad-stale-after.yml":               {"bots[0].stale_after: 5m is shorter than the interval 10m"},
	"bad-stale-after-inherited.yml":     {"bots[0].stale_after: 10m is shorter than the interval 15m"},
	"bad-duplicate-name.yml":            {`bots[1].name: duplicate bot name "support" (bots[0] has it too)`},
	"bad-duplicate-name-default.yml":    {`bots[1].name: duplicate bot name "st-00000000-0000-5000-8000-000000000001"`},
	"bad-duplicate-bot-id.yml":          {`bots[1].bot_id: duplicate bot_id "st-00000000-0000-5000-8000-000000000001" with the same filters as bots[0]: it would fetch the same numbers twice`},
	"bad-variant-same-filters.yml":      {`bots[1].bot_id: duplicate bot_id "st-00000000-0000-5000-8000-000000000001" with the same filters as bots[0]`},
	"bad-labels.yml": {
		`defaults.labels.1team: "1team" is not a valid label name`,
		`bots[0].labels.__meta: label names starting with __ are reserved for Prometheus`,
		`bots[0].labels.bot: "bot" clashes with a label of the exporter or of Prometheus`,
		`bots[0].labels.instance: "instance" clashes with a label`,
		`bots[0].labels.team-name: "team-name" is not a valid label name`,
	},
	"bad-labels-kind.yml":         {"bots[0].labels:"},
	"bad-bot-id-missing.yml":      {"bots[0].bot_id: is required"},
	"bad-bot-id-shape.yml":        {`bots[0].bot_id: "st-1/../st-2" must not contain '/'`},
	"bad-client-id-missing.yml":   {"bots[0].client_id: is required"},
	"bad-name-space.yml":          {`bots[0].name: " support" must not start or end with whitespace`},
	"bad-no-secret.yml":           {"bots[0]: no credentials: set one of client_secret, client_secret_file or private_key_file"},
	"bad-two-secrets.yml":         {"bots[0]: set exactly one of client_secret, client_secret_file or private_key_file, not client_secret and client_secret_file"},
	"bad-secret-empty.yml":        {"bots[0].client_secret: is empty"},
	"bad-secret-env-empty.yml":    {"bots[0].client_secret: expands to an empty value"},
	"bad-secret-env-unset.yml":    {"bots[0].client_secret: environment variable KORE_TEST_UNSET is not set"},
	"bad-secret-env-syntax.yml":   {"bots[0].client_secret: unterminated ${"},
	"bad-secret-env-nobraces.yml": {"bots[0].client_secret: is $KORE_TEST_SECRET, taken as it is: write ${KORE_TEST_SECRET} to use the environment variable"},
	"bad-secret-file-missing.yml": {"bots[0].client_secret_file: file " + filepath.Join("testdata", "secrets", "missing.secret") + " does not exist"},
	"bad-secret-file-empty.yml":   {"bots[0].client_secret_file: file " + filepath.Join("testdata", "secrets", "empty.secret") + " is empty"},
	"bad-private-key-not-pem.yml": {"bots[0].private_key_file: " + filepath.Join("testdata", "secrets", "not-a-key.pem") + ": no PEM block found"},
	"bad-private-key-ec.yml":      {"bots[0].private_key_file: " + filepath.Join("testdata", "keys", "ec-pkcs8.pem") + ": the key is ECDSA; RS256 needs an RSA key"},
	"bad-host-http.yml":           {`bots[0].host: "http://kore.example.com" uses plain http; use https, or allow insecure HTTP`},
	"bad-host-path.yml":           {`bots[0].host: "https://platform.kore.ai/api/public" must not have a path`},
	"bad-host-query.yml":          {`bots[0].host: "https://platform.kore.ai?region=us" must not have a query`},
	"bad-host-relative.yml":       {`bots[0].host: "platform.kore.ai" is not an absolute URL`},
	"bad-host-scheme.yml":         {`bots[0].host: "ftp://platform.kore.ai": scheme must be https`},
	"bad-host-userinfo.yml":       {"bots[0].host: must not contain a user name or password"},
	"bad-filter-type.yml":         {`bots[0].filters.conversation_type: "interactive" is not one of Interactive, Non-Interactive (case-sensitive)`},
	"bad-filter-status.yml":       {`bots[0].filters.conversation_status: "Open" is not one of Active, Closed (case-sensitive)`},
	"bad-filter-task-name.yml":    {"bots[0].filters.include_task_names[1]: task name is empty"},
	"bad-sessions.yml": {
		"defaults.sessions.peak_per_hour: -3 is outside 1..1000000",
		"bots[0].windows[0]: window 90m is not a whole number of hours",
		"bots[1].sessions.peak_per_hour: 2000000 is outside 1..1000000",
		`bots[1].sessions.enabled: bots[0] (a) already counts the sessions of bot_id "st-00000000-0000-5000-8000-000000000001"`,
		"bots[2].sessions.enabled",
	},
	"bad-filter-tag.yml": {
		"bots[0].filters.tags[0].name: tag name is empty",
		"bots[0].filters.tags[0].values: at least one value is required",
		`bots[0].filters.tags[0].type: "device" is not one of user, session, message (case-sensitive)`,
	},
	"bad-limits-concurrency.yml": {"limits.max_concurrent_jobs: 0 must be at least 1"},
	"bad-limits-rpm.yml":         {"limits.requests_per_minute_per_bot: 61 is outside 1..60 (Kore.ai allows 60/min and 1800/h per bot)"},
	"bad-multiple.yml": {
		"defaults.interval: 30s is shorter than the minimum of 1m",
		"bots[0].windows[1]: window 91d exceeds the API's 90-day maximum",
		"bots[0].page_size: 0 is outside 1..10000",
		"bots[1]: no credentials",
		`bots[1].filters.conversation_type: "interactive" is not one of`,
		`bots[1].name: duplicate bot name "support"`,
		"limits.requests_per_minute_per_bot: 0 is outside 1..60",
	},
	"bad-defaults-shared.yml": {"defaults.windows[1]: window 100d exceeds the API's 90-day maximum"},
	"bad-type-with-others.yml": {
		"bots[0].windows: expected a list, got a string (line 12)",
		"bots[1].client_secret: expected a string, got a list (line 18)",
		"bots[1].max_task_rows: expected an integer, got a string (line 20)",
		"bots[2]: expected a mapping, got a string (line 21)",
		"defaults.interval: 30s is shorter than the minimum of 1m",
		"bots[0].page_size: 0 is outside 1..10000",
		`bots[0].host: "http://kore.example.com" uses plain http`,
		`bots[1].name: duplicate bot name "support" (bots[0] has it too)`,
		`bots[1].filters.conversation_type: "interactive" is not one of Interactive, Non-Interactive`,
		"limits.requests_per_minute_per_bot: 0 is outside 1..60",
	},
}

func TestParseBadFiles(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "bad-*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := badFiles[filepath.Base(f)]; !ok {
			t.Errorf("%s has no entry in badFiles", f)
		}
	}
	for file, wants := range badFiles {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			c, err := parseTestFile(t, file)
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if c != nil {
				t.Error("a config was returned with the error")
			}
			for _, want := range wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not contain %q:\n%v", want, err)
				}
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %T is not a *FieldError", err)
			}
		})
	}
}

// problems splits a joined error into its parts.
func problems(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestParseReportsEveryProblemOnce(t *testing.T) {
	t.Parallel()
	var err error
	for _, f := range []string{"bad-multiple.yml", "bad-type-with-others.yml"} {
		_, err := parseTestFile(t, f)
		if got, want := len(problems(err)), len(badFiles[f]); got != want {
			t.Errorf("%s: got %d problems, want %d:\n%v", f, got, want, err)
		}
	}
	// A bad default inherited by two bots is one problem, at the default.
	for _, f := range []string{"bad-defaults-shared.yml", "bad-max-report-rows-inherited.yml"} {
		_, err = parseTestFile(t, f)
		if got := len(problems(err)); got != 1 {
			t.Errorf("%s: got %d problems, want 1:\n%v", f, got, err)
		}
	}
	// Each unknown key is reported, not only the first.
	_, err = ParseWith([]byte("bots:\n  - bot_id: a\n    client_id: b\n    client_secret: c\n    foo: 1\n    bar: 2\nlimits: {baz: 3}\n"), testOptions("testdata"))
	if got := len(problems(err)); got != 3 {
		t.Errorf("got %d problems, want 3:\n%v", got, err)
	}
	// A list element of the wrong kind keeps the indexes of the others.
	_, err = ParseWith([]byte("bots:\n  - {bot_id: a, client_id: b, client_secret: c, windows: [1h, {a: 1}, 91d]}\n"), testOptions("testdata"))
	if got := problems(err); len(got) != 2 || !strings.Contains(err.Error(), "bots[0].windows[1]: expected a string, got a mapping") ||
		!strings.Contains(err.Error(), "bots[0].windows[2]: window 91d exceeds") {
		t.Errorf("got %d problems, want windows[1] of the wrong kind and windows[2] too long:\n%v", len(got), err)
	}
	// One bad text, one problem: an unparsable interval is not also "too short".
	_, err = ParseWith([]byte("bots:\n  - {bot_id: a, client_id: b, client_secret: c, interval: soon, stale_after: 1m}\n"), testOptions("testdata"))
	if got := len(problems(err)); got != 1 {
		t.Errorf("got %d problems, want 1:\n%v", got, err)
	}
}

const canary = "CANARY-9f8e7d6c5b4a-s3cr3t"

func TestParseNeverLeaksSecrets(t *testing.T) {
	t.Parallel()
	opts := ParseOptions{
		BaseDir:   "testdata",
		LookupEnv: func(string) (string, bool) { return canary, true },
		ReadFile: func(path string) ([]byte, error) {
			if strings.Contains(path, "missing") {
				return nil, &os.PathError{Op: "open", Path: path, Err: os.ErrNotExist}
			}
			if strings.Contains(path, "unreadable") {
				return nil, &os.PathError{Op: "open", Path: path, Err: os.ErrPermission}
			}
			if strings.Contains(path, "fifo") {
				return nil, &os.PathError{Op: "open", Path: path, Err: &notRegularError{kind: "a FIFO"}}
			}
			if strings.Contains(path, "huge") {
				return []byte(strings.Repeat(canary+"\n", MaxSecretFileSize/len(canary))), nil
			}
			return []byte("-----BEGIN RSA PRIVATE KEY-----\n" + canary + "\n-----END RSA PRIVATE KEY-----\n"), nil
		},
	}
	inputs := map[string]string{}
	// Every bad file, with the canary as its secrets.
	files, _ := filepath.Glob(filepath.Join("testdata", "bad-*.yml"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(data), "client_secret: s\n", "client_secret: "+canary+"\n")
		inputs[filepath.Base(f)] = s
	}
	bot := "bots:\n  - bot_id: st-1\n    client_id: cs-1\n"
	for name, s := range map[string]string{
		"literal with other errors":  bot + "    client_secret: " + canary + "\n    page_size: 0\n    windows: [91d]\n    host: http://x\n",
		"literal plus file":          bot + "    client_secret: " + canary + "\n    client_secret_file: a.secret\n",
		"literal, unset variable":    bot + "    client_secret: " + canary + "${KORE_UNSET}\n",
		"literal, unterminated":      bot + "    client_secret: " + canary + "${\n",
		"literal, bad name":          bot + "    client_secret: ${" + canary + "}\n",
		"literal as a mapping":       bot + "    client_secret: {" + canary + ": x}\n",
		"literal as a list":          bot + "    client_secret: [" + canary + "]\n",
		"canary where a number goes": bot + "    client_secret: s\n    page_size: " + canary + "\n",
		"canary where a bool goes":   bot + "    client_secret: s\n    allow_insecure_http: " + canary + "\n",
		"canary where a list goes":   bot + "    client_secret: s\n    windows: " + canary + "\n",
		"env value, other errors":    bot + "    client_secret: ${KORE_X}\n    interval: 1s\n",
		"file content, other errors": bot + "    client_secret_file: a.secret\n    timeout: 0s\n",
		"key file not a key":         bot + "    private_key_file: k.pem\n",
		"key file unreadable":        bot + "    private_key_file: unreadable.pem\n",
		"key file a FIFO":            bot + "    private_key_file: fifo.pem\n",
		"secret file too large":      bot + "    client_secret_file: huge.secret\n",
		"key file too large":         bot + "    private_key_file: huge.pem\n",
		"host password":              bot + "    client_secret: s\n    host: https://u:" + canary + "@platform.kore.ai\n",
		"host password, bad URL":     bot + "    client_secret: s\n    host: \"https://u:" + canary + "@platform.kore.ai:x/%zz\"\n",
		"duplicate bots":             bot + "    client_secret: " + canary + "\n" + bot[len("bots:\n"):] + "    client_secret: " + canary + "\n",
		"syntax error after secret":  bot + "    client_secret: " + canary + "\n    windows: [1h\n",
		"second document":            bot + "    client_secret: " + canary + "\n---\n" + bot + "    client_secret: " + canary + "\n",
	} {
		inputs[name] = s
	}
	for name, in := range inputs {
		c, err := ParseWith([]byte(in), opts)
		if err == nil {
			if name != "key file not a key" && strings.Contains(fmt.Sprintf("%v %+v %#v", c, c, c), canary) {
				t.Errorf("%s: the canary shows when formatting the config", name)
			}
			continue
		}
		if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "9f8e7d6c") {
			t.Errorf("%s: the canary leaked into the error:\n%v", name, err)
		}
	}
}

func TestConfigSecretFormatting(t *testing.T) {
	t.Parallel()
	c, err := ParseWith([]byte("bots:\n  - {bot_id: a, client_id: b, client_secret: "+canary+"}\n"), testOptions("testdata"))
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(verb, c.Bots); strings.Contains(s, canary) {
			t.Errorf("%s shows the secret: %s", verb, s)
		}
	}
	if text, _ := c.Bots[0].ClientSecret.MarshalText(); string(text) != "<secret>" {
		t.Errorf("MarshalText = %q", text)
	}
	if c.Bots[0].ClientSecret.Reveal() != canary {
		t.Error("Reveal does not return the secret")
	}
}

func TestParseDefaultsInheritance(t *testing.T) {
	t.Parallel()
	in := `
defaults:
  host: https://bots.kore.ai
  interval: 10m
  windows: [1h]
  delay: 2m
  timeout: 3m
  page_size: 50
  max_task_rows: 300
  max_report_rows: 3000
  filters: {conversation_type: Interactive, conversation_status: Closed, include_task_names: [A]}
bots:
  - {name: inherits, bot_id: st-1, client_id: cs-1, client_secret: s}
  - name: overrides
    bot_id: st-2
    client_id: cs-2
    client_secret: s
    host: https://jp-platform.kore.ai
    interval: 2m
    windows: [7d, 24h]
    delay: 0s
    timeout: 1m
    page_size: 10
    max_task_rows: 20
    stale_after: 2m
    filters: {conversation_status: Active, include_task_names: [B, C]}
  - name: own-interval
    bot_id: st-3
    client_id: cs-3
    client_secret: s
    interval: 20m
`
	c, err := ParseWith([]byte(in), testOptions("testdata"))
	if err != nil {
		t.Fatal(err)
	}
	a, b, o := c.Bots[0], c.Bots[1], c.Bots[2]
	if a.Host != "https://bots.kore.ai" || a.Interval != 10*time.Minute || windowNames(a.Windows) != "1h" ||
		a.Delay != 2*time.Minute || a.Timeout != 3*time.Minute || a.PageSize != 50 || a.StaleAfter != 30*time.Minute {
		t.Errorf("inheriting bot = %+v", a)
	}
	if want := (Filters{ConversationType: "Interactive", ConversationStatus: "Closed", IncludeTaskNames: []string{"A"}}); !reflect.DeepEqual(a.Filters, want) {
		t.Errorf("inherited filters = %+v", a.Filters)
	}
	if b.Host != "https://jp-platform.kore.ai" || b.Interval != 2*time.Minute || windowNames(b.Windows) != "7d,24h" ||
		b.Delay != 0 || b.Timeout != time.Minute || b.PageSize != 10 || b.StaleAfter != 2*time.Minute {
		t.Errorf("overriding bot = %+v", b)
	}
	if a.MaxTaskRows != 300 || a.MaxReportRows != 3000 || b.MaxTaskRows != 20 || b.MaxReportRows != 3000 {
		t.Errorf("max_task_rows/max_report_rows: inheriting %d/%d, overriding %d/%d; want 300/3000 and 20/3000",
			a.MaxTaskRows, a.MaxReportRows, b.MaxTaskRows, b.MaxReportRows)
	}
	// Filter keys merge: the bot's keys replace the default's, the rest are inherited.
	if want := (Filters{ConversationType: "Interactive", ConversationStatus: "Active", IncludeTaskNames: []string{"B", "C"}}); !reflect.DeepEqual(b.Filters, want) {
		t.Errorf("merged filters = %+v, want %+v", b.Filters, want)
	}
	// The default stale_after is 3 × the bot's own interval.
	if o.StaleAfter != time.Hour {
		t.Errorf("stale_after = %v, want 3 × 20m", o.StaleAfter)
	}
	// Bots do not share slices with the defaults or each other.
	a.Windows[0].Name = "changed"
	a.Filters.IncludeTaskNames[0] = "changed"
	if c.Bots[2].Windows[0].Name != "1h" || c.Bots[2].Filters.IncludeTaskNames[0] != "A" {
		t.Error("bots share slices")
	}
}

func TestParseExampleConfig(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("..", "..", "config.example.yml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseWith(data, testOptions(filepath.Join("..", "..")))
	if err != nil {
		t.Fatalf("config.example.yml does not parse:\n%v", err)
	}
	if len(c.Bots) != 5 {
		t.Fatalf("got %d bots, want 5", len(c.Bots))
	}
	support, web, whatsapp, sales, hr := c.Bots[0], c.Bots[1], c.Bots[2], c.Bots[3], c.Bots[4]
	if web.BotID != support.BotID || whatsapp.BotID != support.BotID || web.Filters.Tags[0].Values[0] != "web" || whatsapp.Filters.Tags[0].Values[0] != "whatsapp" {
		t.Errorf("variants: web %+v, whatsapp %+v", web, whatsapp)
	}
	if want := (Sessions{Enabled: true, PeakPerHour: 400}); support.Sessions != want || web.Sessions.Enabled || sales.Sessions.PeakPerHour != DefaultSessionsPeakPerHour {
		t.Errorf("sessions: support %+v, web %+v, sales %+v", support.Sessions, web.Sessions, sales.Sessions)
	}
	if want := map[string]string{"env": "prod", "team": "messaging", "channel": "whatsapp"}; !reflect.DeepEqual(whatsapp.Labels, want) {
		t.Errorf("whatsapp labels = %v, want %v", whatsapp.Labels, want)
	}
	if support.Name != "support" || windowNames(support.Windows) != "1h,24h,7d" ||
		support.ClientSecret.Reveal() != "support-secret-from-file" || support.ClientSecretFile != filepath.Join("..", "..", "secrets", "support.secret") {
		t.Errorf("support = %+v", support)
	}
	if len(support.Filters.Tags) != 0 || support.Filters.ConversationStatus != "Closed" || len(support.Filters.IncludeTaskNames) != 3 {
		t.Errorf("support filters = %+v", support.Filters)
	}
	if sales.ClientSecret.Reveal() != "sales-secret-from-env" || sales.Interval != 10*time.Minute || sales.Delay != 15*time.Minute ||
		sales.StaleAfter != 15*time.Minute || sales.Filters.ConversationStatus != "" || sales.Filters.ConversationType != "Interactive" {
		t.Errorf("sales = %+v", sales)
	}
	if hr.Name != hr.BotID || hr.PrivateKey == "" || hr.PrivateKeyFile != filepath.Join("..", "..", "keys", "hr.pem") || hr.Host != "https://de-platform.kore.ai" {
		t.Errorf("hr = %+v", hr)
	}
	for _, b := range c.Bots {
		if b.MaxTaskRows != DefaultMaxTaskRows || b.MaxReportRows != kore.DefaultMaxReportRows {
			t.Errorf("%s: max_task_rows %d, max_report_rows %d; the example shows the built-in defaults", b.Name, b.MaxTaskRows, b.MaxReportRows)
		}
	}
	if c.Limits != (Limits{MaxConcurrentJobs: 4, AutoConcurrentJobs: true, RequestsPerMinutePerBot: 30}) {
		t.Errorf("limits = %+v", c.Limits)
	}
	// The example stays within Kore.ai's limits.
	if err := c.WritePlan(io.Discard, false); err != nil {
		t.Errorf("the example's plan: %v", err)
	}
	// Its one warning: the five windows of the support bot's three
	// variants, started at once, need more than a minute's budget, so the
	// limiter spreads their first runs.
	for _, p := range c.Plan() {
		startBurst := p.Name == "support" && len(p.Warnings) == 1 && strings.Contains(p.Warnings[0], "running at once")
		if (len(p.Warnings) > 0 && !startBurst) || len(p.Problems) > 0 {
			t.Errorf("plan warns for the example: %s: %v %v", p.Name, p.Warnings, p.Problems)
		}
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("secrets/a.secret", "secret-a\n")
	write("keys/b.pem", string(testKeys()["rsa-pkcs1.pem"]))
	write("kore.yml", `
bots:
  - {name: a, bot_id: st-a, client_id: cs-a, client_secret_file: secrets/a.secret}
  - {name: b, bot_id: st-b, client_id: cs-b, private_key_file: keys/b.pem}
`)
	c, err := Load(filepath.Join(dir, "kore.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Bots[0].ClientSecret.Reveal() != "secret-a" || c.Bots[0].ClientSecretFile != filepath.Join(dir, "secrets", "a.secret") {
		t.Errorf("secret file not resolved against the config's directory: %q", c.Bots[0].ClientSecretFile)
	}
	if c.Bots[1].PrivateKeyFile != filepath.Join(dir, "keys", "b.pem") || c.Bots[1].PrivateKey == "" {
		t.Errorf("key file not resolved against the config's directory: %q", c.Bots[1].PrivateKeyFile)
	}

	_, err = Load(filepath.Join(dir, "missing.yml"))
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
	write("bad.yml", "bots: []\n")
	_, err = Load(filepath.Join(dir, "bad.yml"))
	if err == nil || !strings.Contains(err.Error(), "bad.yml") || !strings.Contains(err.Error(), "bots: at least one bot is required") {
		t.Errorf("bad file: err = %v", err)
	}
}

// TestParseUsesProcessEnvironment checks Parse's defaults (no t.Parallel:
// it sets an environment variable).
func TestParseUsesProcessEnvironment(t *testing.T) {
	t.Setenv("KORE_EXPORTER_TEST_PARSE_SECRET", "from-env")
	c, err := Parse([]byte("bots:\n  - {bot_id: a, client_id: b, client_secret: '${KORE_EXPORTER_TEST_PARSE_SECRET}'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Bots[0].ClientSecret.Reveal() != "from-env" {
		t.Errorf("secret = %q", c.Bots[0].ClientSecret.Reveal())
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := Config{
		Bots: []Bot{{
			Name: "a", BotID: "st-a", ClientID: "cs-a", ClientSecret: "s", Host: kore.DefaultHost,
			Interval: time.Minute, Windows: []Window{{"1h", time.Hour}}, Timeout: time.Minute,
			StaleAfter: time.Minute, PageSize: 1, MaxTaskRows: MinTaskRows, MaxReportRows: 1,
		}},
		Limits: Limits{MaxConcurrentJobs: 1, RequestsPerMinutePerBot: 1},
	}
	if err := valid.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	err := (&Config{}).Validate()
	for _, want := range []string{"bots: at least one bot is required", "limits.max_concurrent_jobs", "limits.requests_per_minute_per_bot"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("zero config: error %v does not contain %q", err, want)
		}
	}
	bad := valid
	bad.Bots = []Bot{{Name: "a", PrivateKey: "junk", ClientSecret: "s", Host: "http://x", Windows: []Window{{"91d", 91 * 24 * time.Hour}}}}
	err = bad.Validate()
	for _, want := range []string{
		"bots[0].bot_id: is required", "bots[0].client_id: is required", "bots[0].client_secret: set exactly one",
		"bots[0].host:", "bots[0].interval:", "bots[0].windows[0]: window 91d exceeds", "bots[0].timeout:", "bots[0].page_size:",
		"bots[0].max_task_rows:", "bots[0].max_report_rows:",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad config: error does not contain %q:\n%v", want, err)
		}
	}
}

// TestDurationSyntax pins the syntax the README promises for durations, which
// model.ParseDuration and model.Duration.String implement.
func TestDurationSyntax(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"0s", 0, true},
		{"90s", 90 * time.Second, true},
		{"1h30m", 90 * time.Minute, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"2w", 14 * 24 * time.Hour, true},
		{"1y", 365 * 24 * time.Hour, true},
		{"500ms", 500 * time.Millisecond, true},
		{"", 0, false},
		{"5", 0, false},
		{"m", 0, false},
		{"-5m", 0, false},
		{"1m1h", 0, false},
		{"1h1h", 0, false},
		{"1.5h", 0, false},
		{"5 m", 0, false},
		{"300y", 0, false},
		{"99999999999999999999s", 0, false},
	}
	for _, tt := range tests {
		got, err := model.ParseDuration(tt.in)
		if (err == nil) != tt.ok || time.Duration(got) != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok && tt.in != "0" {
			if back, _ := model.ParseDuration(got.String()); back != got {
				t.Errorf("%v formats as %q, which does not parse back", tt.in, got)
			}
		}
	}
	if got := model.Duration(90 * 24 * time.Hour).String(); got != "90d" {
		t.Errorf("90d formats as %q", got)
	}
}

func TestPlan(t *testing.T) {
	t.Parallel()
	c, err := ParseWith([]byte(`
bots:
  - {name: calm, bot_id: st-1, client_id: cs-1, client_secret: s, windows: [1h, 24h, 7d], max_task_rows: 100}
  - {name: busy, bot_id: st-2, client_id: cs-2, client_secret: s, interval: 1m, page_size: 50, windows: [1h, 24h, 7d]}
  - {name: slow, bot_id: st-3, client_id: cs-3, client_secret: s, interval: 30m, page_size: 10, timeout: 5m}
limits: {max_concurrent_jobs: 2}
`), testOptions("testdata"))
	if err != nil {
		t.Fatal(err)
	}
	plans := c.Plan()
	calm, busy, slow := plans[0], plans[1], plans[2]
	// 200 rows / 100 per page = 2 pages × (1 POST + 7 polls) = 16 per run;
	// 12 runs/hour × 3 windows × 16 = 576/hour; 3 windows × 8 = 24/minute peak.
	if calm.PagesPerRun != 2 || calm.RequestsPerRun != 16 || calm.EstimatedRequestsPerHour != 576 || calm.PeakRequestsPerMinute != 24 || len(calm.Warnings) != 0 {
		t.Errorf("calm = %+v", calm)
	}
	// 4 pages × 8 = 32 per run; 60 × 3 × 32 = 5760/hour: over 1,800/h; a
	// run of 4 minutes is longer than the 1m interval.
	if busy.RequestsPerRun != 32 || busy.EstimatedRequestsPerHour != 5760 {
		t.Errorf("busy = %+v", busy)
	}
	// The limiter holds 1,800/hour: 5760/1800 × 1m ≈ 3m between runs, but
	// a run lasts about 4m, so each window runs about every 4m.
	if ps := strings.Join(busy.Problems, "\n"); !strings.Contains(ps, "about 5760 requests/hour exceed the budget of 1800/hour (Kore.ai's cap, which the limiter holds): "+
		"the limiter delays the calls, so each window's run starts only about every 4m instead of every 1m (for jobs of about a minute; jobs of a few seconds would need about 1440/hour, within it)") ||
		len(busy.Problems) != 1 {
		t.Errorf("busy problems:\n%s", ps)
	}
	// The problem says how late, once: no warning that the run is
	// longer than the interval besides it.
	if len(busy.Warnings) != 0 {
		t.Errorf("busy warnings besides its problem: %v", busy.Warnings)
	}
	// Without a budget problem, a run longer than the interval warns.
	// (1 window every 2m: 30 × 32 = 960/hour, within the budget.)
	c.Bots[1].Windows, c.Bots[1].Interval = c.Bots[1].Windows[:1], 2*time.Minute
	if p := c.Plan()[1]; len(p.Problems) != 0 || !strings.Contains(strings.Join(p.Warnings, "\n"), "takes about 4m, longer than interval 2m: each window would run only about every 4m") {
		t.Errorf("one-window busy: problems %v, warnings %v", p.Problems, p.Warnings)
	}
	c.Bots[1].Windows, c.Bots[1].Interval = busy.Windows, busy.Interval
	if busy.EffectiveInterval != 4*time.Minute || calm.EffectiveInterval != 0 {
		t.Errorf("effective interval: busy %v, calm %v; want 4m and 0", busy.EffectiveInterval, calm.EffectiveInterval)
	}
	// 20 pages of about a minute each do not fit the 5m timeout.
	if ws := strings.Join(slow.Warnings, "\n"); !strings.Contains(ws, "longer than timeout 5m: runs that slow fail") || len(slow.Problems) != 0 {
		t.Errorf("slow warnings:\n%s\nproblems: %v", ws, slow.Problems)
	}
	if len(calm.Problems) != 0 {
		t.Errorf("calm problems: %v", calm.Problems)
	}
	// Worst-case series: windows × max_task_rows × 5 data metrics.
	if calm.MaxSeries != 3*100*5 || busy.MaxSeries != 3*DefaultMaxTaskRows*5 || slow.MaxSeries != 1*DefaultMaxTaskRows*5 {
		t.Errorf("max series: calm %d, busy %d, slow %d; want 1500, 15000, 5000", calm.MaxSeries, busy.MaxSeries, slow.MaxSeries)
	}
	if s := calm.String(); !strings.Contains(s, "calm: windows 1h,24h,7d every 5m") || !strings.Contains(s, "~576 requests/hour") ||
		!strings.Contains(s, "at most 1500 series") {
		t.Errorf("String() = %q", s)
	}

	var buf bytes.Buffer
	if err := c.WritePlan(&buf, true); !errors.Is(err, ErrPlanCannotBeMet) || !strings.Contains(err.Error(), "1 problem(s)") {
		t.Errorf("WritePlan: err = %v, want ErrPlanCannotBeMet with 1 problem", err)
	}
	out := buf.String()
	for _, want := range []string{
		"BOT", "REQ/HOUR", "calm", "1h,24h,7d", "576",
		"error: bot busy: about 5760 requests/hour exceed the budget of 1800/hour",
		"warning: bot slow: a run of about 20 pages takes about 20m, longer than timeout 5m",
		// calm 3 × 2m/5m + busy 3 × 1 (delayed: back to back) + slow 5m/30m (cut at its timeout)
		"slots: about 4.4 of the 7 jobs in flight on average; limits.max_concurrent_jobs 2 (too few)",
		"warning: jobs need about 4.4 slots on average, more than limits.max_concurrent_jobs 2",
		"bots: 3 (3 bot ids); jobs: 7 (bot × window)", "bots with problems: 1; with warnings only: 1",
		"st-2 (busy): about 5760/hour of 1800/hour (320%)", "4-16", "144-576",
		"MAX SERIES", "series: at most 21500 task series in all (per bot: windows × max_task_rows × 5 metrics)",
		"model: ~200 rows per report",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("WritePlan output lacks %q:\n%s", want, out)
		}
	}

	// Without verbose, only the bots with something to say are listed.
	buf.Reset()
	_ = c.WritePlan(&buf, false)
	if out := buf.String(); strings.Contains(out, "\ncalm ") || !strings.Contains(out, "\nbusy ") || !strings.Contains(out, "\nslow ") {
		t.Errorf("WritePlan without verbose lists calm, or not busy and slow:\n%s", out)
	}

	// A lower budget binds before Kore.ai's cap does: 576/300 × 5m ≈ 10m.
	c.Limits.RequestsPerMinutePerBot = 5
	p := c.Plan()[0]
	if ps := strings.Join(p.Problems, "\n"); !strings.Contains(ps, "about 576 requests/hour exceed the budget of 300/hour (limits.requests_per_minute_per_bot 5)") ||
		!strings.Contains(ps, "starts only about every 10m instead of every 5m") {
		t.Errorf("low budget problems:\n%s", ps)
	}
	if ws := strings.Join(p.Warnings, "\n"); !strings.Contains(ws, "need about 24 requests/minute") {
		t.Errorf("low budget warnings:\n%s", ws)
	}
}

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.yml"))
	seeds = append(seeds, filepath.Join("..", "..", "config.example.yml"))
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("bots:\n  - {bot_id: a, client_id: b, client_secret: c, windows: [0s, 1h]}\n"))
	f.Add([]byte("bots: &a [*a]\n"))
	key := testKeys()["rsa-pkcs8.pem"]
	opts := ParseOptions{
		BaseDir:   "testdata",
		LookupEnv: func(name string) (string, bool) { return "v-" + name, !strings.HasPrefix(name, "UNSET") },
		ReadFile: func(path string) ([]byte, error) {
			switch {
			case strings.HasSuffix(path, ".pem"):
				return key, nil
			case strings.Contains(path, "missing"):
				return nil, os.ErrNotExist
			}
			return []byte("file-secret"), nil
		},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseWith(data, opts)
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			if !errors.As(err, new(*FieldError)) {
				t.Fatalf("error %T is not a *FieldError: %v", err, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed config fails Validate:\n%v", err)
		}
		if len(c.Bots) == 0 {
			t.Fatal("no bots")
		}
		names := map[string]bool{}
		for _, b := range c.Bots {
			if names[b.Name] {
				t.Fatalf("duplicate name %q", b.Name)
			}
			names[b.Name] = true
			if b.Interval < MinInterval || b.StaleAfter < b.Interval || b.PageSize < 1 || b.PageSize > MaxPageSize || len(b.Windows) == 0 ||
				b.MaxTaskRows < 1 || b.MaxTaskRows > MaxRows || b.MaxReportRows < b.PageSize || b.MaxReportRows > MaxRows {
				t.Fatalf("bot breaks an invariant: %+v", b)
			}
			if (b.ClientSecret == "") == (b.PrivateKey == "") {
				t.Fatalf("bot %q needs exactly one credential", b.Name)
			}
			for _, w := range b.Windows {
				if w.Duration <= 0 || w.Duration > kore.MaxRange || w.Name == "" {
					t.Fatalf("bad window %+v", w)
				}
			}
			if !slices.Contains([]string{"", "Interactive", "Non-Interactive"}, b.Filters.ConversationType) {
				t.Fatalf("bad conversation_type %q", b.Filters.ConversationType)
			}
		}
		_ = c.Plan()
		if err := c.WritePlan(io.Discard, false); err != nil && !errors.Is(err, ErrPlanCannotBeMet) {
			t.Fatal(err)
		}
	})
}

func TestShard(t *testing.T) {
	cfg := &Config{Limits: Limits{MaxConcurrentJobs: 3}}
	for i := range 50 {
		cfg.Bots = append(cfg.Bots, Bot{Name: fmt.Sprintf("b%d", i), BotID: fmt.Sprintf("st-%08d-aaaa", i)})
	}
	for _, count := range []int{1, 2, 3, 7} {
		seen := map[string]int{}
		for index := range count {
			part, err := cfg.Shard(index, count)
			if err != nil {
				t.Fatal(err)
			}
			if part.Limits != cfg.Limits {
				t.Errorf("shard %d/%d lost the limits", index, count)
			}
			if count > 1 && (len(part.Bots) == 0 || len(part.Bots) == len(cfg.Bots)) {
				t.Errorf("shard %d/%d has %d of %d bots: not a split", index, count, len(part.Bots), len(cfg.Bots))
			}
			for _, b := range part.Bots {
				seen[b.BotID]++
				if again := ShardOf(b.BotID, count); again != index {
					t.Errorf("ShardOf(%s, %d) = %d, but shard %d has it", b.BotID, count, again, index)
				}
			}
		}
		for _, b := range cfg.Bots {
			if seen[b.BotID] != 1 {
				t.Errorf("count %d: bot %s is in %d shards, want exactly 1", count, b.BotID, seen[b.BotID])
			}
		}
	}
	// Stable: the same id always lands on the same shard, whatever the
	// other bots are.
	if a, b := ShardOf("st-00000007-aaaa", 3), ShardOf("st-00000007-aaaa", 3); a != b {
		t.Errorf("ShardOf is not stable: %d then %d", a, b)
	}
	for _, tt := range []struct{ index, count int }{{0, 0}, {-1, 2}, {2, 2}} {
		if _, err := cfg.Shard(tt.index, tt.count); err == nil {
			t.Errorf("Shard(%d, %d) accepted", tt.index, tt.count)
		}
	}
}

func TestProblems(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "kore.yml")
	if err := os.WriteFile(path, []byte("bots:\n  - {bot_id: a, client_id: b, client_secret: c, page_size: 0, windows: [91d]}\nlimits: {max_concurrent_jobs: 0}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	var le *LoadError
	if !errors.As(err, &le) || le.Path != path {
		t.Fatalf("Load: err = %v, want a *LoadError for %s", err, path)
	}
	ps := Problems(err)
	if len(ps) != 3 {
		t.Fatalf("Problems = %q, want 3", ps)
	}
	for _, p := range ps {
		if !errors.As(p, new(*FieldError)) || strings.Contains(p.Error(), "\n") {
			t.Errorf("problem %q is not one *FieldError on one line", p)
		}
	}
	if got := Problems(errors.New("x")); len(got) != 1 {
		t.Errorf("Problems(plain) = %v", got)
	}
	if got := Problems(nil); got != nil {
		t.Errorf("Problems(nil) = %v", got)
	}
}

// TestPlanVariantsShareABudget: the variants of one bot id add their
// requests up against that bot's one budget.
func TestPlanVariantsShareABudget(t *testing.T) {
	t.Parallel()
	variant := func(name, tag, interval string) string {
		return `  - name: ` + name + `
    bot_id: st-00000000-0000-5000-8000-000000000001
    client_id: cs-00000000-0000-5000-8000-000000000001
    client_secret: s
    interval: ` + interval + `
    windows: [1h, 24h]
    filters: {tags: [{name: channel, values: [` + tag + `], type: session}]}
`
	}
	other := `  - name: other
    bot_id: st-00000000-0000-5000-8000-000000000002
    client_id: cs-00000000-0000-5000-8000-000000000002
    client_secret: s
    interval: 2m
    windows: [1h, 24h]
`
	tests := []struct {
		name     string
		interval string
		perBot   int // each variant: 60m/interval × 2 windows × 16 requests
		problems bool
	}{
		{"within the budget", "5m", 384, false},       // 3 × 384 = 1,152 ≤ 1,800
		{"over the budget together", "2m", 960, true}, // 3 × 960 = 2,880 > 1,800, though each fits
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte("bots:\n" + variant("web", "web", tt.interval) + variant("whatsapp", "whatsapp", tt.interval) +
				variant("voice", "voice", tt.interval) + other))
			if err != nil {
				t.Fatal(err)
			}
			plans := c.Plan()
			for _, p := range plans[:3] {
				if p.EstimatedRequestsPerHour != tt.perBot || p.BotIDRequestsPerHour != 3*tt.perBot ||
					strings.Join(p.Variants, ",") != "web,whatsapp,voice" || (len(p.Problems) > 0) != tt.problems {
					t.Errorf("%s: %d/h, bot id %d/h, variants %v, problems %v", p.Name, p.EstimatedRequestsPerHour, p.BotIDRequestsPerHour, p.Variants, p.Problems)
				}
			}
			// The other bot runs alone: 960/h fits its own budget.
			if o := plans[3]; o.BotIDRequestsPerHour != 960 || o.Variants != nil || len(o.Problems) != 0 {
				t.Errorf("other bot: %+v", o)
			}
			var out strings.Builder
			err = c.WritePlan(&out, false)
			want := fmt.Sprintf("budget: bot_id st-00000000-0000-5000-8000-000000000001: variants web, whatsapp, voice share one budget: ~%d requests/hour together of 1800/hour", 3*tt.perBot)
			if !strings.Contains(out.String(), want) || errors.Is(err, ErrPlanCannotBeMet) != tt.problems {
				t.Errorf("WritePlan: err %v, output:\n%s\nwant a line %q", err, out.String(), want)
			}
			if tt.problems && !strings.Contains(out.String(), "for the 3 variants of bot_id st-00000000-0000-5000-8000-000000000001 (web, whatsapp, voice) together exceed the budget of 1800/hour") {
				t.Errorf("the problem does not name the variants:\n%s", out.String())
			}
		})
	}
}

// TestShardKeepsVariantsTogether: every variant of a bot id lands in the
// same shard, whatever the shard count.
func TestShardKeepsVariantsTogether(t *testing.T) {
	t.Parallel()
	c, err := parseTestFile(t, "good-variants.yml")
	if err != nil {
		t.Fatal(err)
	}
	for count := 1; count <= 7; count++ {
		found := 0
		for index := range count {
			s, err := c.Shard(index, count)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(s.Bots); n != 0 && n != len(c.Bots) {
				t.Errorf("%d shards: shard %d runs %d of the %d variants", count, index, n, len(c.Bots))
			}
			found += len(s.Bots)
		}
		if found != len(c.Bots) {
			t.Errorf("%d shards run %d bots, want %d", count, found, len(c.Bots))
		}
	}
}

// fleetConfig is n bots with windows 1h and 24h every minute, each its
// own bot id, and limits.max_concurrent_jobs 100: the fleet of issue 13.
func fleetConfig(t *testing.T, n int) *Config {
	t.Helper()
	var b strings.Builder
	b.WriteString("limits: {max_concurrent_jobs: 100}\nbots:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {name: bot-%04d, bot_id: st-%08d-0000-5000-8000-000000000000, client_id: cs-%04d, client_secret: s, interval: 1m, windows: [1h, 24h]}\n", i, i, i)
	}
	c, err := Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAutoConcurrentJobs: without limits.max_concurrent_jobs, the job
// slots follow the plan: what the jobs hold on average, at least 4, at
// most one per job; a value in the file wins.
func TestAutoConcurrentJobs(t *testing.T) {
	t.Parallel()
	fleet := func(bots int, interval, limits string) string {
		var b strings.Builder
		b.WriteString(limits + "bots:\n")
		for i := range bots {
			fmt.Fprintf(&b, "  - {name: bot-%04d, bot_id: st-%08d-0000-5000-8000-000000000000, client_id: cs-%04d, client_secret: s, interval: %s, windows: [1h, 24h]}\n", i, i, i, interval)
		}
		return b.String()
	}
	for _, tt := range []struct {
		name   string
		yaml   string
		want   int
		isAuto bool
	}{
		// 2 pages of about a minute each per run (200 rows, page_size
		// 100): a run holds a slot 2 of every 5 minutes, 0.4 per window.
		{"3 bots, 5m: at least 4", fleet(3, "5m", ""), 4, true},
		{"100 bots × 2 windows, 5m: 200 × 0.4", fleet(100, "5m", ""), 80, true},
		{"1000 bots × 2 windows, 1m: one per job", fleet(1000, "1m", ""), 2000, true},
		{"set in the file", fleet(100, "5m", "limits: {max_concurrent_jobs: 7}\n"), 7, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if c.Limits.MaxConcurrentJobs != tt.want || c.Limits.AutoConcurrentJobs != tt.isAuto {
				t.Errorf("max_concurrent_jobs = %d (auto %v), want %d (auto %v)", c.Limits.MaxConcurrentJobs, c.Limits.AutoConcurrentJobs, tt.want, tt.isAuto)
			}
		})
	}
}

// TestPlanFleet: at a thousand bots the plan is a summary and a short
// listing, its numbers add up, and its messages agree with each other.
func TestPlanFleet(t *testing.T) {
	t.Parallel()
	c := fleetConfig(t, 1000)
	s := c.Summarize(c.Plan())
	// 2 pages × 2..8 requests × 2 windows × 60 runs/hour per bot.
	if s.Bots != 1000 || s.BotIDs != 1000 || s.Jobs != 2000 || s.RequestsPerHour != 1000*1920 || s.FastRequestsPerHour != 1000*480 ||
		s.WithProblems != 1000 || s.WithWarnings != 0 || len(s.Worst) != 5 {
		t.Errorf("summary = %+v", s)
	}
	// Every job runs back to back (the limiter delays it), so it holds a
	// slot all the time: 2000, and never more than the jobs.
	if s.Slots > float64(s.Jobs) || s.Slots != 2000 {
		t.Errorf("slots %.1f, want 2000 (at most the %d jobs)", s.Slots, s.Jobs)
	}
	// Every window at once: 16/minute per bot, but 100 slots run 100 pages.
	if s.PeakRequestsPerMinute != 100*8 {
		t.Errorf("peak %d/minute, want 800", s.PeakRequestsPerMinute)
	}

	var buf bytes.Buffer
	err := c.WritePlan(&buf, false)
	if !errors.Is(err, ErrPlanCannotBeMet) {
		t.Errorf("WritePlan: %v, want ErrPlanCannotBeMet", err)
	}
	out := buf.String()
	if n := strings.Count(out, "\n"); n > 40 {
		t.Errorf("WritePlan wrote %d lines without verbose, want at most 40:\n%s", n, out)
	}
	if !strings.HasPrefix(out, "summary:\n") {
		t.Errorf("the output does not start with the summary:\n%s", out)
	}
	for _, want := range []string{
		"bots: 1000 (1000 bot ids); jobs: 2000 (bot × window)",
		"requests: about 1920000/hour for jobs of about a minute (about 480000/hour if jobs take a few seconds); most: bot_id st-00000000-0000-5000-8000-000000000000, about 1920/hour of its 1800/hour",
		"slots: about 2000.0 of the 2000 jobs in flight on average; limits.max_concurrent_jobs 100 (too few)",
		"series: at most 10000000 task series",
		"bots with problems: 1000; with warnings only: 0",
		"st-00000004-0000-5000-8000-000000000000 (bot-0004): about 1920/hour of 1800/hour (107%)",
		"kore_exporter_report_requests measures each job's requests per run live",
		"error: bot bot-0009: about 1920 requests/hour exceed the budget of 1800/hour",
		"... and 990 more bots with problems or warnings: --config.check.verbose lists every bot",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "bot-0010") {
		t.Errorf("output lists more than 10 bots:\n%s", out)
	}
	// One cause, one message: runs delayed by the limiter are not also
	// said to be skipped, nor to need more slots than there are jobs.
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "exceed") && strings.Contains(line, "skipped") {
			t.Errorf("a line says both exceed and skipped: %s", line)
		}
	}
	if strings.Contains(out, "skipped") || strings.Contains(out, "longer than interval") {
		t.Errorf("the output says runs are skipped besides delayed:\n%s", out)
	}

	buf.Reset()
	_ = c.WritePlan(&buf, true)
	out = buf.String()
	for i := range 1000 {
		if name := fmt.Sprintf("\nbot-%04d ", i); !strings.Contains(out, name) {
			t.Fatalf("verbose output lacks the row of bot-%04d", i)
		}
	}
	if n := strings.Count(out, "error: bot "); n != 1000 {
		t.Errorf("verbose output has %d error lines, want 1000", n)
	}
	if strings.Contains(out, "more bots with problems") {
		t.Error("verbose output says bots are left out")
	}
}
