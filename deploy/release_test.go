package deploy_test

// The release (deploy/release, .github/workflows/release.yml), checked
// offline: the release tool builds every target in snapshot mode and its
// archives, packages and checksums are read back; the workflow passes
// actionlint; the image it pushes is the Helm chart's default image; and a
// plain `go build` in a git checkout prints the tag's version, not "(devel)".

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rhysd/actionlint"
	"gopkg.in/yaml.v3"
)

const (
	workflowFile = "../.github/workflows/release.yml"
	releaseImage = "ghcr.io/kore-exporter/kore_exporter"
)

// releaseTargets are the GOOS/GOARCH pairs the release must cover.
var releaseTargets = [][2]string{
	{"linux", "amd64"}, {"linux", "arm64"},
	{"darwin", "amd64"}, {"darwin", "arm64"},
	{"windows", "amd64"}, {"windows", "arm64"},
}

// buildReleaseTool builds deploy/release and returns its path.
func buildReleaseTool(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the release tool (go build ./release): skipped with -short")
	}
	tool := filepath.Join(t.TempDir(), "release")
	if out, err := exec.Command("go", "build", "-o", tool, "./release").CombinedOutput(); err != nil {
		t.Fatalf("go build ./release: %v\n%s", err, out)
	}
	return tool
}

func TestReleaseSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds six binaries")
	}
	tool := buildReleaseTool(t)
	out := filepath.Join(t.TempDir(), "dist")
	const (
		version  = "1.2.3-rc.1"
		revision = "0123456789abcdef0123456789abcdef01234567"
		branch   = "v1.2.3-rc.1"
		user     = "releaser@test"
		date     = "20261201-10:20:30"
	)
	start := time.Now()
	cmd := exec.Command(tool, "--snapshot", "--root=..", "--out="+out, "--version=v"+version,
		"--revision="+revision, "--branch="+branch, "--build-user="+user, "--build-date="+date)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release: %v\n%s", err, msg)
	}
	t.Logf("snapshot release of %d targets: %s", len(releaseTargets), time.Since(start).Round(100*time.Millisecond))

	// Exactly the expected files.
	var want []string
	for _, tg := range releaseTargets {
		stem := fmt.Sprintf("kore_exporter_%s_%s_%s", version, tg[0], tg[1])
		if tg[0] == "windows" {
			want = append(want, stem+".zip")
		} else {
			want = append(want, stem+".tar.gz")
		}
		if tg[0] == "linux" {
			want = append(want, stem+".deb", stem+".rpm")
		}
	}
	want = append(want, "checksums.txt")
	slices.Sort(want)
	var got []string
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("dist holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	t.Run("checksums", func(t *testing.T) {
		sums, err := os.ReadFile(filepath.Join(out, "checksums.txt"))
		if err != nil {
			t.Fatal(err)
		}
		var listed []string
		for line := range strings.Lines(string(sums)) {
			sum, name, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "  ")
			if !ok {
				t.Fatalf("checksums.txt: %q is not sha256sum's format", line)
			}
			data, err := os.ReadFile(filepath.Join(out, name))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%x", sha256.Sum256(data)) != sum {
				t.Errorf("checksums.txt: %s does not match", name)
			}
			listed = append(listed, name)
		}
		if w := slices.DeleteFunc(slices.Clone(want), func(n string) bool { return n == "checksums.txt" }); !slices.Equal(listed, w) {
			t.Errorf("checksums.txt lists %v, want %v", listed, w)
		}
	})

	t.Run("archives", func(t *testing.T) {
		for _, tg := range releaseTargets {
			folder := fmt.Sprintf("kore_exporter_%s_%s_%s", version, tg[0], tg[1])
			bin := "kore_exporter"
			var files map[string][]byte
			if tg[0] == "windows" {
				bin += ".exe"
				files = readZip(t, filepath.Join(out, folder+".zip"))
			} else {
				files = readTarGz(t, filepath.Join(out, folder+".tar.gz"))
			}
			var names []string
			for name := range files {
				names = append(names, name)
			}
			slices.Sort(names)
			wantNames := []string{bin, "CHANGELOG.md", "LICENSE", "README.md", "config.example.yml"}
			for i := range wantNames {
				wantNames[i] = folder + "/" + wantNames[i]
			}
			slices.Sort(wantNames)
			if !slices.Equal(names, wantNames) {
				t.Errorf("%s holds %v, want %v", folder, names, wantNames)
				continue
			}
			for _, f := range []string{"LICENSE", "config.example.yml"} {
				if repo, err := os.ReadFile(filepath.Join("..", f)); err != nil || !bytes.Equal(repo, files[folder+"/"+f]) {
					t.Errorf("%s/%s is not the repository's (%v)", folder, f, err)
				}
			}
			checkBinary(t, folder, tg[0], tg[1], files[folder+"/"+bin])
			if tg[0] == runtime.GOOS && tg[1] == runtime.GOARCH {
				path := filepath.Join(t.TempDir(), bin)
				if err := os.WriteFile(path, files[folder+"/"+bin], 0o755); err != nil {
					t.Fatal(err)
				}
				v, err := exec.Command(path, "--version").CombinedOutput()
				if err != nil {
					t.Fatalf("%s --version: %v\n%s", bin, err, v)
				}
				for _, w := range []string{"version " + version + " ", "branch: " + branch, "revision: " + revision, "build user:       " + user, "build date:       " + date} {
					if !strings.Contains(string(v), w) {
						t.Errorf("%s --version prints\n%s\nwant %q in it", folder, v, w)
					}
				}
			}
		}
	})

	packaged := map[string]string{
		"/usr/bin/kore_exporter":                        "",
		"/etc/kore_exporter/config.yml":                 "../config.example.yml",
		"/usr/lib/systemd/system/kore_exporter.service": "packaging/kore_exporter.service",
	}
	postinst, err := os.ReadFile("packaging/postinstall.sh")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("deb", func(t *testing.T) {
		for _, arch := range []string{"amd64", "arm64"} {
			name := fmt.Sprintf("kore_exporter_%s_linux_%s.deb", version, arch)
			ar := readAr(t, filepath.Join(out, name))
			if string(ar["debian-binary"]) != "2.0\n" {
				t.Errorf("%s: debian-binary %q", name, ar["debian-binary"])
			}
			control := readTarGzBytes(t, name+" control.tar.gz", ar["control.tar.gz"])
			fields := map[string]string{}
			for line := range strings.Lines(string(control["./control"])) {
				if k, v, ok := strings.Cut(line, ": "); ok {
					fields[k] = strings.TrimSpace(v)
				}
			}
			// Debian orders a pre-release before its release with "~".
			wantFields := map[string]string{"Package": "kore-exporter", "Version": "1.2.3~rc.1", "Architecture": arch}
			for k, v := range wantFields {
				if fields[k] != v {
					t.Errorf("%s: control %s: %q, want %q", name, k, fields[k], v)
				}
			}
			if got := strings.TrimSpace(string(control["./conffiles"])); got != "/etc/kore_exporter/config.yml" {
				t.Errorf("%s: conffiles %q, want the configuration only", name, got)
			}
			if !bytes.Equal(control["./postinst"], postinst) {
				t.Errorf("%s: postinst is not packaging/postinstall.sh", name)
			}
			if _, ok := control["./prerm"]; !ok {
				t.Errorf("%s: no prerm", name)
			}
			data := readTarGzBytes(t, name+" data.tar.gz", ar["data.tar.gz"])
			for dst, src := range packaged {
				content, ok := data["."+dst]
				switch {
				case !ok:
					t.Errorf("%s: no %s", name, dst)
				case src == "":
					checkBinary(t, name, "linux", arch, content)
				default:
					if repo, err := os.ReadFile(src); err != nil || !bytes.Equal(repo, content) {
						t.Errorf("%s: %s is not %s (%v)", name, dst, src, err)
					}
				}
			}
		}
	})

	t.Run("rpm", func(t *testing.T) {
		for arch, rpmArch := range map[string]string{"amd64": "x86_64", "arm64": "aarch64"} {
			name := fmt.Sprintf("kore_exporter_%s_linux_%s.rpm", version, arch)
			data, err := os.ReadFile(filepath.Join(out, name))
			if err != nil {
				t.Fatal(err)
			}
			strs, ints, err := rpmHeader(data)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			const (
				tagName, tagVersion, tagArch, tagPostIn = 1000, 1001, 1022, 1024
				tagFileFlags, tagDirIndexes             = 1037, 1116
				tagBaseNames, tagDirNames               = 1117, 1118
				fileConfig, fileNoReplace               = 1 << 0, 1 << 4
			)
			for tag, want := range map[int]string{tagName: "kore-exporter", tagVersion: "1.2.3~rc.1", tagArch: rpmArch} {
				if got := strings.Join(strs[tag], ","); got != want {
					t.Errorf("%s: header tag %d is %q, want %q", name, tag, got, want)
				}
			}
			if got := strings.Join(strs[tagPostIn], ""); !strings.Contains(got, "useradd --system") {
				t.Errorf("%s: the post-install script does not create the user:\n%s", name, got)
			}
			paths := map[string]int32{}
			base, dirs, idx, flags := strs[tagBaseNames], strs[tagDirNames], ints[tagDirIndexes], ints[tagFileFlags]
			if len(idx) != len(base) || len(flags) != len(base) {
				t.Fatalf("%s: %d base names, %d directory indexes, %d file flags", name, len(base), len(idx), len(flags))
			}
			for i, b := range base {
				paths[dirs[idx[i]]+b] = flags[i]
			}
			for dst := range packaged {
				if _, ok := paths[dst]; !ok {
					t.Errorf("%s: no %s in %v", name, dst, paths)
				}
			}
			if f := paths["/etc/kore_exporter/config.yml"]; f&(fileConfig|fileNoReplace) != fileConfig|fileNoReplace {
				t.Errorf("%s: the configuration's flags are %#x, want %%config(noreplace)", name, f)
			}
		}
	})
}

// TestReleaseRefusesUntaggedOrChartMismatch: without --snapshot the tool
// releases only a tagged, clean commit whose chart names the version.
func TestReleaseRefusesUntaggedOrChartMismatch(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	tool := buildReleaseTool(t)
	root := t.TempDir()
	chart := filepath.Join(root, "deploy/helm/kore-exporter")
	if err := os.MkdirAll(chart, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, body := range map[string]string{
		"Chart.yaml":  "appVersion: \"0.1.0\"\n",
		"values.yaml": "image:\n  repository: " + releaseImage + "\n  tag: \"\"\n",
	} {
		if err := os.WriteFile(filepath.Join(chart, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitRun(t, root, "init", "-q")
	gitRun(t, root, "add", ".")
	gitRun(t, root, "commit", "-q", "-m", "chart")
	try := func(version, want string) {
		t.Helper()
		msg, err := exec.Command(tool, "--root="+root, "--out="+filepath.Join(t.TempDir(), "dist"), "--version="+version).CombinedOutput()
		if err == nil || !strings.Contains(string(msg), want) {
			t.Errorf("release --version=%s: %v\n%s\nwant a refusal naming %q", version, err, msg, want)
		}
	}
	try("0.1.0", "tag v0.1.0 is not the checked-out commit")
	gitRun(t, root, "tag", "v0.2.0")
	try("0.2.0", `appVersion "0.1.0"`)
	try("not-semver", "want a semantic version")
}

func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestWorkflowLint runs actionlint on every workflow; shellcheck and
// pyflakes check the scripts too where they are installed. actionlint v1.7.7
// (the newest that builds beside compose-go's YAML library) knows the
// actions' inputs only up to some major versions: a second pass lints each
// workflow with every newer major replaced by the newest one it knows, so
// that a misspelt input of a pinned action still fails.
func TestWorkflowLint(t *testing.T) {
	paths, err := filepath.Glob("../.github/workflows/*.y*ml")
	if err != nil || !slices.Contains(paths, workflowFile) {
		t.Fatalf("workflows %v (%v), want %s among them", paths, err, workflowFile)
	}
	opts := &actionlint.LinterOptions{}
	if p, err := exec.LookPath("shellcheck"); err == nil {
		opts.Shellcheck = p
	} else if os.Getenv("CI") == "true" {
		t.Fatal("shellcheck is not installed: .ci/run installs Debian's shellcheck")
	} else {
		t.Log("shellcheck is not installed: the run: scripts are not checked by it")
	}
	if p, err := exec.LookPath("pyflakes"); err == nil {
		opts.Pyflakes = p
	}
	uses := regexp.MustCompile(`(?m)^(\s*-?\s*uses:\s*)([\w.-]+/[\w./-]+)@v(\d+)\s*$`)
	for _, path := range paths {
		content, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		known := uses.ReplaceAllFunc(content, func(m []byte) []byte {
			g := uses.FindSubmatch(m)
			action := string(g[2])
			if _, ok := actionlint.PopularActions[fmt.Sprintf("%s@v%s", action, g[3])]; ok {
				return m
			}
			for v, _ := strconv.Atoi(string(g[3])); v > 0; v-- {
				if _, ok := actionlint.PopularActions[fmt.Sprintf("%s@v%d", action, v)]; ok {
					return fmt.Appendf(nil, "%s%s@v%d", g[1], action, v)
				}
			}
			return m
		})
		for _, c := range [][]byte{content, known} {
			var out bytes.Buffer
			linter, err := actionlint.NewLinter(&out, opts)
			if err != nil {
				t.Fatal(err)
			}
			errs, err := linter.Lint(path, c, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(errs) > 0 {
				t.Errorf("actionlint: %d errors:\n%s", len(errs), out.String())
			}
			if bytes.Equal(c, known) {
				break
			}
		}
	}
}

// TestChartImageIsTheReleasedImage: the chart's default image (image.tag
// empty: the appVersion) is the one the workflow pushes for the tag
// v<appVersion>, and the release tool's name for it.
func TestChartImageIsTheReleasedImage(t *testing.T) {
	var wf struct {
		On struct {
			Push struct{ Tags []string }
		}
		Env  map[string]string
		Jobs map[string]struct {
			Steps []struct {
				ID   string
				Uses string
				Run  string
				With map[string]string
			}
		}
	}
	var values struct {
		Image struct{ Repository, Tag string }
	}
	var chartMeta struct {
		AppVersion string `yaml:"appVersion"`
	}
	for path, into := range map[string]any{workflowFile: &wf, chartDir + "/values.yaml": &values, chartDir + "/Chart.yaml": &chartMeta} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, into); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if !slices.Equal(wf.On.Push.Tags, []string{"v*"}) {
		t.Errorf("the workflow runs on tags %v, want [v*]", wf.On.Push.Tags)
	}
	if wf.Env["IMAGE"] != releaseImage || values.Image.Repository != releaseImage || values.Image.Tag != "" {
		t.Errorf("workflow IMAGE %q, chart image.repository %q and image.tag %q: want %q, %q and empty",
			wf.Env["IMAGE"], values.Image.Repository, values.Image.Tag, releaseImage, releaseImage)
	}
	// The version is the tag without its v, for the image and the tool alike.
	var version, push, tool string
	for _, s := range wf.Jobs["release"].Steps {
		switch {
		case s.ID == "version":
			version = s.Run
		case strings.HasPrefix(s.Uses, "docker/build-push-action@"):
			push = s.With["tags"] + "\n" + s.With["platforms"] + "\n" + s.With["build-args"]
		case strings.Contains(s.Run, "go run ./release"):
			tool = s.Run
		}
	}
	if !strings.Contains(version, `version="${GITHUB_REF_NAME#v}"`) {
		t.Errorf("the version step does not strip the tag's v:\n%s", version)
	}
	for _, w := range []string{
		"${{ env.IMAGE }}:${{ steps.version.outputs.version }}\n",
		"format('{0}:latest', env.IMAGE)",
		"linux/amd64,linux/arm64",
		"VERSION=${{ steps.version.outputs.version }}\n",
	} {
		if !strings.Contains(push, w) {
			t.Errorf("the image build-push step lacks %q:\n%s", w, push)
		}
	}
	if !strings.Contains(tool, `--version="$VERSION"`) {
		t.Errorf("the release tool's step does not pass the version:\n%s", tool)
	}
	// Every build-arg is an ARG of the Dockerfile.
	dockerfile, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(push) {
		if k, _, ok := strings.Cut(line, "="); ok && regexp.MustCompile(`^[A-Z_]+$`).MatchString(k) &&
			!regexp.MustCompile(`(?m)^ARG `+k+`(=|$)`).Match(dockerfile) {
			t.Errorf("build-arg %s is no ARG of the Dockerfile", k)
		}
	}

	if !regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(chartMeta.AppVersion) {
		t.Fatalf("appVersion %q is not a version the release takes (a tag v<appVersion>)", chartMeta.AppVersion)
	}
	wantImage := releaseImage + ":" + chartMeta.AppVersion
	out, err := exec.Command(buildReleaseTool(t), "--print-image", "--version=v"+chartMeta.AppVersion).Output()
	if err != nil || strings.TrimSpace(string(out)) != wantImage {
		t.Errorf("release --print-image: %q (%v), want %q", out, err, wantImage)
	}
	pod, _ := mustRender(t, nil).pod(t)
	if got := pod.Spec.Containers[0].Image; got != wantImage {
		t.Errorf("the chart's default image is %q, want %q", got, wantImage)
	}
}

// TestVersionFromBuildInfo: a plain `go build` (VCS stamping on, Go's
// default) in a git checkout prints the tag's version, or a pseudo-version
// past it, with the commit; without VCS information, "unknown".
func TestVersionFromBuildInfo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the exporter: skipped with -short")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	src := t.TempDir()
	// The root module's sources: its go files, without tests, and go.mod/go.sum.
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("..", path)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || rel == "deploy" || rel == "dist") {
				return filepath.SkipDir
			}
			return nil
		}
		if (!strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go")) && rel != "go.mod" && rel != "go.sum" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dst := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	gitRun(t, src, "init", "-q")
	gitRun(t, src, "add", ".")
	gitRun(t, src, "commit", "-q", "-m", "sources")
	gitRun(t, src, "tag", "v1.8.7")
	bin := filepath.Join(t.TempDir(), "kore_exporter")
	versionOf := func(buildvcs string) string {
		t.Helper()
		build := exec.Command("go", "build", "-o", bin, ".")
		build.Dir = src
		// GOFLAGS from the environment or `go env -w` must not turn stamping off.
		build.Env = append(os.Environ(), "GOFLAGS=-buildvcs="+buildvcs)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		out, err := exec.Command(bin, "--version").CombinedOutput()
		if err != nil {
			t.Fatalf("--version: %v\n%s", err, out)
		}
		return string(out)
	}
	head := gitRun(t, src, "rev-parse", "HEAD")
	if v := versionOf("auto"); !strings.Contains(v, "version v1.8.7 ") || !strings.Contains(v, "revision: "+head) {
		t.Errorf("at tag v1.8.7 (%s), --version prints\n%s", head, v)
	}
	gitRun(t, src, "commit", "-q", "--allow-empty", "-m", "after the tag")
	head = gitRun(t, src, "rev-parse", "HEAD")
	pseudo := regexp.MustCompile(`version v1\.8\.8-0\.\d{14}-` + head[:12] + ` `)
	if v := versionOf("auto"); !pseudo.MatchString(v) || !strings.Contains(v, "revision: "+head) {
		t.Errorf("a commit past v1.8.7 (%s): --version prints\n%s\nwant %s", head, v, pseudo)
	}
	if v := versionOf("false"); !strings.Contains(v, "version unknown ") || strings.Contains(v, "(devel)") {
		t.Errorf("without VCS information, --version prints\n%s\nwant version unknown", v)
	}
}

// checkBinary checks that a binary is for the target, and static on Linux.
func checkBinary(t *testing.T, where, goos, goarch string, data []byte) {
	t.Helper()
	r := bytes.NewReader(data)
	var err error
	switch goos {
	case "linux":
		var f *elf.File
		if f, err = elf.NewFile(r); err == nil {
			want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[goarch]
			if f.Machine != want {
				err = fmt.Errorf("machine %v, want %v", f.Machine, want)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					err = errors.New("dynamically linked (CGO_ENABLED=0 builds a static binary)")
				}
			}
		}
	case "darwin":
		var f *macho.File
		if f, err = macho.NewFile(r); err == nil {
			if want := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[goarch]; f.Cpu != want {
				err = fmt.Errorf("cpu %v, want %v", f.Cpu, want)
			}
		}
	case "windows":
		var f *pe.File
		if f, err = pe.NewFile(r); err == nil {
			if want := map[string]uint16{"amd64": pe.IMAGE_FILE_MACHINE_AMD64, "arm64": pe.IMAGE_FILE_MACHINE_ARM64}[goarch]; f.Machine != want {
				err = fmt.Errorf("machine %#x, want %#x", f.Machine, want)
			}
		}
	}
	if err != nil {
		t.Errorf("%s: the binary for %s/%s: %v", where, goos, goarch, err)
	}
}

func readTarGz(t *testing.T, path string) map[string][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return readTarGzBytes(t, filepath.Base(path), data)
}

// readTarGzBytes returns a tar.gz's regular files by name; a binary must be
// executable (0755), any other file 0644.
func readTarGzBytes(t *testing.T, name string, data []byte) map[string][]byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if files[hdr.Name], err = io.ReadAll(tr); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.HasSuffix(hdr.Name, "bin/kore_exporter") || strings.HasSuffix(hdr.Name, "/kore_exporter") {
			if hdr.Mode != 0o755 {
				t.Errorf("%s: %s has mode %o, want 755", name, hdr.Name, hdr.Mode)
			}
		}
	}
}

func readZip(t *testing.T, path string) map[string][]byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name], err = io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// readAr returns the members of an ar archive (a .deb) by name.
func readAr(t *testing.T, path string) map[string][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("!<arch>\n")) {
		t.Fatalf("%s: not an ar archive", path)
	}
	members := map[string][]byte{}
	for rest := data[8:]; len(rest) >= 60; {
		name := strings.TrimSuffix(strings.TrimSpace(string(rest[:16])), "/")
		size, err := strconv.Atoi(strings.TrimSpace(string(rest[48:58])))
		if err != nil || 60+size > len(rest) {
			t.Fatalf("%s: bad member header %q", path, rest[:60])
		}
		members[name] = rest[60 : 60+size]
		rest = rest[60+size+size%2:]
	}
	return members
}

// rpmHeader reads an RPM's main header (after the lead and the signature
// header): its string tags (STRING, STRING_ARRAY, I18NSTRING) and INT32 tags.
func rpmHeader(data []byte) (map[int][]string, map[int][]int32, error) {
	if len(data) < 96 || !bytes.Equal(data[:4], []byte{0xed, 0xab, 0xee, 0xdb}) {
		return nil, nil, errors.New("no RPM lead")
	}
	strs, ints := map[int][]string{}, map[int][]int32{}
	off := 96
	for i := range 2 { // the signature header, then the main header
		if len(data) < off+16 || !bytes.Equal(data[off:off+3], []byte{0x8e, 0xad, 0xe8}) {
			return nil, nil, fmt.Errorf("no header at %d", off)
		}
		n := int(binary.BigEndian.Uint32(data[off+8:]))
		size := int(binary.BigEndian.Uint32(data[off+12:]))
		index, store := off+16, off+16+16*n
		if store+size > len(data) {
			return nil, nil, errors.New("truncated header")
		}
		if i == 0 {
			off = (store + size + 7) &^ 7 // the signature header is padded to 8 bytes
			continue
		}
		for e := range n {
			entry := data[index+16*e:]
			tag, typ := int(binary.BigEndian.Uint32(entry)), binary.BigEndian.Uint32(entry[4:])
			at, count := int(binary.BigEndian.Uint32(entry[8:])), int(binary.BigEndian.Uint32(entry[12:]))
			if at >= size {
				return nil, nil, fmt.Errorf("tag %d: offset out of the store", tag)
			}
			value := data[store+at : store+size]
			switch typ {
			case 4: // INT32
				for j := range count {
					ints[tag] = append(ints[tag], int32(binary.BigEndian.Uint32(value[4*j:])))
				}
			case 6, 8, 9: // STRING, STRING_ARRAY, I18NSTRING
				for range count {
					s, rest, _ := bytes.Cut(value, []byte{0})
					strs[tag] = append(strs[tag], string(s))
					value = rest
				}
			}
		}
	}
	return strs, ints, nil
}
