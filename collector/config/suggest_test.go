package config

import (
	"strings"
	"testing"
)

// TestUnknownKeySuggestsNearest checks the "did you mean" hint of an
// unknown key at every level of the file, and its absence when no known
// key is close.
func TestUnknownKeySuggestsNearest(t *testing.T) {
	t.Parallel()
	const bot = "  - bot_id: st-00000000-0000-5000-8000-000000000001\n" +
		"    client_id: cs-00000000-0000-5000-8000-000000000001\n"
	tests := []struct {
		name, doc string
		want      string // the whole problem: path, message, hint
	}{
		{"defaults window", "defaults:\n  window: [24h]\nbots:\n" + bot + "    client_secret: s\n",
			`defaults: unknown field "window" (line 2); did you mean "windows"?`},
		{"defaults intervall", "defaults:\n  intervall: 5m\nbots:\n" + bot + "    client_secret: s\n",
			`defaults: unknown field "intervall" (line 2); did you mean "interval"?`},
		{"bot botid", "bots:\n  - botid: st-1\n    client_id: cs-1\n    client_secret: s\n",
			`bots[0]: unknown field "botid" (line 2); did you mean "bot_id"?`},
		{"bot BotID", "bots:\n  - BotID: st-1\n    client_id: cs-1\n    client_secret: s\n",
			`bots[0]: unknown field "BotID" (line 2); did you mean "bot_id"?`},
		{"bot client-id", "bots:\n  - bot_id: st-1\n    client-id: cs-1\n    client_secret: s\n",
			`bots[0]: unknown field "client-id" (line 3); did you mean "client_id"?`},
		{"bot client_secert", "bots:\n" + bot + "    client_secert: s\n",
			`bots[0]: unknown field "client_secert" (line 4); did you mean "client_secret"?`},
		{"bot intervall", "bots:\n" + bot + "    client_secret: s\n    intervall: 5m\n",
			`bots[0]: unknown field "intervall" (line 5); did you mean "interval"?`},
		{"filters", "bots:\n" + bot + "    client_secret: s\n    filters:\n      include_task_name: [a]\n",
			`bots[0].filters: unknown field "include_task_name" (line 6); did you mean "include_task_names"?`},
		{"tags", "bots:\n" + bot + "    client_secret: s\n    filters:\n      tags:\n        - {name: region, value: [eu], type: user}\n",
			`bots[0].filters.tags[0]: unknown field "value" (line 7); did you mean "values"?`},
		{"limits", "limits:\n  max_concurrent_job: 2\nbots:\n" + bot + "    client_secret: s\n",
			`limits: unknown field "max_concurrent_job" (line 2); did you mean "max_concurrent_jobs"?`},
		{"top level", "bot:\n" + bot + "    client_secret: s\n",
			`(top level): unknown field "bot" (line 1); did you mean "bots"?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseWith([]byte(tt.doc), testOptions("testdata"))
			if err == nil {
				t.Fatal("parsed; want an unknown-field error")
			}
			var found bool
			for _, p := range Problems(err) {
				if strings.HasPrefix(p.Error(), tt.want) {
					found = true
					// The known fields are still listed after the hint.
					if !strings.Contains(p.Error(), tt.want+" known fields: ") {
						t.Errorf("problem %q: want the known fields after the hint", p)
					}
				}
			}
			if !found {
				t.Errorf("no problem starts with %q; got:\n%v", tt.want, err)
			}
		})
	}

	// Nothing close: no hint, the message as before.
	for name, doc := range map[string]string{
		"bot":       "bots:\n" + bot + "    client_secret: s\n    team: cx\n",
		"defaults":  "defaults:\n  bot_id: st-1\nbots:\n" + bot + "    client_secret: s\n",
		"short key": "bots:\n" + bot + "    client_secret: s\n    x: 1\n",
		"filters":   "bots:\n" + bot + "    client_secret: s\n    filters:\n      conversation: Interactive\n",
	} {
		_, err := ParseWith([]byte(doc), testOptions("testdata"))
		if err == nil || !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("%s: err = %v, want an unknown-field error", name, err)
			continue
		}
		if strings.Contains(err.Error(), "did you mean") {
			t.Errorf("%s: a hint although no known key is close:\n%v", name, err)
		}
	}
}

func TestNearest(t *testing.T) {
	t.Parallel()
	names := []string{"bot_id", "client_id", "client_secret", "client_secret_file", "interval", "windows", "name", "host"}
	for key, want := range map[string]string{
		"window":                  "windows",
		"WINDOWS":                 "windows",
		"botid":                   "bot_id",
		"bot-id":                  "bot_id",
		"clientsecret":            "client_secret",
		"client_secret_fil":       "client_secret_file",
		"intervall":               "interval",
		"hots":                    "host",
		"nmae":                    "name",
		"windows":                 "", // known keys are not unknown
		"team":                    "",
		"x":                       "",
		"a":                       "", // shorter than any distance: no guess
		"":                        "",
		strings.Repeat("w", 1000): "",
	} {
		if got := nearest(key, names); got != want {
			t.Errorf("nearest(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestLevenshtein(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"kitten", "sitting", 3},
		{"window", "windows", 1}, {"client_secert", "client_secret", 2}, {"flaw", "lawn", 2},
		{"héllo", "hello", 1},
	} {
		if got := levenshtein(tt.a, tt.b); got != tt.want {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := levenshtein(tt.b, tt.a); got != tt.want {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tt.b, tt.a, got, tt.want)
		}
	}
}
