package main

// The docs check: relative links and anchors of the Markdown resolve, and
// in sh, shell, bash and console blocks exporter commands parse with the
// real flag parsers, go test patterns name test functions, and --demo,
// --config.check of a repository file and backfill --demo run in-process.
// A command wrong on purpose goes in a text block.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"unicode"

	"github.com/kore-exporter/kore_exporter/collector/backfill"
)

type mdLink struct {
	line       int
	text, dest string // text: the link as written
}

type mdBlock struct {
	line  int // of its first line
	lang  string
	lines []string
}

var (
	mdFence      = regexp.MustCompile("^\\s*(```+|~~~+)\\s*([^\\s`]*)")
	mdHeading    = regexp.MustCompile(`^ {0,3}#{1,6}[ \t]+(.+)$`)
	mdCodeSpan   = regexp.MustCompile("``.*?``|`[^`]*`")
	mdLinkRe     = regexp.MustCompile(`!?\[([^\[\]]*)\]\(\s*([^\s()]*)(?:\s+"[^"]*")?\s*\)`)
	noLinkSyntax = strings.NewReplacer("[", " ", "]", " ", "(", " ", ")", " ") // in a code span
	absoluteLink = regexp.MustCompile(`^(?:https?|mailto):`)
)

// parseMarkdown returns the inline links, heading anchors and fenced
// blocks of a file.
func parseMarkdown(data string) (links []mdLink, anchors map[string]bool, blocks []mdBlock) {
	anchors = map[string]bool{}
	fence, block := "", (*mdBlock)(nil)
	for i, line := range strings.Split(strings.ReplaceAll(data, "\r\n", "\n"), "\n") {
		if trimmed := strings.TrimSpace(line); block != nil {
			if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]) == "" {
				blocks, block = append(blocks, *block), nil
			} else {
				block.lines = append(block.lines, line)
			}
		} else if m := mdFence.FindStringSubmatch(line); m != nil {
			fence, block = m[1], &mdBlock{line: i + 2, lang: strings.ToLower(m[2])}
		} else {
			if m := mdHeading.FindStringSubmatch(line); m != nil {
				slug := githubSlug(m[1])
				for n := 1; anchors[slug]; n++ { // a repeated heading: -1, -2, …
					slug = fmt.Sprintf("%s-%d", githubSlug(m[1]), n)
				}
				anchors[slug] = true
			}
			for _, m := range mdLinkRe.FindAllStringSubmatch(mdCodeSpan.ReplaceAllStringFunc(line, noLinkSyntax.Replace), -1) {
				links = append(links, mdLink{i + 1, m[0], m[2]})
			}
		}
	}
	if block != nil { // an unclosed fence runs to the end
		blocks = append(blocks, *block)
	}
	return links, anchors, blocks
}

// githubSlug is GitHub's anchor of a heading: its text without code
// backticks and link syntax, in lower case, with letters, digits, - and _
// kept, spaces made -, and everything else dropped.
func githubSlug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(strings.ReplaceAll(mdLinkRe.ReplaceAllString(heading, "$1"), "`", ""))) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// checkDocLinks returns a problem per broken link of files.
func checkDocLinks(fsys fs.FS, files []string) (problems []string) {
	anchors := map[string]map[string]bool{}
	for _, name := range files {
		data, _ := fs.ReadFile(fsys, name)
		links, _, _ := parseMarkdown(string(data))
		for _, l := range links {
			file, anchor, _ := strings.Cut(l.dest, "#")
			target, problem := path.Join(path.Dir(name), cmp.Or(file, path.Base(name))), ""
			if anchors[target] == nil && strings.HasSuffix(target, ".md") {
				data, _ := fs.ReadFile(fsys, target)
				_, anchors[target], _ = parseMarkdown(string(data))
			}
			switch {
			case absoluteLink.MatchString(l.dest):
			case !fileExists(fsys, target):
				problem = target + " does not exist"
			case anchor == "":
			case !strings.HasSuffix(target, ".md"):
				problem = fmt.Sprintf("anchor #%s on %s, which is not Markdown", anchor, target)
			case !anchors[target][anchor]:
				problem = fmt.Sprintf("no heading with anchor #%s in %s", anchor, target)
			}
			if problem != "" {
				problems = append(problems, fmt.Sprintf("%s:%d: link %s: %s", name, l.line, l.text, problem))
			}
		}
	}
	return problems
}

func fileExists(fsys fs.FS, name string) bool {
	_, err := fs.Stat(fsys, name)
	return err == nil
}

// shCmd is one simple command of a block.
type shCmd struct {
	line  int
	text  string // the logical line, for messages
	words []string
	cwd   string // from the repository root; "" when unknown
}

var (
	shToken    = regexp.MustCompile(`&&|\|\||[|;&()]|(?:'[^']*'|"[^"]*"|\$\([^)]*\)|>&|[^\s'"|;&()])+`)
	shOps      = []string{"&&", "||", "|", ";", "&", "(", ")"}
	shQuote    = regexp.MustCompile(`'([^']*)'|"([^"]*)"`)
	shPrefix   = regexp.MustCompile(`^(?:[A-Za-z_]\w*=.*|!|sudo|do|then|time)$`) // before the command's name
	shRedirect = regexp.MustCompile(`^\d*[<>]`)
	shAngle    = regexp.MustCompile(`^<[^<>]+>$`) // a <placeholder>, not a redirection
	shHeredoc  = regexp.MustCompile(`<<-?\s*['"]?(\w+)`)
)

// shellTokens splits a line into words (quotes removed, no expansion) and
// operators (shOps), up to a comment.
func shellTokens(line string) (toks []string) {
	for _, m := range shToken.FindAllString(line, -1) {
		if strings.HasPrefix(m, "#") {
			break
		}
		toks = append(toks, shQuote.ReplaceAllString(m, "$1$2"))
	}
	return toks
}

// blockCommands returns the simple commands of a shell block: continuation
// lines joined, here-documents skipped, cd followed.
func blockCommands(b mdBlock) (cmds []shCmd) {
	cwd := "."
	for i := 0; i < len(b.lines); i++ {
		n, text := b.line+i, strings.TrimSpace(b.lines[i])
		if b.lang == "console" && !strings.HasPrefix(text, "$ ") {
			continue
		}
		text = strings.TrimPrefix(text, "$ ")
		for strings.HasSuffix(text, `\`) && i+1 < len(b.lines) {
			i++
			text = text[:len(text)-1] + " " + strings.TrimSpace(b.lines[i])
		}
		if m := shHeredoc.FindStringSubmatch(text); m != nil {
			for i++; i < len(b.lines) && strings.TrimSpace(b.lines[i]) != m[1]; i++ {
			}
		}
		var words, stack []string
		toks := append(shellTokens(text), ";")
		for k := 0; k < len(toks); k++ {
			switch t := toks[k]; {
			case shRedirect.MatchString(t) && !shAngle.MatchString(t):
				if strings.Trim(t, "0123456789<>-") == "" && !slices.Contains(shOps, toks[k+1]) {
					k++ // the file of > file, the word of << EOF
				}
			case !slices.Contains(shOps, t):
				words = append(words, t)
			default:
				for len(words) > 0 && shPrefix.MatchString(words[0]) {
					words = words[1:]
				}
				switch {
				case len(words) == 0:
				case words[0] != "cd":
					cmds = append(cmds, shCmd{n, text, words, cwd})
				case cwd != "" && len(words) == 2 && strings.IndexAny(words[1], "/~$-") != 0:
					cwd = path.Join(cwd, words[1])
				default:
					cwd = ""
				}
				words = nil
				if t == "(" {
					stack = append(stack, cwd)
				} else if j := len(stack) - 1; t == ")" && j >= 0 {
					cwd, stack = stack[j], stack[:j]
				}
			}
		}
	}
	return cmds
}

// inlineGoTests returns the go test commands written in code spans of the
// text (`go test -run '^TestX$' ./pkg`, in a sentence or a table, where
// \| stands for |), each as a one-line sh block.
func inlineGoTests(data string) []mdBlock {
	var out []mdBlock
	for i, line := range strings.Split(data, "\n") {
		for _, span := range mdCodeSpan.FindAllString(line, -1) {
			text := strings.ReplaceAll(strings.Trim(span, "`"), `\|`, "|")
			if strings.HasPrefix(text, "go test ") {
				out = append(out, mdBlock{line: i + 1, lang: "sh", lines: []string{text}})
			}
		}
	}
	return out
}

// docsRun is a documented command that can run here.
type docsRun struct {
	kind, where string // kind: "demo", "check" or "backfill"
	args        []string
	file        string // the repository configuration file of a check
}

// checkDocCommands returns a problem per bad command of files, and the
// commands that can run here.
func checkDocCommands(fsys fs.FS, files []string) (problems []string, runs []*docsRun) {
	for _, name := range files {
		data, _ := fs.ReadFile(fsys, name)
		_, _, blocks := parseMarkdown(string(data))
		for _, b := range append(blocks, inlineGoTests(string(data))...) {
			if !slices.Contains([]string{"sh", "shell", "bash", "console"}, b.lang) {
				continue
			}
			for _, cmd := range blockCommands(b) {
				var ps []string
				var run *docsRun
				switch w := cmd.words; {
				case path.Base(w[0]) == exporterName:
					ps, run = checkExporter(fsys, cmd, w[1:])
				case len(w) > 2 && w[0] == "go" && w[1] == "run" && (w[2] == "." || w[2] == "./") && cmd.cwd == ".":
					ps, run = checkExporter(fsys, cmd, w[3:])
				case len(w) > 2 && w[0] == "docker" && w[1] == "run" && slices.Contains(w, exporterName):
					ps, _ = checkExporter(fsys, cmd, w[slices.Index(w, exporterName)+1:]) // runs in a container
				case len(w) > 1 && w[0] == "go" && w[1] == "test":
					ps = checkGoTest(fsys, cmd, w[2:])
				}
				where := fmt.Sprintf("%s:%d", name, cmd.line)
				for _, p := range ps {
					problems = append(problems, fmt.Sprintf("%s: %s\n\t%s", where, p, cmd.text))
				}
				if run != nil {
					run.where = where
					runs = append(runs, run)
				}
			}
		}
	}
	return problems, runs
}

var (
	placeholder = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$|^<.+>$|…|\.\.\.|\$`) // a value of the reader's own
	// placeholderValues: a string, number, duration, NAME=VALUE, time.
	placeholderValues = []string{"/placeholder", "1", "1s", "placeholder=x", "now"}
)

// parseExporterArgs parses an exporter command line with the real flag
// parsers and checks.
func parseExporterArgs(args []string) (err error) {
	var stderr bytes.Buffer
	code, exited := 0, false
	if len(args) > 0 && args[0] == backfillCommand {
		var f *backfillFlags
		if f, code, exited = parseBackfillFlags(args[1:], io.Discard, &stderr); !exited {
			for _, t := range [][2]string{{"--start", f.start}, {"--end", f.end}} {
				if _, e := backfill.ParseTime(t[1], time.Now()); e != nil && err == nil {
					err = fmt.Errorf("%s: %w", t[0], e)
				}
			}
		}
	} else {
		var f *flags
		if f, code, exited = parseFlags(args, io.Discard, &stderr); !exited {
			err = f.check()
		}
	}
	if code != 0 {
		return fmt.Errorf("exit %d: %s", code, strings.TrimSpace(stderr.String()))
	}
	return err
}

// checkExporter checks the arguments of an exporter command and returns it
// as a docsRun if it can run here.
func checkExporter(fsys fs.FS, cmd shCmd, args []string) ([]string, *docsRun) {
	// As written, or else with its placeholders (PLACEHOLDER, --flag=PLACEHOLDER)
	// as any combination of placeholderValues; k's digits pick them.
	err, holes := parseExporterArgs(args), 0
	for k := 0; k == 0 || err != nil && k < 625; k++ {
		try, d := slices.Clone(args), k
		holes = 0
		for i, a := range args {
			prefix, value, ok := strings.Cut(a, "=")
			if !ok || !strings.HasPrefix(prefix, "-") {
				prefix, value = "", a
			} else {
				prefix += "="
			}
			if !strings.HasPrefix(value, "-") && placeholder.MatchString(value) {
				try[i], d, holes = prefix+placeholderValues[d%len(placeholderValues)], d/len(placeholderValues), holes+1
			}
		}
		if holes == 0 || d > 0 { // none, or every combination tried
			break
		}
		if err != nil && parseExporterArgs(try) == nil {
			err = nil
		}
	}
	if err != nil {
		return []string{"the exporter's command line does not parse: " + err.Error()}, nil
	}
	if holes > 0 || cmd.cwd != "." {
		return nil, nil
	}
	// What can run here: no credentials, no file of the reader's own.
	if len(args) > 0 && args[0] == backfillCommand {
		if f, _, exited := parseBackfillFlags(args[1:], io.Discard, io.Discard); !exited && f.demo {
			return nil, &docsRun{kind: "backfill", args: args}
		}
		return nil, nil
	}
	switch f, _, exited := parseFlags(args, io.Discard, io.Discard); {
	case exited:
	case f.configCheck && f.demo:
		return nil, &docsRun{kind: "check", args: args}
	case f.configCheck && !f.checkProbe && !path.IsAbs(f.configFile) && fileExists(fsys, path.Clean(f.configFile)):
		return nil, &docsRun{kind: "check", args: args, file: path.Clean(f.configFile)}
	case f.demo && !f.configCheck:
		return nil, &docsRun{kind: "demo", args: args}
	}
	return nil, nil
}

var (
	goTestValueFlags = regexp.MustCompile(`^(run|bench|fuzz|skip|timeout|count|cpu|parallel|benchtime|fuzztime|coverprofile|tags|o|C)$`)
	dynamicPattern   = regexp.MustCompile(`\$[\w{(]`) // $1, ${X}: a pattern the test cannot know
	testKinds        = map[string]*regexp.Regexp{"run": regexp.MustCompile(`^(Test|Fuzz|Example)`),
		"bench": regexp.MustCompile(`^Benchmark`), "fuzz": regexp.MustCompile(`^Fuzz`)}
)

// checkGoTest checks that each top-level alternative of the -run, -bench
// and -fuzz patterns of a go test command names a function of its packages
// (., ./x, ./x/...; import paths are not checked).
func checkGoTest(fsys fs.FS, cmd shCmd, args []string) (problems []string) {
	var patterns [][2]string // flag, pattern
	var pkgs []string
	for i := 0; i < len(args) && args[i] != "-args" && args[i] != "--args"; i++ {
		name, value, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		switch {
		case !strings.HasPrefix(args[i], "-"):
			pkgs = append(pkgs, args[i])
			continue
		case goTestValueFlags.MatchString(name) && !hasValue && i+1 < len(args):
			i++
			value = args[i]
		}
		if testKinds[name] != nil && !dynamicPattern.MatchString(value) {
			patterns = append(patterns, [2]string{name, value})
		}
	}
	if len(pkgs) == 0 {
		pkgs = []string{"."}
	}
	if len(patterns) == 0 || cmd.cwd == "" || slices.ContainsFunc(pkgs, func(p string) bool { return p != "." && !strings.HasPrefix(p, "./") }) {
		return nil
	}
	names, err := testNames(fsys, cmd.cwd, pkgs)
	if err != nil {
		return []string{err.Error()}
	}
	for _, p := range patterns {
		for _, alt := range alternatives(p[1]) {
			re, err := regexp.Compile(alt)
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("-%s %q: %v", p[0], p[1], err))
			case re.MatchString(""): // ^$: no test, on purpose
			case !slices.ContainsFunc(names, func(n string) bool { return re.MatchString(n) && testKinds[p[0]].MatchString(n) }):
				problems = append(problems, fmt.Sprintf("-%s %q: %q matches no %s function in %s (in %s)",
					p[0], p[1], alt, strings.Trim(testKinds[p[0]].String(), "^()"), strings.Join(pkgs, " "), cmd.cwd))
			}
		}
	}
	return problems
}

// alternatives splits a pattern's top level (before any /) at its |, after
// stripping ^, $ and one enclosing ( … ); each keeps the anchors.
func alternatives(pattern string) []string {
	whole, _, _ := strings.Cut(pattern, "/")
	p, pre, post := whole, "", ""
	if s, ok := strings.CutPrefix(p, "^"); ok {
		pre, p = "^", s
	}
	if s, ok := strings.CutSuffix(p, "$"); ok {
		post, p = "$", s
	}
	if strings.HasPrefix(p, "(") && strings.HasSuffix(p, ")") {
		p = strings.TrimPrefix(p[1:len(p)-1], "?:")
	}
	alts := strings.Split(p, "|")
	for i, a := range alts {
		alts[i] = pre + "(?:" + a + ")" + post
		if _, err := regexp.Compile(alts[i]); err != nil || len(alts) == 1 {
			return []string{whole} // one alternative, or a | inside a group
		}
	}
	return alts
}

// testNames returns the top-level function names of the _test.go files of
// go test's packages (., ./x, ./x/...) run in cwd.
func testNames(fsys fs.FS, cwd string, pkgs []string) (names []string, err error) {
	for _, p := range pkgs {
		rel, recursive := strings.CutSuffix(p, "/...")
		root := path.Join(cwd, rel)
		err := fs.WalkDir(fsys, root, func(q string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return fmt.Errorf("package %s: directory %s does not exist", p, q)
			case d.IsDir() && q != root && (!recursive || strings.ContainsAny(d.Name()[:1], "._") || d.Name() == "testdata" ||
				fileExists(fsys, path.Join(q, "go.mod"))):
				return fs.SkipDir
			case strings.HasSuffix(q, "_test.go"):
				src, _ := fs.ReadFile(fsys, q)
				f, err := parser.ParseFile(token.NewFileSet(), q, src, parser.SkipObjectResolution)
				if err != nil {
					return err
				}
				for _, d := range f.Decls {
					if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
						names = append(names, fd.Name.Name)
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return names, nil
}

// configFixture copies a repository configuration file into dir with what
// its leading comment tells the reader to create (printf '%s\n' … > file,
// openssl genrsa -out file); it returns the copy and the variables the
// comment exports.
func configFixture(fsys fs.FS, file, dir string) (string, map[string]string, error) {
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return "", nil, err
	}
	env, files := map[string]string{}, map[string][]byte{path.Base(file): data}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "#") && strings.TrimSpace(line) != "" {
			break // the end of the leading comment
		}
		switch w := shellTokens(strings.TrimPrefix(line, "#")); {
		case !strings.HasPrefix(line, "#  "): // prose, not an indented command
		case len(w) > 1 && w[0] == "export":
			k, v, _ := strings.Cut(w[1], "=")
			env[k] = v
		case len(w) == 5 && w[0] == "printf" && w[1] == `%s\n` && w[3] == ">":
			files[w[4]] = []byte(w[2] + "\n")
		case len(w) > 3 && w[0] == "openssl" && w[1] == "genrsa" && w[2] == "-out":
			key, _ := rsa.GenerateKey(rand.Reader, 2048)
			der, _ := x509.MarshalPKCS8PrivateKey(key)
			files[w[3]] = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		}
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if !filepath.IsLocal(name) {
			return "", nil, fmt.Errorf("%s: its header writes %s outside its directory", file, name)
		}
		os.MkdirAll(filepath.Dir(p), 0o700) // else WriteFile fails
		if err := os.WriteFile(p, content, 0o600); err != nil {
			return "", nil, err
		}
	}
	return filepath.Join(dir, path.Base(file)), env, nil
}

// withFlag returns args with --name=value instead of any --name=… or
// --name …, and the value it had.
func withFlag(args []string, name, value string) (out []string, old string) {
	for i := 0; i < len(args); i++ {
		if args[i] == "--"+name && i+1 < len(args) {
			i, old = i+1, args[i+1]
		} else if v, ok := strings.CutPrefix(args[i], "--"+name+"="); ok {
			old = v
		} else {
			out = append(out, args[i])
		}
	}
	return append(out, "--"+name+"="+value), old
}

// runDocs runs a documented command in-process: --demo until it serves
// kore_task_sessions, then stopped, must exit 0; backfill --demo (to a
// temporary --output) 0; --config.check 0 or exitPlanCannotBeMet, for a
// repository file on a configFixture copy (then not parallel: t.Setenv).
func runDocs(t *testing.T, fsys fs.FS, r *docsRun) {
	t.Logf("%s: %s %s", r.where, exporterName, strings.Join(r.args, " "))
	args, want := r.args, []int{0}
	ctx, cancel := context.WithTimeout(t.Context(), 25*time.Second)
	defer cancel()
	served := make(chan bool, 1) // for a demo: whether it served kore_task_sessions
	switch r.kind {
	case "demo":
		t.Parallel()
		addr := freeAddr(t)
		_, metricsPath := withFlag(args, "web.telemetry-path", "")
		go func() {
			for ctx.Err() == nil {
				if resp, err := http.Get("http://" + addr + cmp.Or(metricsPath, "/metrics")); err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if bytes.Contains(body, []byte("\nkore_task_sessions{")) {
						break
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
			served <- ctx.Err() == nil
			cancel()
		}()
		args, _ = withFlag(args, "web.listen-address", addr)
	case "backfill":
		t.Parallel()
		if _, out := withFlag(args, "output", ""); out != "" && out != "-" {
			args, _ = withFlag(args, "output", filepath.Join(t.TempDir(), filepath.Base(out)))
		}
	case "check":
		want = []int{0, exitPlanCannotBeMet}
		if r.file == "" {
			t.Parallel()
			break
		}
		copyPath, env, err := configFixture(fsys, r.file, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range env {
			t.Setenv(k, v)
		}
		args, _ = withFlag(args, "config.file", copyPath)
	}
	var stdout, stderr syncBuffer
	code := run(ctx, args, &stdout, &stderr)
	cancel()
	if ok := r.kind != "demo" || <-served; !ok || !slices.Contains(want, code) {
		t.Errorf("%s: exit %d, want %v (served kore_task_sessions, if a demo: %v)\nstdout:\n%.2000s\nstderr:\n%.4000s",
			r.where, code, want, ok, stdout.String(), stderr.String())
	}
}

// repoMarkdown returns the repository's Markdown files, but those in .git,
// .cache, testdata, node_modules and dist.
func repoMarkdown(t *testing.T) (fsys fs.FS, files []string) {
	fsys = os.DirFS(".")
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && slices.Contains([]string{".git", ".cache", "testdata", "node_modules", "dist"}, d.Name()):
			return fs.SkipDir
		case !d.IsDir() && strings.HasSuffix(p, ".md"):
			files = append(files, p)
		}
		return nil
	})
	if err != nil || !slices.Contains(files, "README.md") {
		t.Fatalf("Markdown files %v, %v", files, err)
	}
	return fsys, files
}

// TestDocsLinks: every relative link and anchor of the Markdown resolves.
func TestDocsLinks(t *testing.T) {
	t.Parallel()
	fsys, files := repoMarkdown(t)
	t.Logf("checking links of %d Markdown files: %s", len(files), strings.Join(files, " "))
	for _, p := range checkDocLinks(fsys, files) {
		t.Error(p)
	}
}

// TestDocsCommands: every documented exporter command line parses, every
// go test pattern names a test, and the commands that need no credentials
// run (not parallel itself: a check of a repository file sets variables).
func TestDocsCommands(t *testing.T) {
	fsys, files := repoMarkdown(t)
	problems, runs := checkDocCommands(fsys, files)
	for _, p := range problems {
		t.Error(p)
	}
	for _, r := range runs {
		t.Run(r.kind+"/"+strings.ReplaceAll(r.where, "/", "_"), func(t *testing.T) { runDocs(t, fsys, r) })
	}
}

// TestDocsConfigFixture: the header of config.example.yml creates what the
// file reads, so --config.check of it passes.
func TestDocsConfigFixture(t *testing.T) {
	runDocs(t, os.DirFS("."), &docsRun{kind: "check", where: "config.example.yml", file: "config.example.yml",
		args: []string{"--config.file=config.example.yml", "--config.check"}})
}

func TestDocsSlug(t *testing.T) {
	t.Parallel()
	for heading, want := range map[string]string{
		"Quick start":                                   "quick-start",
		"Estimating API use (`--config.check`)":         "estimating-api-use---configcheck",
		"Checking credentials (`--config.check.probe`)": "checking-credentials---configcheckprobe",
		"The simulator (`kore/koretest/`)":              "the-simulator-korekoretest",
		"1. Endpoints [doc]":                            "1-endpoints-doc",
		"Decoding Kore.ai's answers":                    "decoding-koreais-answers",
		"1000 bots × 5 windows":                         "1000-bots--5-windows",
		"Sizing: 10 … 1000 bots":                        "sizing-10--1000-bots",
		"[Linked](docs/x.md) `kore_task_*` metrics":     "linked-kore_task_-metrics",
	} {
		if got := githubSlug(heading); got != want {
			t.Errorf("slug of %q = %q, want %q", heading, got, want)
		}
	}
	_, anchors, _ := parseMarkdown("# Usage\n## Usage\n```sh\n# Usage\n```\n### Usage\n")
	if want := map[string]bool{"usage": true, "usage-1": true, "usage-2": true}; !maps.Equal(anchors, want) {
		t.Errorf("repeated headings: %v, want %v", anchors, want)
	}
}

// TestDocsCheckFailsOnBadDocs shows each check failing on a small bad
// document, and passing on its good twin.
func TestDocsCheckFailsOnBadDocs(t *testing.T) {
	t.Parallel()
	check := func(readme string) ([]string, []*docsRun) {
		fsys := fstest.MapFS{
			"README.md":        {Data: []byte(readme)},
			"docs/guide.md":    {Data: []byte("# Guide\n\n## Step one\n\n## Step one\n")},
			"kore.yml":         {Data: []byte("x")},
			"pkg/a_test.go":    {Data: []byte("package pkg\n\nfunc TestFoo(t *testing.T) {}\nfunc BenchmarkFold(b *testing.B) {}\nfunc FuzzParse(f *testing.F) {}\n")},
			"deploy/go.mod":    {Data: []byte("module deploy\n")},
			"deploy/d_test.go": {Data: []byte("package deploy\n\nfunc TestRules(t *testing.T) {}\n")},
		}
		problems, runs := checkDocCommands(fsys, []string{"README.md"})
		return append(checkDocLinks(fsys, []string{"README.md"}), problems...), runs
	}
	good := "# Top\n\n[a](docs/guide.md) [b](docs/guide.md#step-one) [c](docs/guide.md#step-one-1) [d](#top) ![e](docs/)\n" +
		"`[f](missing.md)` [g](https://example.com/missing.md#x) [h](mailto:a@b.c)\n\n```\n[i](missing.md#x)\n```\n\n" +
		"```sh\nkore_exporter --config.file=PATH --web.max-requests=N \\\n  --log.level=debug 2>&1 | tee log # --bogus\n" +
		"kore_exporter --config.file <your-file> --config.check\ngo run . --demo --web.listen-address=:$PORT\n" +
		"kore_exporter backfill --config.file=kore.yml --start=-8d --end=2025-06-10T09:00:00Z --dry-run\n" +
		"kore_exporter backfill --start=\"$START\" --output=history.om --label job=kore --label namespace=NS\n" +
		"docker run -p 10027:10027 -v ./k.yml:/etc/k.yml:ro kore_exporter --config.file=/etc/k.yml\n" +
		"cat > k.yml <<'YAML'\nkore_exporter --inside-a-heredoc\nYAML\n" +
		"go test -run 'Foo' ./pkg && go test -race -run '^(TestFoo|FuzzParse)$/case' -bench Fold ./...\n" +
		"(cd deploy && go test -run TestRules -v .)\ngo test -run '^$' -fuzz '^FuzzParse$' -fuzztime 3m ./pkg -args -x=1\n" +
		"set -- $t; go test -run \"^$1\\$\" \"$2\"\ncd deploy && go test -run TestRules .\n```\n\n" +
		"```text\nkore_exporter --wrong-on-purpose\n```\n\n```console\n$ kore_exporter --version\nkore_exporter --output-not-a-command\n```\n"
	for _, tc := range []struct {
		name, readme string
		want         []string // substrings of the one problem; none for a good document
	}{
		{"good", good, nil},
		{"bad link", "# Top\n\nSee [the guide](docs/guid.md).\n", []string{"README.md:3:", "[the guide](docs/guid.md)", "docs/guid.md does not exist"}},
		{"bad anchor", "[step](docs/guide.md#step-two)\n", []string{"README.md:1:", "no heading with anchor #step-two in docs/guide.md"}},
		{"bad duplicate-heading anchor", "[step](docs/guide.md#step-one-2)\n", []string{"#step-one-2"}},
		{"bad own anchor", "# Top\n[x](#bottom)\n", []string{"README.md:2:", "#bottom in README.md"}},
		{"unknown flag", "# Run\n\n```sh\nkore_exporter --config.file=kore.yml \\\n  --web.max-request=40\n```\n",
			[]string{"README.md:4:", "does not parse", "unknown long flag '--web.max-request'"}},
		{"unknown flag after a pipe", "```bash\nkore_exporter backfill --demo --start=-1d --output=- | kore_exporter --bogus\n```\n", []string{"README.md:2:", "--bogus"}},
		{"unknown flag after a heredoc", "```sh\ncat > k.yml <<'YAML'\nx: 1\nYAML\nkore_exporter --bogus\n```\n", []string{"README.md:5:", "--bogus"}},
		{"unknown flag in docker run", "```sh\ndocker run -p 1:1 kore_exporter --demo --nope\n```\n", []string{"--nope"}},
		{"bad value type", "```shell\ngo run . --web.max-requests=many\n```\n", []string{"README.md:2:", "--web.max-requests"}},
		{"bad backfill time", "```bash\nkore_exporter backfill --start=8d --dry-run\n```\n", []string{"--start"}},
		{"flag check", "```sh\nkore_exporter --demo.drop-off-surge\n```\n", []string{"needs --demo"}},
		{"bad test pattern", "```sh\ngo test -race -run 'TestFooBaz' -v ./pkg\n```\n", []string{"README.md:2:", `"TestFooBaz" matches no Test|Fuzz|Example function in ./pkg`}},
		{"bad alternative", "```console\n$ go test -run '^(TestFoo|TestGone)$' ./...\n```\n", []string{`"^(?:TestGone)$"`}},
		{"bad bench pattern", "```sh\ngo test -run '^$' -bench=Folding ./pkg\n```\n", []string{"-bench", "Benchmark"}},
		{"bad fuzz pattern", "```sh\ngo test -fuzz FuzzDecode ./pkg\n```\n", []string{"FuzzDecode"}},
		{"bad pattern in a code span", "| a | `go test -run '^(TestFoo\\|TestGone)$' ./pkg` |\n", []string{"README.md:1:", `"^(?:TestGone)$"`}},
		{"cd lasts for the block", "```sh\ncd deploy\ngo test -run TestFoo .\n```\n", []string{"README.md:3:", "TestFoo", "(in deploy)"}},
		{"( cd ) is scoped", "```sh\n(cd deploy && go test -run TestRules .) && go test -run TestRules .\n```\n", []string{"TestRules", "(in .)"}},
		{"missing package", "```sh\ngo test -run TestFoo ./pkgs\n```\n", []string{"README.md:2:", "./pkgs", "does not exist"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := check(tc.readme)
			if len(tc.want) == 0 && len(got) > 0 || len(tc.want) > 0 && len(got) != 1 {
				t.Fatalf("want %d problem(s) with %q, got:\n%s", min(len(tc.want), 1), tc.want, strings.Join(got, "\n"))
			}
			for _, w := range tc.want {
				if !strings.Contains(got[0], w) {
					t.Errorf("problem lacks %q:\n%s", w, got[0])
				}
			}
		})
	}
	// What runs: a demo, a check of a repository file, a backfill of the
	// demo; not the reader's own file, placeholders, docker, another cwd.
	_, runs := check("```sh\nkore_exporter --demo\nkore_exporter --config.file=kore.yml --config.check\n" +
		"kore_exporter --config.file=mine.yml --config.check\nkore_exporter backfill --demo --start=-2h --output=h.om\n" +
		"kore_exporter --demo --web.listen-address=ADDR\ndocker run kore_exporter --demo\n(cd deploy && kore_exporter --demo)\n```\n")
	var got []string
	for _, r := range runs {
		got = append(got, fmt.Sprintf("%s %s %s", r.kind, r.where, r.file))
	}
	if want := []string{"demo README.md:2 ", "check README.md:3 kore.yml", "backfill README.md:5 "}; !slices.Equal(got, want) {
		t.Errorf("runs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
