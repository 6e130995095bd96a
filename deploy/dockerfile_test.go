package deploy_test

// Checks of the top-level Dockerfile: BuildKit's own linter (the checks
// `docker build --check` runs) with an offline image resolver, and this
// project's rules for the image (static build, numeric non-root user, the
// exporter's port, exec-form entrypoint, declared build arguments, the Go
// release of go.mod, nothing that needs a writable root filesystem).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/mod/modfile"
)

const (
	dockerfilePath   = "../Dockerfile"
	dockerignorePath = "../.dockerignore"
	// exporterPort is the exporter's default --web.listen-address port.
	exporterPort = "10027"
	// configPath is where the image expects the configuration file.
	configPath = "/etc/kore_exporter/config.yml"
)

// dockerfile is a parsed Dockerfile: the global ARGs before the first FROM
// and the stages, as BuildKit's parser sees them.
type dockerfile struct {
	metaArgs []instructions.ArgCommand
	stages   []instructions.Stage
}

func parseDockerfile(dt []byte) (*dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(dt))
	if err != nil {
		return nil, fmt.Errorf("parse Dockerfile: %w", err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, fmt.Errorf("parse Dockerfile instructions: %w", err)
	}
	if len(stages) == 0 {
		return nil, errors.New("parse Dockerfile: no stage")
	}
	return &dockerfile{metaArgs: metaArgs, stages: stages}, nil
}

func (d *dockerfile) final() *instructions.Stage { return &d.stages[len(d.stages)-1] }

// stage returns the stage named name, or nil.
func (d *dockerfile) stage(name string) *instructions.Stage {
	for i := range d.stages {
		if strings.EqualFold(d.stages[i].Name, name) {
			return &d.stages[i]
		}
	}
	return nil
}

// metaArgDefault returns the default value of a global ARG.
func (d *dockerfile) metaArgDefault(name string) (string, bool) {
	for _, a := range d.metaArgs {
		for _, kv := range a.Args {
			if kv.Key == name && kv.Value != nil {
				return *kv.Value, true
			}
		}
	}
	return "", false
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// offlineResolver answers every base image with an empty image config, so
// that the linter never reaches a registry.
type offlineResolver struct{}

func (offlineResolver) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	return ref, "", []byte("{}"), nil
}

// lintDockerfile runs BuildKit's Dockerfile checks on every stage and
// returns one line per warning, and the build error if the file does not
// convert.
func lintDockerfile(dt []byte) ([]string, error) {
	ctx := context.Background()
	src := llb.Local("dockerfile")
	sm := llb.NewSourceMap(&src, "Dockerfile", "Dockerfile", dt)
	def, err := src.Marshal(ctx)
	if err != nil {
		return nil, err
	}
	sm.Definition = def
	res, err := dockerfile2llb.DockerfileLint(ctx, dt, dockerfile2llb.ConvertOpt{
		SourceMap:    sm,
		MetaResolver: offlineResolver{},
	})
	if err != nil {
		return nil, err
	}
	var warnings []string
	for _, w := range res.Warnings {
		line := int32(0)
		if w.Location != nil && len(w.Location.Ranges) > 0 {
			line = w.Location.Ranges[0].Start.Line
		}
		warnings = append(warnings, fmt.Sprintf("line %d: %s: %s", line, w.RuleName, w.Detail))
	}
	if res.Error != nil {
		return warnings, errors.New(res.Error.Message)
	}
	return warnings, nil
}

// TestDockerfileLint fails on any warning of BuildKit's checks.
func TestDockerfileLint(t *testing.T) {
	warnings, err := lintDockerfile(readFile(t, dockerfilePath))
	if err != nil {
		t.Fatalf("BuildKit cannot convert the Dockerfile: %v", err)
	}
	for _, w := range warnings {
		t.Errorf("BuildKit lint: %s", w)
	}
}

// TestDockerfileLintCatchesErrors shows that the linter, with the offline
// resolver, does report problems.
func TestDockerfileLintCatchesErrors(t *testing.T) {
	bad := "FROM golang:1.26 as build\nRUN echo $UNDECLARED\nfrom scratch\nENTRYPOINT /bin/kore_exporter\n"
	warnings, err := lintDockerfile([]byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(warnings, "\n")
	for _, rule := range []string{"FromAsCasing", "ConsistentInstructionCasing", "JSONArgsRecommended"} {
		if !strings.Contains(all, rule) {
			t.Errorf("no %s warning; got:\n%s", rule, all)
		}
	}
}

// TestDockerfile checks the project's rules on the shipped Dockerfile.
func TestDockerfile(t *testing.T) {
	if err := checkDockerfile(readFile(t, dockerfilePath), readFile(t, dockerignorePath), goRelease(t)); err != nil {
		t.Error(err)
	}
}

// goRelease is the major.minor of the exporter's go.mod `go` line.
func goRelease(t *testing.T) string {
	t.Helper()
	mf, err := modfile.ParseLax("go.mod", readFile(t, "../go.mod"), nil)
	if err != nil || mf.Go == nil {
		t.Fatalf("../go.mod: no go line: %v", err)
	}
	parts := strings.SplitN(mf.Go.Version, ".", 3)
	return parts[0] + "." + parts[1]
}

// predefinedArgs are the ARGs BuildKit sets itself; in FROM lines they need
// no declaration, inside a stage they do (as any global ARG).
var predefinedArgs = []string{"BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
	"TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT"}

var (
	varRef     = regexp.MustCompile(`\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))`)
	numericUID = regexp.MustCompile(`^[0-9]+(:[0-9]+)?$`)
	remoteSrc  = regexp.MustCompile(`^(https?://|git@|git://)`)
	goBase     = regexp.MustCompile(`^golang:\$\{GO_VERSION\}(-[a-z0-9]+)?$`)
)

func refs(s string) []string {
	var names []string
	for _, m := range varRef.FindAllStringSubmatch(s, -1) {
		names = append(names, m[1]+m[2])
	}
	return names
}

// checkDockerfile returns every broken rule, each naming its line.
func checkDockerfile(dt, dockerignore []byte, goRelease string) error {
	d, err := parseDockerfile(dt)
	if err != nil {
		return err
	}
	var errs []error
	fail := func(loc []parser.Range, format string, a ...any) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		errs = append(errs, fmt.Errorf("Dockerfile:%d: %s", line, fmt.Sprintf(format, a...)))
	}

	// Build arguments: FROM lines see the global ARGs and BuildKit's
	// platform ARGs; a stage sees only what it declares (ARG, ENV).
	global := slices.Clone(predefinedArgs)
	for _, a := range d.metaArgs {
		for _, kv := range a.Args {
			for _, r := range refs(kv.ValueString()) {
				if !slices.Contains(global, r) {
					fail(a.Location(), "ARG %s uses undeclared %s", kv.Key, r)
				}
			}
			global = append(global, kv.Key)
		}
	}
	ignore, err := ignorefile.ReadAll(bytes.NewReader(dockerignore))
	if err != nil {
		return fmt.Errorf(".dockerignore: %w", err)
	}
	ignored, err := patternmatcher.New(ignore)
	if err != nil {
		return fmt.Errorf(".dockerignore: %w", err)
	}
	for _, s := range d.stages {
		for _, r := range refs(s.SourceCode) {
			if !slices.Contains(global, r) {
				fail(s.Location, "FROM uses undeclared %s", r)
			}
		}
		var declared []string
		for _, c := range s.Commands {
			switch c := c.(type) {
			case *instructions.ArgCommand:
				for _, kv := range c.Args {
					declared = append(declared, kv.Key)
				}
				continue
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					for _, r := range refs(kv.Value) {
						if !slices.Contains(declared, r) {
							fail(c.Location(), "ENV %s uses %s, not declared in this stage", kv.Key, r)
						}
					}
					declared = append(declared, kv.Key)
				}
				continue
			case *instructions.AddCommand:
				for _, src := range c.SourcePaths {
					if remoteSrc.MatchString(src) {
						fail(c.Location(), "ADD of a URL (%s): download in a build stage and verify it", src)
					}
				}
			case *instructions.CopyCommand:
				if c.From == "" {
					for _, src := range c.SourcePaths {
						if m, _ := ignored.MatchesOrParentMatches(strings.TrimPrefix(src, "./")); m && src != "." {
							fail(c.Location(), "COPY %s: excluded by .dockerignore", src)
						}
					}
				}
			}
			for _, r := range refs(fmt.Sprint(c)) {
				if !slices.Contains(declared, r) {
					fail(c.Location(), "%s uses %s, not declared in this stage (ARG)", strings.ToUpper(c.Name()), r)
				}
			}
		}
	}

	// The Go build stage: the Go release of go.mod, a static and trimmed
	// build.
	if v, _ := d.metaArgDefault("GO_VERSION"); v != goRelease {
		errs = append(errs, fmt.Errorf("Dockerfile: ARG GO_VERSION=%q, go.mod says go %s", v, goRelease))
	}
	build := d.stage("build")
	if build == nil {
		errs = append(errs, errors.New("Dockerfile: no stage named build"))
	} else {
		if !goBase.MatchString(build.BaseName) {
			fail(build.Location, "build stage FROM %s: want golang:${GO_VERSION}[-variant]", build.BaseName)
		}
		if _, err := goBuild(d, testBuildArgs); err != nil {
			errs = append(errs, err)
		}
	}

	// The final stage: an empty or distroless base, no RUN (so it builds
	// without a container runtime and needs no shell), a numeric non-root
	// user, the exporter's port, exec-form entrypoint and command, nothing
	// that writes (VOLUME).
	f := d.final()
	if f.BaseName != "scratch" && !strings.HasPrefix(f.BaseName, "gcr.io/distroless/static") {
		fail(f.Location, "final stage FROM %s: want scratch or gcr.io/distroless/static", f.BaseName)
	}
	var user, entrypoint, cmd bool
	var port bool
	for _, c := range f.Commands {
		switch c := c.(type) {
		case *instructions.RunCommand:
			fail(c.Location(), "RUN in the final stage")
		case *instructions.VolumeCommand:
			fail(c.Location(), "VOLUME in the final stage: the exporter writes nothing")
		case *instructions.UserCommand:
			user = true
			if !numericUID.MatchString(c.User) || strings.HasPrefix(c.User, "0") {
				fail(c.Location(), "USER %q: want a numeric non-root uid:gid", c.User)
			}
		case *instructions.ExposeCommand:
			for _, p := range c.Ports {
				port = port || p == exporterPort || p == exporterPort+"/tcp"
			}
		case *instructions.EntrypointCommand:
			entrypoint = true
			if c.PrependShell {
				fail(c.Location(), "ENTRYPOINT in shell form: use the exec form [\"/bin/kore_exporter\"]")
			}
		case *instructions.CmdCommand:
			cmd = true
			if c.PrependShell {
				fail(c.Location(), "CMD in shell form: use the exec form")
			} else if !slices.Contains(c.CmdLine, "--config.file="+configPath) {
				fail(c.Location(), "CMD %q: want --config.file=%s", c.CmdLine, configPath)
			}
		}
	}
	if !user {
		fail(f.Location, "final stage has no USER")
	}
	if !port {
		fail(f.Location, "final stage does not EXPOSE %s", exporterPort)
	}
	if !entrypoint {
		fail(f.Location, "final stage has no ENTRYPOINT")
	}
	if !cmd {
		fail(f.Location, "final stage has no CMD")
	}
	return errors.Join(errs...)
}

// TestDockerfileChecksCatchErrors breaks the shipped Dockerfile one rule at a
// time.
func TestDockerfileChecksCatchErrors(t *testing.T) {
	good := string(readFile(t, dockerfilePath))
	ignore := readFile(t, dockerignorePath)
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"named user", "USER 65534:65534", "USER nobody", `USER "nobody": want a numeric`},
		{"root", "USER 65534:65534", "USER 0:0", `USER "0:0"`},
		{"no user", "USER 65534:65534\n", "", "final stage has no USER"},
		{"port", "EXPOSE 10027", "EXPOSE 9100", "does not EXPOSE 10027"},
		{"shell entrypoint", `ENTRYPOINT ["/bin/kore_exporter"]`, "ENTRYPOINT /bin/kore_exporter", "ENTRYPOINT in shell form"},
		{"config path", "--config.file=/etc/kore_exporter/config.yml", "--config.file=/config.yml", "want --config.file="},
		{"url", "COPY --from=build /out/kore_exporter /bin/kore_exporter", "ADD https://example.com/x /bin/x", "ADD of a URL"},
		{"undeclared arg", "ARG REVISION\nLABEL", "LABEL", "LABEL uses REVISION, not declared"},
		{"undeclared in FROM", "ARG GO_VERSION=1.26\n", "", "FROM uses undeclared GO_VERSION"},
		{"go version", "ARG GO_VERSION=1.26", "ARG GO_VERSION=1.25", `GO_VERSION="1.25", go.mod says go 1.26`},
		{"run in final", "EXPOSE 10027", "EXPOSE 10027\nRUN true", "RUN in the final stage"},
		{"volume", "EXPOSE 10027", "EXPOSE 10027\nVOLUME /data", "VOLUME in the final stage"},
		{"base", "FROM scratch", "FROM debian:bookworm", "final stage FROM debian:bookworm"},
		{"cgo", "ENV CGO_ENABLED=0 ", "ENV ", "does not set CGO_ENABLED=0"},
		{"trimpath", "go build -trimpath", "go build", "without -trimpath"},
		{"version flag", "-X github.com/prometheus/common/version.Revision=${REVISION}", "", "does not set github.com/prometheus/common/version.Revision"},
		{"ignored source", "COPY go.mod go.sum ./", "COPY go.mod go.sum README.md ./", "COPY README.md: excluded by .dockerignore"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("the Dockerfile has no %q", tc.old)
			}
			bad := strings.Replace(good, tc.old, tc.new, 1)
			err := checkDockerfile([]byte(bad), ignore, "1.26")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
