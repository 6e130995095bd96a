package deploy_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	promconfig "github.com/prometheus/prometheus/config"
	"sigs.k8s.io/yaml"
)

// composeFile is the compose stack the project ships.
const composeFile = "compose/compose.yaml"

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{composeFile}, cli.WithOsEnv, cli.WithName("kore-exporter"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load %s: %v", composeFile, err)
	}
	return p
}

func TestComposeStackLoads(t *testing.T) {
	p := loadCompose(t)
	if got := p.ServiceNames(); !slices.Equal(sorted(got), []string{"exporter", "grafana", "prometheus"}) {
		t.Fatalf("services = %v, want exporter, grafana, prometheus", got)
	}
	dir, err := filepath.Abs(filepath.Dir(composeFile))
	if err != nil {
		t.Fatal(err)
	}

	// Every bind mount's source exists (compose-go resolves it against the
	// file's directory), so `docker compose up` never creates an empty one.
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				if _, ok := p.Volumes[v.Source]; !ok {
					t.Errorf("%s: volume %q is not declared", name, v.Source)
				}
				continue
			}
			if !strings.HasPrefix(v.Source, filepath.Dir(filepath.Dir(dir))) {
				t.Errorf("%s: bind source %s is outside the repository", name, v.Source)
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s: bind source of %s: %v", name, v.Target, err)
			}
			if !v.ReadOnly {
				t.Errorf("%s: bind mount %s is writable; the stack must not write into the repository", name, v.Target)
			}
		}
	}

	// The exporter: built from the repository's Dockerfile, in demo mode.
	ex := p.Services["exporter"]
	repo := filepath.Dir(filepath.Dir(dir))
	if ex.Build == nil || ex.Build.Context != repo {
		t.Errorf("exporter build = %+v, want context %s (the repository)", ex.Build, repo)
	} else if _, err := os.Stat(filepath.Join(repo, "Dockerfile")); err != nil {
		t.Errorf("exporter build context has no Dockerfile: %v", err)
	}
	if !slices.Equal(ex.Command, types.ShellCommand{"--demo"}) {
		t.Errorf("exporter command = %q, want [--demo]", ex.Command)
	}
	if len(ex.Ports) != 1 || ex.Ports[0].Target != 10027 {
		t.Errorf("exporter ports = %+v, want 10027", ex.Ports)
	}

	// Prometheus: the shipped rules, and a scrape config for this stack.
	prom := p.Services["prometheus"]
	if !strings.HasPrefix(prom.Image, "prom/prometheus:") {
		t.Errorf("prometheus image = %q", prom.Image)
	}
	rules := bindTarget(t, prom, "/etc/prometheus/rules")
	if want, _ := filepath.Abs(rulesDir); rules != want {
		t.Errorf("rules mounted from %s, want %s", rules, want)
	}
	cfgSrc := bindTarget(t, prom, "/etc/prometheus/prometheus.yml")
	cfg, err := promconfig.LoadFile(cfgSrc, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("%s: %v", cfgSrc, err)
	}
	var ruleNames []string
	for _, f := range cfg.RuleFiles {
		if filepath.Dir(f) != "/etc/prometheus/rules" {
			t.Errorf("rule file %s is not in the mounted rules directory", f)
		}
		ruleNames = append(ruleNames, filepath.Base(f))
	}
	var shipped []string
	for _, f := range sortedGlob(t, filepath.Join(rulesDir, "*.yml")) {
		shipped = append(shipped, filepath.Base(f))
	}
	if !slices.Equal(sorted(ruleNames), shipped) {
		t.Errorf("rule_files %v, want every shipped file %v", ruleNames, shipped)
	}
	ship, err := promconfig.LoadFile(filepath.Join("prometheus", "scrape.yml"), false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.ScrapeConfigs) != 1 || len(ship.ScrapeConfigs) != 1 {
		t.Fatalf("want one scrape job in each of %s and scrape.yml", cfgSrc)
	}
	got, want := cfg.ScrapeConfigs[0], ship.ScrapeConfigs[0]
	if got.JobName != want.JobName || got.ScrapeInterval != want.ScrapeInterval || got.ScrapeTimeout != want.ScrapeTimeout {
		t.Errorf("compose scrape job %s/%v/%v differs from scrape.yml's %s/%v/%v",
			got.JobName, got.ScrapeInterval, got.ScrapeTimeout, want.JobName, want.ScrapeInterval, want.ScrapeTimeout)
	}
	if s := got.ServiceDiscoveryConfigs; len(s) != 1 || !strings.Contains(fmtAny(s[0]), "exporter:10027") {
		t.Errorf("scrape targets %v, want exporter:10027", fmtAny(s))
	}

	// Grafana: provisioning and the repository's dashboards.
	gr := p.Services["grafana"]
	if !strings.HasPrefix(gr.Image, "grafana/grafana:") {
		t.Errorf("grafana image = %q", gr.Image)
	}
	prov := bindTarget(t, gr, "/etc/grafana/provisioning")
	dash := bindTarget(t, gr, "/var/lib/grafana/dashboards/kore")
	if want, _ := filepath.Abs("../dashboards"); dash != want {
		t.Errorf("dashboards mounted from %s, want %s", dash, want)
	}
	checkGrafanaProvisioning(t, prov, "/var/lib/grafana/dashboards/kore")
	if home := gr.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home == nil ||
		!fileUnder(dash, "/var/lib/grafana/dashboards/kore", *home) {
		t.Errorf("home dashboard %v is not a mounted dashboard", home)
	}
}

// Grafana's provisioning file formats (the fields used here).
type grafanaDatasources struct {
	APIVersion  int `json:"apiVersion"`
	Datasources []struct {
		Name      string         `json:"name"`
		UID       string         `json:"uid"`
		Type      string         `json:"type"`
		Access    string         `json:"access"`
		URL       string         `json:"url"`
		IsDefault bool           `json:"isDefault"`
		Editable  bool           `json:"editable"`
		JSONData  map[string]any `json:"jsonData"`
	} `json:"datasources"`
}

type grafanaProviders struct {
	APIVersion int `json:"apiVersion"`
	Providers  []struct {
		Name            string `json:"name"`
		Folder          string `json:"folder"`
		Type            string `json:"type"`
		DisableDeletion bool   `json:"disableDeletion"`
		AllowUIUpdates  bool   `json:"allowUiUpdates"`
		Options         struct {
			Path string `json:"path"`
		} `json:"options"`
	} `json:"providers"`
}

func checkGrafanaProvisioning(t *testing.T, dir, dashboardsTarget string) {
	t.Helper()
	var ds grafanaDatasources
	if err := yaml.UnmarshalStrict(readFile(t, filepath.Join(dir, "datasources/prometheus.yml")), &ds); err != nil {
		t.Fatalf("datasources: %v", err)
	}
	if ds.APIVersion != 1 || len(ds.Datasources) != 1 {
		t.Fatalf("datasources = %+v, want apiVersion 1 and one data source", ds)
	}
	d := ds.Datasources[0]
	// The dashboards' ${datasource} variable starts on the default
	// Prometheus data source.
	if d.Type != "prometheus" || d.URL != "http://prometheus:9090" || !d.IsDefault || d.UID == "" {
		t.Errorf("data source = %+v, want the default prometheus at http://prometheus:9090 with a uid", d)
	}
	var pv grafanaProviders
	if err := yaml.UnmarshalStrict(readFile(t, filepath.Join(dir, "dashboards/kore.yml")), &pv); err != nil {
		t.Fatalf("dashboard providers: %v", err)
	}
	if pv.APIVersion != 1 || len(pv.Providers) != 1 || pv.Providers[0].Type != "file" || pv.Providers[0].Options.Path != dashboardsTarget {
		t.Errorf("providers = %+v, want one file provider at %s", pv, dashboardsTarget)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "datasources" && e.Name() != "dashboards" {
			t.Errorf("unchecked provisioning entry %s", e.Name())
		}
	}
}

// bindTarget returns the source of the bind mount at target.
func bindTarget(t *testing.T, s types.ServiceConfig, target string) string {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && v.Target == target {
			return v.Source
		}
	}
	t.Fatalf("%s: no bind mount at %s", s.Name, target)
	return ""
}

// fileUnder says whether the container path p, under the mount target, is
// a file in the mount's source.
func fileUnder(source, target, p string) bool {
	rel, ok := strings.CutPrefix(p, target+"/")
	if !ok {
		return false
	}
	fi, err := os.Stat(filepath.Join(source, rel))
	return err == nil && fi.Mode().IsRegular()
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func fmtAny(v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
