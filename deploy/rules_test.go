package deploy_test

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
)

// rulesDir holds the recording and alerting rules the project ships.
const rulesDir = "prometheus/rules"

// readmePath is the project's README.
const readmePath = "../README.md"

// runbookPath is the page the runbook_url anchors point into.
const runbookPath = "../docs/alerts.md"

// ruleFiles returns the rule files under dir. It skips the test while the
// directory does not exist (the rules come in their own change); once it
// exists, it must hold rule files.
func ruleFiles(t *testing.T, dir string) []string {
	t.Helper()
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("deploy/%s does not exist yet: no rules to check (the negative tests in TestRuleChecksCatchErrors still run)", dir)
	}
	var files []string
	for _, pattern := range []string{"*.yml", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatalf("deploy/%s exists but holds no *.yml rule files", dir)
	}
	slices.Sort(files)
	return files
}

// TestRules checks the shipped rule files with checkRules.
func TestRules(t *testing.T) {
	files := ruleFiles(t, rulesDir)
	runbooks, err := os.ReadFile(runbookPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkRules(files, runbooks, exporterMetrics(t)); err != nil {
		t.Fatal(err)
	}
}

// TestRuleChecksCatchErrors runs checkRules on fixtures, one fault each,
// against a fixture runbook page: the checks must report the fault, and the good
// fixture must pass.
func TestRuleChecksCatchErrors(t *testing.T) {
	runbooks, err := os.ReadFile("testdata/alerts.md")
	if err != nil {
		t.Fatal(err)
	}
	exported := exporterMetrics(t)
	for _, tc := range []struct {
		files []string
		want  string // "" for no error
	}{
		{[]string{"good-recording.yml", "good-alerts.yml"}, ""},
		{[]string{"bad-expr.yml"}, "could not parse"},
		{[]string{"bad-unknown-field.yml"}, "field severity not found"},
		{[]string{"bad-unknown-metric.yml"}, "metric kore_task_dropoff_sessions is not exported"},
		{[]string{"bad-label.yml"}, `metric kore_task_sessions has no label "task"`},
		{[]string{"good-alerts.yml"}, "metric kore_bot_window_task:drop_off:ratio is not exported"}, // its recording rules not loaded
		{[]string{"bad-anchor.yml"}, `runbook_url "https://github.com/kore-exporter/kore_exporter/blob/main/docs/alerts.md#koretaskdropoffnone": no heading with anchor "koretaskdropoffnone"`},
		{[]string{"bad-runbook-file.yml"}, "want the project's docs/alerts.md"},
		{[]string{"bad-no-runbook.yml"}, "no runbook_url"},
	} {
		t.Run(strings.Join(tc.files, "+"), func(t *testing.T) {
			var paths []string
			for _, f := range tc.files {
				paths = append(paths, filepath.Join("testdata", "rules", f))
			}
			err := checkRules(paths, runbooks, exported)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want no error, got %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("want an error containing %q, got none", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}

// checkRules checks a set of rule files loaded together:
//   - each parses with Prometheus' rulefmt (strict YAML: unknown keys are
//     errors) and every expression with Prometheus' PromQL parser;
//   - every metric an expression selects is exported by kore_exporter
//     (exported), a standard series (up, ALERTS), or recorded by a rule of
//     the set;
//   - every alert has a runbook_url, and every runbook_url points at a
//     heading of the runbook page (runbooks): docs/alerts.md, with an anchor
//     GitHub generates for one of its headings.
func checkRules(files []string, runbooks []byte, exported metricSet) error {
	logger := slog.New(slog.DiscardHandler)
	var (
		errs     []error
		groups   = map[string]*rulefmt.RuleGroups{}
		recorded []string
	)
	for _, f := range files {
		rgs, ferrs := rulefmt.ParseFile(f, false, model.UTF8Validation, promqlParser, logger)
		if len(ferrs) > 0 {
			errs = append(errs, ferrs...)
			continue
		}
		groups[f] = rgs
		for _, g := range rgs.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					recorded = append(recorded, r.Record)
				}
			}
		}
	}
	known := exported.with(recorded...)
	anchors := markdownAnchors(runbooks)
	for _, f := range files {
		rgs := groups[f]
		if rgs == nil {
			continue
		}
		for _, g := range rgs.Groups {
			for _, r := range g.Rules {
				name := r.Record + r.Alert
				where := fmt.Sprintf("%s: group %s: rule %s", f, g.Name, name)
				if err := checkPromQL(r.Expr, known); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", where, err))
				}
				if r.Alert == "" {
					continue
				}
				url, ok := r.Annotations["runbook_url"]
				if !ok {
					errs = append(errs, fmt.Errorf("%s: no runbook_url annotation", where))
					continue
				}
				if err := checkRunbookURL(url, anchors); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", where, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// runbookURLRE matches the URLs of the project's runbook page,
// docs/alerts.md: on a branch of the repository, or relative.
var runbookURLRE = regexp.MustCompile(`^(https://github\.com/kore-exporter/kore_exporter/blob/[^/#]+/docs/alerts\.md|(\.\./)*docs/alerts\.md|alerts\.md)?$`)

// checkRunbookURL checks that url is the runbook page with an anchor among
// anchors.
func checkRunbookURL(url string, anchors map[string]bool) error {
	base, anchor, ok := strings.Cut(url, "#")
	if !ok || anchor == "" {
		return fmt.Errorf("runbook_url %q: no #anchor", url)
	}
	if !runbookURLRE.MatchString(base) {
		return fmt.Errorf("runbook_url %q: want the project's docs/alerts.md (https://github.com/kore-exporter/kore_exporter/blob/main/docs/alerts.md#anchor)", url)
	}
	if !anchors[anchor] {
		return fmt.Errorf("runbook_url %q: no heading with anchor %q in docs/alerts.md", url, anchor)
	}
	return nil
}

var (
	headingRE = regexp.MustCompile(`^ {0,3}#{1,6}[ \t]+(.*?)[ \t#]*$`)
	fenceRE   = regexp.MustCompile("^ {0,3}(```|~~~)")
	linkRE    = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
)

// markdownAnchors returns the anchors GitHub generates for the headings
// of a Markdown document: the heading's text (links reduced to their
// text) lower-cased, every character but letters, digits, '-', '_' and
// spaces removed, spaces replaced by '-'; a repeated anchor gets -1, -2,
// ... appended. Lines inside fenced code blocks are not headings.
func markdownAnchors(md []byte) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	inFence := false
	for _, line := range strings.Split(string(md), "\n") {
		if fenceRE.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		m := headingRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		a := githubAnchor(m[1])
		if n := seen[a]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			anchors[a] = true
		}
		seen[a]++
	}
	return anchors
}

// githubAnchor turns a heading's text into its GitHub anchor.
func githubAnchor(heading string) string {
	heading = linkRE.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestMarkdownAnchors(t *testing.T) {
	md := "# kore_exporter\n" +
		"## Quick start\n" +
		"## The Kore.ai API client (`kore/`)\n" +
		"### Estimating API use (`--config.check`)\n" +
		"### KoreTaskDropOffHigh\n" +
		"## See [the docs](https://example.com) here ##\n" +
		"## Quick start\n" +
		"```\n# HELP not a heading\n```\n" +
		"#not a heading\n"
	got := markdownAnchors([]byte(md))
	want := []string{
		"kore_exporter", "quick-start", "the-koreai-api-client-kore",
		"estimating-api-use---configcheck", "koretaskdropoffhigh",
		"see-the-docs-here", "quick-start-1",
	}
	for _, a := range want {
		if !got[a] {
			t.Errorf("anchor %q missing from %v", a, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d anchors %v, want %d", len(got), got, len(want))
	}
}
