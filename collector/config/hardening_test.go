package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// labelBot is a bot with a literal secret, for the label rules.
const labelBot = "bots:\n  - bot_id: st-1\n    client_id: cs-1\n    client_secret: s\n"

// TestStaticLabelRules: names Prometheus gives meaning to are refused, the
// labels of a bot and each value are bounded, a null value is an error,
// and "" drops an inherited label.
func TestStaticLabelRules(t *testing.T) {
	t.Parallel()
	many := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "l%02d: v, ", i)
		}
		return "{" + strings.TrimSuffix(b.String(), ", ") + "}"
	}
	for name, tc := range map[string]struct{ doc, want string }{
		"le":       {labelBot + "    labels: {le: x}\n", `bots[0].labels.le: "le" has a meaning in Prometheus`},
		"quantile": {labelBot + "    labels: {quantile: x}\n", `bots[0].labels.quantile: "quantile" has a meaning in Prometheus`},
		"__":       {labelBot + "    labels: {__name__: x}\n", "bots[0].labels.__name__: label names starting with __ are reserved"},
		"job":      {labelBot + "    labels: {job: x}\n", `bots[0].labels.job: "job" clashes`},
		"instance": {"defaults:\n  labels: {instance: x}\n" + labelBot, `defaults.labels.instance: "instance" clashes`},
		"too many, merged": {"defaults:\n  labels: " + many(20) + "\n" + labelBot + "    labels: " + strings.ReplaceAll(many(13), "l", "m") + "\n",
			fmt.Sprintf("bots[0].labels: 33 static labels, more than the limit of %d", MaxStaticLabels)},
		"value too long": {labelBot + "    labels: {team: " + strings.Repeat("x", MaxLabelValueLength+1) + "}\n",
			fmt.Sprintf("bots[0].labels.team: value is %d bytes, more than the limit of %d", MaxLabelValueLength+1, MaxLabelValueLength)},
		"null":       {"defaults:\n  labels: {team: a}\n" + labelBot + "    labels: {team: null}\n", `bots[0].labels.team: null is not a label value; write "" to drop a label inherited from defaults`},
		"null, bare": {labelBot + "    labels:\n      team:\n", `bots[0].labels.team: null is not a label value`},
		"null, ~":    {"defaults:\n  labels: {team: ~}\n" + labelBot, `defaults.labels.team: null is not a label value`},
	} {
		_, err := ParseWith([]byte(tc.doc), testOptions("testdata"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error does not contain %q:\n%v", name, tc.want, err)
		}
	}
	// At the bounds: valid.
	c, err := ParseWith([]byte("defaults:\n  labels: "+many(20)+"\n"+labelBot+"    labels: "+strings.ReplaceAll(many(12), "l", "m")+
		"\n  - bot_id: st-2\n    client_id: cs-2\n    client_secret: s\n    labels: {team: "+strings.Repeat("x", MaxLabelValueLength)+"}\n"), testOptions("testdata"))
	if err != nil {
		t.Fatalf("labels at the bounds: %v", err)
	}
	if len(c.Bots[0].Labels) != MaxStaticLabels {
		t.Errorf("got %d labels, want %d", len(c.Bots[0].Labels), MaxStaticLabels)
	}
	// "" drops an inherited label, and does not count.
	c, err = ParseWith([]byte("defaults:\n  labels: {team: a, env: prod}\n"+labelBot+"    labels: {team: \"\"}\n"), testOptions("testdata"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Bots[0].Labels["team"]; ok || c.Bots[0].Labels["env"] != "prod" || len(c.Bots[0].Labels) != 1 {
		t.Errorf(`labels = %v, want team dropped by "" and env inherited`, c.Bots[0].Labels)
	}
}

// secretFields are the fields that take a string, as written in a bot, with
// the canary in place of their value; %s is the text.
var secretFields = map[string]string{
	"name":                        "    name: %s\n",
	"bot_id":                      "    bot_id: %s\n",
	"client_id":                   "    client_id: %s\n",
	"host":                        "    host: %s\n",
	"defaults host":               "DEFAULTS  host: %s\n",
	"interval":                    "    interval: %s\n",
	"delay":                       "    delay: %s\n",
	"timeout":                     "    timeout: %s\n",
	"stale_after":                 "    stale_after: %s\n",
	"windows":                     "    windows: [%s]\n",
	"conversation_type":           "    filters: {conversation_type: %s}\n",
	"conversation_status":         "    filters: {conversation_status: %s}\n",
	"defaults conversation_type":  "DEFAULTS  filters: {conversation_type: %s}\n",
	"include_task_names":          "    filters: {include_task_names: [%s]}\n",
	"tag name":                    "    filters: {tags: [{name: %s, values: [a]}]}\n",
	"tag value":                   "    filters: {tags: [{name: a, values: [%s]}]}\n",
	"tag type":                    "    filters: {tags: [{name: a, values: [a], type: %s}]}\n",
	"label value":                 "    labels: {team: %s}\n",
	"defaults label value":        "DEFAULTS  labels: {team: %s}\n",
	"label name":                  "    labels: {%s: x}\n",
	"unknown key":                 "    %s: x\n",
	"client_secret_file (second)": "    client_secret_file: %s\n",
}

// TestConfigErrorsMaskSecretsInEveryField: a configured secret (typed, from
// a variable, from a file) typed again into any other field never shows in
// the error, whether that field is wrong or another one is; a bot name or
// label value that is a secret is refused.
func TestConfigErrorsMaskSecretsInEveryField(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.secret"), []byte(canary+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sources := map[string]string{
		"literal":  "    client_secret: " + canary + "\n",
		"variable": "    client_secret: ${KORE_CANARY}\n",
		"file":     "    client_secret_file: a.secret\n",
	}
	for src, secretLine := range sources {
		for field, line := range secretFields {
			if src != "literal" && field == "client_secret_file (second)" {
				continue
			}
			for _, value := range []string{canary, `"` + canary + ` /?"`, `" x ` + canary + `"`} {
				for _, other := range []string{"", "    page_size: 0\n"} {
					var defaults, bot string
					l := fmt.Sprintf(line, value)
					if d, ok := strings.CutPrefix(l, "DEFAULTS"); ok {
						defaults = "defaults:\n" + d
					} else {
						bot = l
					}
					doc := defaults + "bots:\n  -\n    bot_id: st-1\n    client_id: cs-1\n" + secretLine + bot + other
					doc = strings.Replace(doc, "    bot_id: st-1\n", "", strings.Count(doc, "bot_id:")-1)
					doc = strings.Replace(doc, "    client_id: cs-1\n", "", strings.Count(doc, "client_id:")-1)
					path := filepath.Join(dir, "config.yml")
					if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
						t.Fatal(err)
					}
					_, err := LoadWith(path, ParseOptions{LookupEnv: func(n string) (string, bool) {
						if n == "KORE_CANARY" {
							return canary, true
						}
						return "", false
					}})
					name := fmt.Sprintf("%s secret, %s = %s, other %q", src, field, value, other)
					switch {
					case err == nil && (other != "" || field == "name" || field == "label value" || field == "defaults label value"):
						t.Errorf("%s: no error:\n%s", name, doc)
					case err != nil && (strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "9f8e7d6c")):
						t.Errorf("%s: the secret shows in the error:\n%v", name, err)
					}
				}
			}
		}
	}
}

// TestBotNameOrLabelThatIsASecret: a name or label value equal to a
// configured secret (its own bot's or another's) is refused without the
// value; values that are no secret are fine.
func TestBotNameOrLabelThatIsASecret(t *testing.T) {
	t.Parallel()
	two := "bots:\n  - {bot_id: st-1, client_id: cs-1, client_secret: " + canary + "}\n  - {bot_id: st-2, client_id: cs-2, client_secret: other-secret-value, %s}\n"
	for field, want := range map[string]string{
		"name: " + canary:                "bots[1].name: holds a configured secret",
		"labels: {team: " + canary + "}": "bots[1].labels.team: holds a configured secret",
	} {
		_, err := ParseWith([]byte(fmt.Sprintf(two, field)), testOptions("testdata"))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), canary) {
			t.Errorf("%s: error does not contain %q (or shows the secret):\n%v", field, want, err)
		}
	}
	c, err := ParseWith([]byte(fmt.Sprintf(two, "name: support, labels: {team: support, env: prod}")), testOptions("testdata"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Bots[1].Name != "support" || c.Bots[1].Labels["team"] != "support" {
		t.Errorf("bot %+v", c.Bots[1])
	}
}
