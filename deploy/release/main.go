// Command release builds kore_exporter's release files into one folder:
// static binaries for every target, their archives (tar.gz; zip for
// Windows), .deb and .rpm packages for Linux, and checksums.txt (sha256sum
// format). It is the single source of truth for the targets, the build flags,
// what each archive and package holds, and the container image's name; the
// image itself is built from the Dockerfile by the release workflow
// (.github/workflows/release.yml) with docker buildx.
//
//	cd deploy && go run ./release --version=1.2.3 --snapshot --out=../dist
//
// Without --snapshot (the release workflow) the version must be a tag v<version>
// on the checked-out commit, the tree clean, and the Helm chart's appVersion
// and image repository must be this version and image.
//
// Why not GoReleaser: this machine's module proxy serves it only as an
// unapproved copy, and it would bring hundreds of modules into this test
// module for what is here a few hundred lines of the standard library plus
// nfpm (GoReleaser's own packager) as a library.
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the "deb" packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the "rpm" packager
	"golang.org/x/mod/semver"
	"gopkg.in/yaml.v3"
)

const (
	project = "kore_exporter"
	// image is the container image the workflow pushes, tagged <version> and
	// latest; the Helm chart's default image.
	image = "ghcr.io/kore-exporter/kore_exporter"
	// pkgName is the .deb's and .rpm's package name: Debian's policy allows
	// no "_" in a package name. The binary, unit and user keep project.
	pkgName    = "kore-exporter"
	homepage   = "https://github.com/kore-exporter/kore_exporter"
	dateLayout = "20060102-15:04:05" // prometheus/common/version's BuildDate
)

// targets are the GOOS/GOARCH pairs released.
var targets = []target{
	{"linux", "amd64"}, {"linux", "arm64"},
	{"darwin", "amd64"}, {"darwin", "arm64"},
	{"windows", "amd64"}, {"windows", "arm64"},
}

// archiveFiles are the repository's files in each archive, beside the binary.
var archiveFiles = []string{"LICENSE", "README.md", "CHANGELOG.md", "config.example.yml"}

type target struct{ OS, Arch string }

func (t target) binary() string {
	if t.OS == "windows" {
		return project + ".exe"
	}
	return project
}

// name is the stem of the target's files: kore_exporter_1.2.3_linux_amd64.
func (t target) name(version string) string {
	return fmt.Sprintf("%s_%s_%s_%s", project, version, t.OS, t.Arch)
}

// build is what the binaries report with --version, as the Dockerfile's ARGs.
type build struct {
	Version, Revision, Branch, BuildUser, BuildDate string
}

// ldflags are the Dockerfile's: stripped, with prometheus/common/version set.
func (b build) ldflags() string {
	const v = "github.com/prometheus/common/version."
	return fmt.Sprintf("-s -w -X %sVersion=%s -X %sRevision=%s -X %sBranch=%s -X %sBuildUser=%s -X %sBuildDate=%s",
		v, b.Version, v, b.Revision, v, b.Branch, v, b.BuildUser, v, b.BuildDate)
}

func main() {
	var (
		b          build
		root, out  string
		snapshot   bool
		printImage bool
	)
	buildUser := "unknown"
	if u, err := user.Current(); err == nil {
		buildUser = u.Username
	}
	if host, err := os.Hostname(); err == nil {
		buildUser += "@" + host
	}
	flag.StringVar(&b.Version, "version", "", "version to release, semver without the v (required)")
	flag.StringVar(&b.Revision, "revision", "", "git revision (default: the root's HEAD)")
	flag.StringVar(&b.Branch, "branch", "", "git branch or tag (default: the root's branch)")
	flag.StringVar(&b.BuildUser, "build-user", buildUser, "build user")
	flag.StringVar(&b.BuildDate, "build-date", time.Now().UTC().Format(dateLayout), "build date, "+dateLayout+" (UTC)")
	flag.StringVar(&root, "root", "..", "the repository")
	flag.StringVar(&out, "out", "../dist", "output folder, created; must be empty")
	flag.BoolVar(&snapshot, "snapshot", false, "skip the checks of the tag, the clean tree and the chart")
	flag.BoolVar(&printImage, "print-image", false, "print the image reference for --version and exit")
	flag.Parse()
	if b.Revision == "" {
		b.Revision = git(root, "rev-parse", "HEAD")
	}
	if b.Branch == "" {
		b.Branch = git(root, "rev-parse", "--abbrev-ref", "HEAD")
	}
	b.Version = strings.TrimPrefix(b.Version, "v")
	if !semver.IsValid("v"+b.Version) || strings.Contains(b.Version, "+") {
		fatal(fmt.Errorf("--version=%q: want a semantic version such as 1.2.3 or 1.3.0-rc.1", b.Version))
	}
	if printImage {
		fmt.Println(image + ":" + b.Version)
		return
	}
	if !snapshot {
		fatal(checkRelease(root, b.Version))
	}
	start := time.Now()
	fatal(release(root, out, b))
	fmt.Printf("release %s: %d targets in %s, %s\n", b.Version, len(targets), time.Since(start).Round(time.Second), out)
}

func fatal(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

// git runs a git command in dir and returns its output, or "unknown".
func git(dir string, args ...string) string {
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// checkRelease refuses a release whose tag, tree or Helm chart does not
// match the version.
func checkRelease(root, version string) error {
	if head, tag := git(root, "rev-parse", "HEAD"), git(root, "rev-parse", "v"+version+"^{commit}"); head != tag {
		return fmt.Errorf("tag v%s is not the checked-out commit %s (use --snapshot for a test build)", version, head)
	}
	if st := git(root, "status", "--porcelain"); st != "" {
		return fmt.Errorf("the tree has changes (use --snapshot for a test build):\n%s", st)
	}
	chart := filepath.Join(root, "deploy/helm/kore-exporter")
	var c struct {
		AppVersion string `yaml:"appVersion"`
	}
	var v struct {
		Image struct{ Repository, Tag string }
	}
	for f, into := range map[string]any{"Chart.yaml": &c, "values.yaml": &v} {
		data, err := os.ReadFile(filepath.Join(chart, f))
		if err != nil {
			return err
		}
		if err := yaml.Unmarshal(data, into); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	if c.AppVersion != version || v.Image.Repository != image || v.Image.Tag != "" {
		return fmt.Errorf("the Helm chart's appVersion %q, image.repository %q, image.tag %q: want %q, %q and empty",
			c.AppVersion, v.Image.Repository, v.Image.Tag, version, image)
	}
	return nil
}

// release builds every target (two at a time) into a temporary folder and
// writes the archives, packages and checksums.txt into out.
func release(root, out string, b build) error {
	if entries, err := os.ReadDir(out); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty", out)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	mtime, err := time.Parse(dateLayout, b.BuildDate)
	if err != nil {
		return fmt.Errorf("--build-date: %w", err)
	}
	tmp, err := os.MkdirTemp("", "release")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	errs := make([]error, len(targets))
	sem := make(chan struct{}, max(2, runtime.NumCPU()/2))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = releaseTarget(root, out, filepath.Join(tmp, t.OS+"_"+t.Arch), t, b, mtime)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return writeChecksums(out)
}

// releaseTarget builds one target's binary and writes its archive and, for
// Linux, its packages.
func releaseTarget(root, out, dir string, t target, b build, mtime time.Time) error {
	bin := filepath.Join(dir, t.binary())
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", b.ldflags(), "-o", bin, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+t.OS, "GOARCH="+t.Arch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s/%s: go build: %w\n%s", t.OS, t.Arch, err, msg)
	}
	entries := []archiveEntry{{t.binary(), bin, 0o755}}
	for _, f := range archiveFiles {
		entries = append(entries, archiveEntry{f, filepath.Join(root, f), 0o644})
	}
	stem := filepath.Join(out, t.name(b.Version))
	if t.OS == "windows" {
		if err := writeZip(stem+".zip", t.name(b.Version), entries, mtime); err != nil {
			return err
		}
	} else if err := writeTarGz(stem+".tar.gz", t.name(b.Version), entries, mtime); err != nil {
		return err
	}
	if t.OS != "linux" {
		return nil
	}
	for _, format := range []string{"deb", "rpm"} {
		if err := writePackage(stem+"."+format, format, root, bin, t, b.Version, mtime); err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(stem+"."+format), err)
		}
	}
	return nil
}

// archiveEntry is a file of an archive: its name in the archive's folder,
// its source and mode.
type archiveEntry struct {
	name, src string
	mode      int64
}

func writeTarGz(path, folder string, entries []archiveEntry, mtime time.Time) error {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		data, err := os.ReadFile(e.src)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: folder + "/" + e.name, Mode: e.mode, Size: int64(len(data)), ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := errors.Join(tw.Close(), gz.Close()); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func writeZip(path, folder string, entries []archiveEntry, mtime time.Time) error {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		data, err := os.ReadFile(e.src)
		if err != nil {
			return err
		}
		hdr := &zip.FileHeader{Name: folder + "/" + e.name, Method: zip.Deflate, Modified: mtime}
		hdr.SetMode(os.FileMode(e.mode))
		w, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// writePackage writes a .deb or .rpm: the binary, the example configuration
// as /etc/kore_exporter/config.yml (kept on upgrade once edited), and the
// systemd unit run as the user that postinstall.sh creates.
func writePackage(path, format, root, bin string, t target, version string, mtime time.Time) error {
	packaging := filepath.Join(root, "deploy/packaging")
	mode := func(m os.FileMode) *files.ContentFileInfo { return &files.ContentFileInfo{Mode: m} }
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:        pkgName,
		Arch:        t.Arch,
		Platform:    t.OS,
		Version:     version,
		Maintainer:  "kore_exporter maintainers",
		Section:     "net",
		Description: "Prometheus exporter for the Kore.ai XO Platform's task containment reports",
		Homepage:    homepage,
		License:     "Apache-2.0",
		MTime:       mtime,
		Overridables: nfpm.Overridables{
			Contents: files.Contents{
				{Source: bin, Destination: "/usr/bin/" + project, FileInfo: mode(0o755)},
				{Destination: "/etc/" + project, Type: files.TypeDir, FileInfo: mode(0o750)},
				{Source: filepath.Join(root, "config.example.yml"), Destination: "/etc/" + project + "/config.yml",
					Type: files.TypeConfigNoReplace, FileInfo: mode(0o640)},
				{Source: filepath.Join(packaging, project+".service"), Destination: "/usr/lib/systemd/system/" + project + ".service",
					FileInfo: mode(0o644)},
				{Source: filepath.Join(root, "LICENSE"), Destination: "/usr/share/doc/" + pkgName + "/LICENSE", FileInfo: mode(0o644)},
			},
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(packaging, "postinstall.sh"),
				PreRemove:   filepath.Join(packaging, "preremove.sh"),
			},
		},
	})
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return err
	}
	packager, err := nfpm.Get(format)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := packager.Package(info, &buf); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// writeChecksums writes checksums.txt: the sha256 of every file in out, as
// sha256sum prints them (sha256sum -c checksums.txt verifies a download).
func writeChecksums(out string) error {
	entries, err := os.ReadDir(out)
	if err != nil {
		return err
	}
	var sums strings.Builder
	for _, e := range entries { // sorted by name
		if e.Name() == "checksums.txt" {
			continue
		}
		f, err := os.Open(filepath.Join(out, e.Name()))
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(&sums, "%x  %s\n", h.Sum(nil), e.Name())
	}
	return os.WriteFile(filepath.Join(out, "checksums.txt"), []byte(sums.String()), 0o644)
}
