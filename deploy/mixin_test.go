package deploy_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-jsonnet"
	"gopkg.in/yaml.v3"
)

// The monitoring mixin in mixin/ is the one source of the rules, alerts and
// dashboards; the files the project ships are generated from it, and this
// test fails when one of them differs from what the mixin renders. After
// editing the mixin, regenerate them with
//
//	go test -run TestMixinGenerated -update .
var update = flag.Bool("update", false, "rewrite the files generated from the mixin (TestMixinGenerated)")

const mixinDir = "mixin"

// generatedHeader opens every generated YAML file.
const generatedHeader = "# Generated from deploy/mixin (tune it in config.libsonnet) by\n" +
	"#   cd deploy && go test -run TestMixinGenerated -update .\n" +
	"# Edit the mixin, not this file.\n"

// renderMixin evaluates the mixin and returns its outputs by path
// (relative to deploy/).
func renderMixin(t *testing.T) map[string][]byte {
	t.Helper()
	vm := jsonnet.MakeVM()
	vm.Importer(&jsonnet.FileImporter{JPaths: []string{mixinDir}})
	raw, err := vm.EvaluateAnonymousSnippet("render.jsonnet", `
local m = import 'mixin.libsonnet';
{ recording: m.prometheusRules, alerts: m.prometheusAlerts, dashboards: m.grafanaDashboards }`)
	if err != nil {
		t.Fatalf("render the mixin: %v", err)
	}
	var out struct {
		Recording, Alerts json.RawMessage
		Dashboards        map[string]json.RawMessage
	}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for name, doc := range map[string]json.RawMessage{"kore-recording.yml": out.Recording, "kore-alerts.yml": out.Alerts} {
		y := toYAML(t, doc)
		files[filepath.Join(rulesDir, name)] = y
		files[filepath.Join(chartDir, "files/rules", name)] = y
	}
	for name, doc := range out.Dashboards {
		var buf bytes.Buffer
		if err := json.Indent(&buf, doc, "", "  "); err != nil {
			t.Fatal(err)
		}
		buf.WriteByte('\n')
		files[filepath.Join("../dashboards", name)] = buf.Bytes()
		files[filepath.Join(chartDir, "files/dashboards", name)] = buf.Bytes()
	}
	return files
}

// toYAML turns a JSON document into block-style YAML, keys in the order
// given, multi-line strings as literal blocks.
func toYAML(t *testing.T, doc []byte) []byte {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal(doc, &n); err != nil {
		t.Fatal(err)
	}
	var restyle func(*yaml.Node)
	restyle = func(n *yaml.Node) {
		n.Style = 0
		if n.Kind == yaml.MappingNode {
			sortKeys(n)
		}
		if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && strings.Contains(n.Value, "\n") {
			n.Style = yaml.LiteralStyle
		}
		for _, c := range n.Content {
			restyle(c)
		}
	}
	restyle(&n)
	var buf bytes.Buffer
	buf.WriteString(generatedHeader)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// keyOrder puts the keys a reader looks for first at the top of a rule or
// group; other keys keep their (alphabetical) order after them.
var keyOrder = []string{"name", "interval", "record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations", "summary", "description"}

// sortKeys orders the keys of mapping n by keyOrder.
func sortKeys(n *yaml.Node) {
	type pair struct{ k, v *yaml.Node }
	pairs := make([]pair, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		pairs = append(pairs, pair{n.Content[i], n.Content[i+1]})
	}
	rank := func(k string) int {
		if i := slices.Index(keyOrder, k); i >= 0 {
			return i
		}
		return len(keyOrder)
	}
	slices.SortStableFunc(pairs, func(a, b pair) int { return rank(a.k.Value) - rank(b.k.Value) })
	n.Content = n.Content[:0]
	for _, p := range pairs {
		n.Content = append(n.Content, p.k, p.v)
	}
}

// TestMixinGenerated checks that every file generated from the mixin is
// what it renders now, and that no generated directory holds a file the
// mixin no longer renders. With -update it writes them instead.
func TestMixinGenerated(t *testing.T) {
	files := renderMixin(t)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		if *update {
			if err := os.WriteFile(p, files[p], 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, files[p]) {
			t.Errorf("%s is not what deploy/mixin renders (%v): run `cd deploy && go test -run TestMixinGenerated -update .`", p, err)
		}
	}
	for _, pattern := range []string{
		filepath.Join(rulesDir, "*.yml"), filepath.Join(chartDir, "files/rules/*"),
		"../dashboards/*.json", filepath.Join(chartDir, "files/dashboards/*"),
	} {
		found, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range found {
			if _, ok := files[f]; !ok {
				t.Errorf("%s is not rendered by deploy/mixin: delete it or add it to the mixin", f)
			}
		}
	}
}
