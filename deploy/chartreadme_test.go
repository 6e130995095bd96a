package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The chart README's values table is generated from values.yaml: each
// value's `# --` comment (helm-docs style: "# -- text", continued on the
// following "#" lines; "# -- (type) text" naming the type, "# @default --
// text" replacing the default shown) and its default. TestChartReadmeValues fails when the table differs from
// what values.yaml gives; after editing values.yaml, regenerate it with
//
//	go test -run TestChartReadmeValues -update .
const (
	chartReadme       = chartDir + "/README.md"
	chartValues       = chartDir + "/values.yaml"
	valuesTableStart  = "<!-- values table: generated from values.yaml by `cd deploy && go test -run TestChartReadmeValues -update .`; edit values.yaml, not this table -->"
	valuesTableEnd    = "<!-- end of values table -->"
	valueCommentStart = "# -- "
	defaultOverride   = "# @default -- "
)

// valueRow is one line of the values table.
type valueRow struct{ key, typ, def, desc string }

// valuesTable renders the Markdown table of the values in values.yaml (in
// the file's order). Every value needs a `# --` comment, on itself or on a
// mapping above it (which is then one row, its keys not listed apart).
func valuesTable(src []byte) (string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return "", err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return "", fmt.Errorf("values.yaml is not a mapping")
	}
	lines := strings.Split(string(src), "\n")
	var rows []valueRow
	var undocumented []string
	var walk func(m *yaml.Node, prefix string) error
	walk = func(m *yaml.Node, prefix string) error {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			key := prefix + k.Value
			desc, typ, def, ok := valueComment(lines, k.Line)
			switch {
			case ok:
				if typ == "" {
					typ = typeOf(v)
				}
				if def == "" {
					var err error
					if def, err = defaultOf(v); err != nil {
						return fmt.Errorf("%s: %w", key, err)
					}
				}
				rows = append(rows, valueRow{key: key, typ: typ, def: def, desc: desc})
			case v.Kind == yaml.MappingNode && len(v.Content) > 0:
				if err := walk(v, key+"."); err != nil {
					return err
				}
			default:
				undocumented = append(undocumented, key)
			}
		}
		return nil
	}
	if err := walk(doc.Content[0], ""); err != nil {
		return "", err
	}
	if len(undocumented) > 0 {
		return "", fmt.Errorf("values without a `# --` comment (on them or on a mapping above them): %s", strings.Join(undocumented, ", "))
	}
	var b strings.Builder
	b.WriteString("| Key | Type | Default | Description |\n")
	b.WriteString("|-----|------|---------|-------------|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", codeSpan(r.key), r.typ, r.def, markdownText(r.desc))
	}
	return b.String(), nil
}

// valueComment returns the `# --` comment directly above the key on line
// (1-based): its text joined into one line, the type it names in
// parentheses and the text of its "# @default --" line (empty if none).
func valueComment(lines []string, line int) (desc, typ, def string, ok bool) {
	// The comment block: the "#" lines directly above the key.
	start := line - 1 // 0-based index of the key's line
	for start > 0 && strings.HasPrefix(strings.TrimSpace(lines[start-1]), "#") {
		start--
	}
	block := lines[start : line-1]
	at := -1
	for i, l := range block {
		if strings.HasPrefix(strings.TrimSpace(l), valueCommentStart) {
			at = i // the last "# --" opens the comment
		}
	}
	if at < 0 {
		return "", "", "", false
	}
	var words []string
	for i, l := range block[at:] {
		l = strings.TrimSpace(l)
		switch {
		case i == 0:
			words = append(words, strings.TrimPrefix(l, valueCommentStart))
		case strings.HasPrefix(l, defaultOverride):
			def = strings.TrimPrefix(l, defaultOverride)
		default:
			words = append(words, strings.TrimSpace(strings.TrimPrefix(l, "#")))
		}
	}
	desc = strings.Join(words, " ")
	if m := typeOverride.FindStringSubmatch(desc); m != nil {
		typ, desc = m[1], desc[len(m[0]):]
	}
	return desc, typ, markdownText(def), true
}

// typeOverride matches "(type) " opening a comment.
var typeOverride = regexp.MustCompile(`^\(([a-z ]+)\) `)

// typeOf names a value's type as helm-docs does.
func typeOf(v *yaml.Node) string {
	switch v.Kind {
	case yaml.MappingNode:
		return "object"
	case yaml.SequenceNode:
		return "list"
	}
	switch v.Tag {
	case "!!int":
		return "int"
	case "!!float":
		return "float"
	case "!!bool":
		return "bool"
	}
	return "string"
}

// defaultOf renders a value as compact JSON in a code span.
func defaultOf(v *yaml.Node) (string, error) {
	var x any
	if err := v.Decode(&x); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return "", err
	}
	return codeSpan(strings.TrimSuffix(buf.String(), "\n")), nil
}

// codeSpan puts s in backticks; a pipe is escaped even there in a GFM table.
func codeSpan(s string) string {
	return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
}

var codeSpans = regexp.MustCompile("`[^`]*`")

// markdownText escapes, outside code spans, what Markdown would take for
// HTML, emphasis or a table cell's end.
func markdownText(s string) string {
	escape := strings.NewReplacer("<", "&lt;", ">", "&gt;", "*", `\*`, "|", `\|`)
	var b strings.Builder
	last := 0
	for _, m := range codeSpans.FindAllStringIndex(s, -1) {
		b.WriteString(escape.Replace(s[last:m[0]]))
		b.WriteString(strings.ReplaceAll(s[m[0]:m[1]], "|", `\|`))
		last = m[1]
	}
	b.WriteString(escape.Replace(s[last:]))
	return b.String()
}

// TestChartReadmeValues checks that the chart README's values table is the
// one values.yaml gives. With -update it rewrites the table.
func TestChartReadmeValues(t *testing.T) {
	src, err := os.ReadFile(chartValues)
	if err != nil {
		t.Fatal(err)
	}
	table, err := valuesTable(src)
	if err != nil {
		t.Fatalf("%s: %v", chartValues, err)
	}
	readme, err := os.ReadFile(chartReadme)
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	i, j := strings.Index(text, valuesTableStart), strings.Index(text, valuesTableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s: no values table between the markers\n%s\nand\n%s", chartReadme, valuesTableStart, valuesTableEnd)
	}
	want := text[:i] + valuesTableStart + "\n\n" + table + "\n" + text[j:]
	if want == text {
		return
	}
	if *update {
		if err := os.WriteFile(chartReadme, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the values table of %s", chartReadme)
		return
	}
	t.Errorf("%s: the values table is not what %s gives: run `cd deploy && go test -run TestChartReadmeValues -update .`\n%s",
		chartReadme, filepath.Base(chartValues), firstLineDiff(text[i:], want[i:]))
}

// firstLineDiff shows the first line where got and want differ.
func firstLineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for n := 0; n < max(len(g), len(w)); n++ {
		var gl, wl string
		if n < len(g) {
			gl = g[n]
		}
		if n < len(w) {
			wl = w[n]
		}
		if gl != wl {
			return fmt.Sprintf("table line %d:\n got: %s\nwant: %s", n+1, gl, wl)
		}
	}
	return ""
}

// TestChartValuesTableGenerator checks the generator on a small values file:
// nesting, documented mappings, @default, escaping, undocumented values.
func TestChartValuesTableGenerator(t *testing.T) {
	src := `# File header, not a value's comment.

image:
  # -- Image repository.
  repository: ghcr.io/x/y
  # -- Pull policy; see <docs>.
  pullPolicy: IfNotPresent

# -- Number of shards
# (a StatefulSet when > 1).
shards: 1

# -- Pod security context.
podSecurityContext:
  runAsUser: 65534

# -- (object or string) Config, a|b, ` + "`x|y`" + `.
# @default -- see values.yaml
config:
  bots: []
# -- Ports.
ports: [443]
`
	got, err := valuesTable([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := "| Key | Type | Default | Description |\n" +
		"|-----|------|---------|-------------|\n" +
		"| `image.repository` | string | `\"ghcr.io/x/y\"` | Image repository. |\n" +
		"| `image.pullPolicy` | string | `\"IfNotPresent\"` | Pull policy; see &lt;docs&gt;. |\n" +
		"| `shards` | int | `1` | Number of shards (a StatefulSet when &gt; 1). |\n" +
		"| `podSecurityContext` | object | `{\"runAsUser\":65534}` | Pod security context. |\n" +
		"| `config` | object or string | see values.yaml | Config, a\\|b, `x\\|y`. |\n" +
		"| `ports` | list | `[443]` | Ports. |\n"
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	if _, err := valuesTable([]byte("image:\n  tag: \"\"\n# -- Documented.\nshards: 1\n")); err == nil || !strings.Contains(err.Error(), "image.tag") {
		t.Errorf("undocumented value: err = %v, want it named", err)
	}
}
