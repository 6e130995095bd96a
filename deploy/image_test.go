package deploy_test

// The container image, built for real and offline, without Docker: the
// Dockerfile is read with BuildKit's parser, its build stage's `go build`
// runs on the host with the same arguments and environment in a copy of the
// build context (.dockerignore applied), and its final stage's files and
// configuration are written as an OCI image layout with go-containerregistry.
// The image is then read back, its filesystem extracted as a runtime would,
// and the binary taken out of it is run: --version prints the injected
// version, --demo serves task metrics.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// versionArgs maps each variable of prometheus/common/version that the
// build must set to the build ARG it comes from.
var versionArgs = []struct{ variable, arg string }{
	{"Version", "VERSION"},
	{"Revision", "REVISION"},
	{"Branch", "BRANCH"},
	{"BuildUser", "BUILD_USER"},
	{"BuildDate", "BUILD_DATE"},
}

// testBuildArgs are the --build-arg values of the test build.
var testBuildArgs = map[string]string{
	"VERSION":    "1.2.3-test",
	"REVISION":   "0123456789abcdef-test",
	"BRANCH":     "image-test",
	"BUILD_USER": "ci@image-test",
	"BUILD_DATE": "20261130-11:05:00",
	"TARGETOS":   "linux",
	"TARGETARCH": runtime.GOARCH,
}

// wantGoBuild is the build stage's `go build` with testBuildArgs: a change
// of the Dockerfile's build flags must come with a change here.
var wantGoBuild = []string{"go", "build", "-trimpath", "-ldflags", "-s -w" +
	" -X github.com/prometheus/common/version.Version=1.2.3-test" +
	" -X github.com/prometheus/common/version.Revision=0123456789abcdef-test" +
	" -X github.com/prometheus/common/version.Branch=image-test" +
	" -X github.com/prometheus/common/version.BuildUser=ci@image-test" +
	" -X github.com/prometheus/common/version.BuildDate=20261130-11:05:00",
	"-o", "/out/kore_exporter", "."}

// goBuildStep is the build stage's `go build` as the Dockerfile runs it.
type goBuildStep struct {
	env    []string // the stage's ENV, expanded: KEY=value
	argv   []string // the command, expanded: go build ...
	output string   // the -o path inside the build stage
}

// vars is the variables a stage sees: its ARGs (with build args) and ENVs.
type vars map[string]string

func (v vars) Get(k string) (string, bool) { s, ok := v[k]; return s, ok }
func (v vars) Keys() []string {
	var ks []string
	for k := range v {
		ks = append(ks, k)
	}
	return ks
}

// stageVars declares an ARG in a stage: the build arg, else the ARG's
// default, else the global ARG's default.
func stageVars(d *dockerfile, c *instructions.ArgCommand, v vars, buildArgs map[string]string, lex *shell.Lex) error {
	for _, kv := range c.Args {
		val, ok := buildArgs[kv.Key]
		if !ok && kv.Value != nil {
			w, _, err := lex.ProcessWord(*kv.Value, v)
			if err != nil {
				return err
			}
			val, ok = w, true
		}
		if !ok {
			val, _ = d.metaArgDefault(kv.Key)
		}
		v[kv.Key] = val
	}
	return nil
}

// goBuild interprets the build stage: ARG, ENV, WORKDIR, COPY from the
// context, `RUN go mod download` (which go build repeats) and one
// `RUN go build ...`; anything else is an error, so that the image test
// never silently builds something other than what `docker build` builds.
func goBuild(d *dockerfile, buildArgs map[string]string) (*goBuildStep, error) {
	s := d.stage("build")
	if s == nil {
		return nil, errors.New("Dockerfile: no stage named build")
	}
	lex := shell.NewLex('\\')
	v := vars{}
	var env []string
	var step *goBuildStep
	contextCopied := false
	for _, c := range s.Commands {
		line := c.Location()[0].Start.Line
		switch c := c.(type) {
		case *instructions.ArgCommand:
			if err := stageVars(d, c, v, buildArgs, lex); err != nil {
				return nil, err
			}
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				w, _, err := lex.ProcessWord(kv.Value, v)
				if err != nil {
					return nil, fmt.Errorf("Dockerfile:%d: %w", line, err)
				}
				v[kv.Key] = w
				env = append(env, kv.Key+"="+w)
			}
		case *instructions.WorkdirCommand:
		case *instructions.CopyCommand:
			if c.From != "" {
				return nil, fmt.Errorf("Dockerfile:%d: the image test cannot reproduce COPY --from in the build stage", line)
			}
			if slices.Equal(c.SourcePaths, []string{"."}) {
				contextCopied = true
			}
		case *instructions.RunCommand:
			if !c.PrependShell || len(c.CmdLine) != 1 {
				return nil, fmt.Errorf("Dockerfile:%d: the image test reproduces shell-form RUN only", line)
			}
			argv, err := lex.ProcessWords(c.CmdLine[0], v)
			if err != nil {
				return nil, fmt.Errorf("Dockerfile:%d: %w", line, err)
			}
			switch {
			case slices.Equal(argv, []string{"go", "mod", "download"}):
			case len(argv) > 2 && argv[0] == "go" && argv[1] == "build" && step == nil:
				if !contextCopied {
					return nil, fmt.Errorf("Dockerfile:%d: go build before COPY . .", line)
				}
				step = &goBuildStep{argv: argv}
			default:
				return nil, fmt.Errorf("Dockerfile:%d: the image test cannot reproduce RUN %q; teach deploy/image_test.go", line, c.CmdLine[0])
			}
		default:
			return nil, fmt.Errorf("Dockerfile:%d: the image test cannot reproduce %s in the build stage", line, strings.ToUpper(c.Name()))
		}
	}
	if step == nil {
		return nil, errors.New("Dockerfile: the build stage runs no go build")
	}
	step.env = env
	return step, step.check(v)
}

// check holds the rules of the build: static (CGO_ENABLED=0), trimmed, the
// version variables set from the build ARGs, one output file.
func (s *goBuildStep) check(v vars) error {
	var errs []error
	if v["CGO_ENABLED"] != "0" {
		errs = append(errs, errors.New("Dockerfile: the build stage's ENV does not set CGO_ENABLED=0"))
	}
	if !slices.Contains(s.argv, "-trimpath") {
		errs = append(errs, errors.New("Dockerfile: go build without -trimpath"))
	}
	var ldflags []string
	for i, a := range s.argv {
		switch {
		case a == "-ldflags" && i+1 < len(s.argv):
			ldflags = strings.Fields(s.argv[i+1])
		case a == "-o" && i+1 < len(s.argv):
			s.output = s.argv[i+1]
		}
	}
	for _, va := range versionArgs {
		x := "github.com/prometheus/common/version." + va.variable + "=" + v[va.arg]
		found := false
		for i := 0; i+1 < len(ldflags); i++ {
			found = found || ldflags[i] == "-X" && ldflags[i+1] == x
		}
		if !found {
			errs = append(errs, fmt.Errorf("Dockerfile: go build -ldflags does not set github.com/prometheus/common/version.%s from ARG %s", va.variable, va.arg))
		}
	}
	if !path.IsAbs(s.output) {
		errs = append(errs, fmt.Errorf("Dockerfile: go build -o %q: want an absolute path", s.output))
	}
	return errors.Join(errs...)
}

// imageFile is one file of the final stage: where it comes from on this
// host, and where it goes in the image.
type imageFile struct{ src, dst string }

// finalStage interprets the final stage: its files (COPY --from=build) and
// its image configuration.
func finalStage(d *dockerfile, build *goBuildStep, binary string, buildArgs map[string]string) ([]imageFile, v1.Config, error) {
	f := d.final()
	lex := shell.NewLex('\\')
	v := vars{}
	// BuildKit's default for an image without one.
	cfg := v1.Config{Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}
	if f.BaseName != "scratch" {
		return nil, cfg, fmt.Errorf("Dockerfile: the image test builds FROM scratch only, not %s", f.BaseName)
	}
	var files []imageFile
	for _, c := range f.Commands {
		line := c.Location()[0].Start.Line
		switch c := c.(type) {
		case *instructions.ArgCommand:
			if err := stageVars(d, c, v, buildArgs, lex); err != nil {
				return nil, cfg, err
			}
		case *instructions.LabelCommand:
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			for _, kv := range c.Labels {
				w, _, err := lex.ProcessWord(kv.Value, v)
				if err != nil {
					return nil, cfg, err
				}
				cfg.Labels[kv.Key] = w
			}
		case *instructions.CopyCommand:
			if c.From != "build" || len(c.SourcePaths) != 1 || c.Chown != "" || c.Chmod != "" {
				return nil, cfg, fmt.Errorf("Dockerfile:%d: the image test reproduces COPY --from=build SRC DST only", line)
			}
			src := c.SourcePaths[0]
			if src == build.output {
				src = binary
			} else if !strings.HasPrefix(src, "/etc/ssl/certs/") {
				// The golang image is Debian, as this host: its CA bundle is
				// the same package's. Other files have no host counterpart.
				return nil, cfg, fmt.Errorf("Dockerfile:%d: the image test does not know where to get %s", line, src)
			}
			files = append(files, imageFile{src: src, dst: c.DestPath})
		case *instructions.UserCommand:
			cfg.User = c.User
		case *instructions.ExposeCommand:
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range c.Ports {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				cfg.ExposedPorts[p] = struct{}{}
			}
		case *instructions.EntrypointCommand:
			cfg.Entrypoint = c.CmdLine
		case *instructions.CmdCommand:
			cfg.Cmd = c.CmdLine
		default:
			return nil, cfg, fmt.Errorf("Dockerfile:%d: the image test cannot reproduce %s in the final stage", line, strings.ToUpper(c.Name()))
		}
	}
	return files, cfg, nil
}

// copyContext copies the build context (the repository without what
// .dockerignore excludes) to dst.
func copyContext(t *testing.T, root, dst string) {
	t.Helper()
	patterns, err := ignorefile.ReadAll(bytes.NewReader(readFile(t, filepath.Join(root, ".dockerignore"))))
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		if m, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel)); err != nil || m {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return err
		}
		if e.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !e.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// goTool returns the go command on PATH.
func goTool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("the image test needs the Go toolchain: go is not on PATH")
	}
	return p
}

// layerTar is the image's one layer: the files with their parent
// directories, owned by root as COPY without --chown makes them.
func layerTar(files []imageFile) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	mtime := time.Unix(0, 0)
	for _, f := range files {
		var parents []string
		for d := path.Dir(f.dst); d != "/"; d = path.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if !dirs[d] {
				dirs[d] = true
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
					return nil, err
				}
			}
		}
		b, err := os.ReadFile(f.src)
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(f.src)
		if err != nil {
			return nil, err
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.dst, "/"), Mode: int64(st.Mode().Perm()), Size: int64(len(b)), ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, err
		}
	}
	err := tw.Close()
	return buf.Bytes(), err
}

// TestImage builds the image offline, reads it back and runs its binary.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the exporter")
	}
	for _, f := range []string{"/etc/ssl/certs/ca-certificates.crt"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("the image takes the CA certificates from this host: %v (install Debian's ca-certificates; .ci/run does)", err)
		}
	}
	d, err := parseDockerfile(readFile(t, dockerfilePath))
	if err != nil {
		t.Fatal(err)
	}
	build, err := goBuild(d, testBuildArgs)
	if err != nil {
		t.Fatal(err)
	}
	// The Dockerfile's line continuations leave runs of spaces inside
	// -ldflags, which go splits on any white space.
	if !slices.EqualFunc(build.argv, wantGoBuild, func(a, b string) bool { return strings.Join(strings.Fields(a), " ") == b }) {
		t.Fatalf("the Dockerfile's go build changed; update wantGoBuild and check the image test still builds what docker build builds:\n got %q\nwant %q", build.argv, wantGoBuild)
	}

	// The build stage, on this host: the same go build, environment and
	// build context; only the output path differs.
	ctxDir := t.TempDir()
	copyContext(t, "..", ctxDir)
	binary := filepath.Join(t.TempDir(), "kore_exporter")
	args := slices.Clone(build.argv[1:])
	args[slices.Index(args, "-o")+1] = binary
	started := time.Now()
	cmd := exec.Command(goTool(t), args...)
	cmd.Dir = ctxDir
	cmd.Env = append(os.Environ(), build.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("go build (the Dockerfile's build stage) took %s", time.Since(started).Round(100*time.Millisecond))

	// The final stage, written as an OCI image.
	files, cfg, err := finalStage(d, build, binary, testBuildArgs)
	if err != nil {
		t.Fatal(err)
	}
	tarBytes, err := layerTar(files)
	if err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tarBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", runtime.GOARCH, v1.Time{Time: time.Now().UTC().Truncate(time.Second)}
	cf.Config = cfg
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}

	// Read back from the layout, as a registry client or runtime would.
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		t.Fatalf("index: %v, %d manifests", err, len(im.Manifests))
	}
	back, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := back.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || len(m.Layers) != 1 {
		t.Fatalf("manifest: media type %s, %d layers; want an OCI manifest with one layer", m.MediaType, len(m.Layers))
	}
	size := m.Config.Size + m.Layers[0].Size
	t.Logf("image %s: %.1f MiB compressed (one layer of %.1f MiB, %.1f MiB uncompressed), written as an OCI layout",
		im.Manifests[0].Digest.Hex[:12], mib(size), mib(m.Layers[0].Size), mib(int64(len(tarBytes))))

	got, err := back.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	checkImageConfig(t, got.Config, cfg)

	root := extract(t, back)
	exe := filepath.Join(root, got.Config.Entrypoint[0])
	checkStatic(t, exe)
	checkCABundle(t, filepath.Join(root, "etc/ssl/certs/ca-certificates.crt"))

	// --version prints what the build injected.
	out, err := exec.Command(exe, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", got.Config.Entrypoint[0], err, out)
	}
	for _, want := range []string{"version 1.2.3-test", "revision: 0123456789abcdef-test", "branch: image-test", "build user:       ci@image-test", "build date:       20261130-11:05:00"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--version does not print %q:\n%s", want, out)
		}
	}

	// The image's default command without a mounted configuration stops
	// with an error naming the file.
	if _, err := os.Stat(configPath); errors.Is(err, fs.ErrNotExist) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, exe, got.Config.Cmd...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), configPath) {
			t.Errorf("%q without a configuration: %v, want an error naming %s:\n%s", got.Config.Cmd, err, configPath, out)
		}
	}

	// `docker run IMAGE --demo`: the entrypoint with --demo, which serves
	// task metrics.
	addr := freePort(t)
	proc := start(t, exe, "--demo", "--web.listen-address="+addr)
	eventually(t, 30*time.Second, "task metrics from the image's binary", func() string {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, m := range []string{"kore_task_sessions{", "kore_task_drop_off_sessions{", `kore_exporter_build_info{`} {
			if !strings.Contains(string(body), m) {
				return "no " + m + " yet; exporter output:\n" + proc.output()
			}
		}
		if !strings.Contains(string(body), `version="1.2.3-test"`) {
			return "build_info without the injected version"
		}
		return ""
	})
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// checkImageConfig compares the configuration read back with the one the
// Dockerfile declares, and holds it to the image's promises.
func checkImageConfig(t *testing.T, got, want v1.Config) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("image config read back:\n got %+v\nwant %+v", got, want)
	}
	if got.User != "65534:65534" {
		t.Errorf("User = %q, want 65534:65534", got.User)
	}
	if _, ok := got.ExposedPorts[exporterPort+"/tcp"]; !ok || len(got.ExposedPorts) != 1 {
		t.Errorf("ExposedPorts = %v, want %s/tcp", got.ExposedPorts, exporterPort)
	}
	if !slices.Equal(got.Entrypoint, []string{"/bin/kore_exporter"}) || !slices.Equal(got.Cmd, []string{"--config.file=" + configPath}) {
		t.Errorf("Entrypoint %q, Cmd %q", got.Entrypoint, got.Cmd)
	}
	for _, l := range []string{"title", "description", "source", "version", "revision"} {
		if got.Labels["org.opencontainers.image."+l] == "" {
			t.Errorf("no label org.opencontainers.image.%s", l)
		}
	}
	if got.Labels["org.opencontainers.image.version"] != "1.2.3-test" || got.Labels["org.opencontainers.image.revision"] != "0123456789abcdef-test" {
		t.Errorf("version labels %v, want the build args", got.Labels)
	}
}

// extract writes the image's flattened filesystem into a directory and
// returns it.
func extract(t *testing.T, img v1.Image) string {
	t.Helper()
	root := t.TempDir()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s owned by %d:%d, want root (the exporter, user 65534, reads only)", h.Name, h.Uid, h.Gid)
		}
		p := filepath.Join(root, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, fs.FileMode(h.Mode).Perm()); err != nil {
				t.Fatal(err)
			}
		default:
			t.Errorf("%s: unexpected entry type %c", h.Name, h.Typeflag)
		}
	}
	slices.Sort(names)
	want := []string{"bin", "bin/kore_exporter", "etc", "etc/ssl", "etc/ssl/certs", "etc/ssl/certs/ca-certificates.crt"}
	if !slices.Equal(names, want) {
		t.Errorf("image filesystem %q, want %q", names, want)
	}
	return root
}

// checkStatic fails unless exe is a static executable that an empty image
// can run: no dynamic loader, no shared libraries.
func checkStatic(t *testing.T, exe string) {
	t.Helper()
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s asks for a dynamic loader: not static", exe)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v: not static", exe, libs)
	}
	if fi, err := os.Stat(exe); err != nil || fi.Mode().Perm()&0o005 != 0o005 {
		t.Errorf("%s: %v, mode %v: others (user 65534) must read and execute it", exe, err, fi.Mode())
	}
}

// checkCABundle fails unless the image's CA bundle holds certificates.
func checkCABundle(t *testing.T, p string) {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(readFile(t, p)) {
		t.Errorf("%s holds no certificate", p)
	}
}

// TestLayerTar checks the layer writer on its own: parents first, modes
// kept.
func TestLayerTar(t *testing.T) {
	src := filepath.Join(t.TempDir(), "x")
	if err := os.WriteFile(src, []byte("hi"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := layerTar([]imageFile{{src, "/a/b/x"}, {src, "/a/y"}})
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(b))
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %o", h.Name, h.Mode))
	}
	want := []string{"a/ 755", "a/b/ 755", "a/b/x 755", "a/y 755"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
