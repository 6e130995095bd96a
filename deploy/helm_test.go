package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kore-exporter/kore_exporter/collector/config"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// chartDir is the Helm chart the project ships.
const chartDir = "helm/kore-exporter"

// releaseName and releaseNamespace name the release every test renders.
const (
	releaseName      = "kore"
	releaseNamespace = "monitoring"
)

// secretCanary stands for a client secret: it must never reach a manifest.
const secretCanary = "CANARY-s3cr3t-9f8e7d"

// manifests is one rendering of the chart, decoded strictly into the real
// API types.
type manifests struct {
	raw             string // every rendered manifest, NOTES.txt excluded
	notes           string
	deployments     []appsv1.Deployment
	statefulSets    []appsv1.StatefulSet
	services        []corev1.Service
	configMaps      []corev1.ConfigMap
	serviceAccounts []corev1.ServiceAccount
	networkPolicies []networkingv1.NetworkPolicy
	serviceMonitors []monitoringv1.ServiceMonitor
	prometheusRules []monitoringv1.PrometheusRule
}

// helm returns the helm program the chart tests run: $HELM_BIN, else helm
// on PATH (.ci/run builds it from helm.sh/helm/v4; CONTRIBUTING.md says
// how). The chart is checked by the program its users run, not by a copy
// of its libraries.
func helm(t *testing.T) string {
	t.Helper()
	return tool(t, "HELM_BIN", "helm")
}

// rendered is one dry-run install of the chart.
type rendered struct {
	docs  []renderedDoc // in helm's install order
	notes string
}

// renderedDoc is one manifest and the template it came from.
type renderedDoc struct{ source, body string }

// renderChart renders the chart with vals as `helm install --dry-run=client`
// does, values validated against values.schema.json; the error holds helm's
// message.
func renderChart(t *testing.T, vals map[string]any) (*rendered, error) {
	t.Helper()
	data, err := yaml.Marshal(vals)
	if err != nil {
		t.Fatal(err)
	}
	valuesFile := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(valuesFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(helm(t), "install", releaseName, chartDir, "--namespace", releaseNamespace,
		"--dry-run=client", "--output=json", "--values", valuesFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm install --dry-run: %w: %s", err, stderr.Bytes())
	}
	var release struct {
		Manifest string `json:"manifest"`
		Info     struct {
			Notes string `json:"notes"`
		} `json:"info"`
	}
	if err := json.Unmarshal(out, &release); err != nil {
		t.Fatalf("helm install --dry-run --output=json: %v\n%s", err, out)
	}
	r := &rendered{notes: release.Info.Notes}
	for _, doc := range strings.Split(release.Manifest, "---\n") {
		source, body, ok := strings.Cut(doc, "\n")
		if !ok || strings.TrimSpace(body) == "" {
			continue
		}
		source, ok = strings.CutPrefix(source, "# Source: ")
		if !ok {
			t.Fatalf("helm manifest without its # Source line:\n%s", doc)
		}
		r.docs = append(r.docs, renderedDoc{source, body})
	}
	return r, nil
}

// mustRender renders and decodes every manifest strictly: an unknown field
// (a typo, a field at the wrong level) fails.
func mustRender(t *testing.T, vals map[string]any) *manifests {
	t.Helper()
	r, err := renderChart(t, vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	m := &manifests{notes: r.notes}
	for _, d := range r.docs {
		m.raw += "---\n" + d.body
		m.decode(t, d.source, []byte(d.body))
	}
	return m
}

func strictInto[T any](t *testing.T, name string, doc []byte, dst *[]T) {
	t.Helper()
	var v T
	if err := yaml.UnmarshalStrict(doc, &v); err != nil {
		t.Fatalf("%s: strict decode into %T: %v\n%s", name, v, err, doc)
	}
	*dst = append(*dst, v)
}

func (m *manifests) decode(t *testing.T, name string, doc []byte) {
	t.Helper()
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		strictInto(t, name, doc, &m.deployments)
	case "apps/v1 StatefulSet":
		strictInto(t, name, doc, &m.statefulSets)
	case "v1 Service":
		strictInto(t, name, doc, &m.services)
	case "v1 ConfigMap":
		strictInto(t, name, doc, &m.configMaps)
	case "v1 ServiceAccount":
		strictInto(t, name, doc, &m.serviceAccounts)
	case "networking.k8s.io/v1 NetworkPolicy":
		strictInto(t, name, doc, &m.networkPolicies)
	case "monitoring.coreos.com/v1 ServiceMonitor":
		strictInto(t, name, doc, &m.serviceMonitors)
	case "monitoring.coreos.com/v1 PrometheusRule":
		strictInto(t, name, doc, &m.prometheusRules)
	default:
		t.Fatalf("%s: unexpected object %s %s", name, tm.APIVersion, tm.Kind)
	}
}

// pod returns the one workload's pod template and selector.
func (m *manifests) pod(t *testing.T) (corev1.PodTemplateSpec, *metav1.LabelSelector) {
	t.Helper()
	switch {
	case len(m.deployments) == 1 && len(m.statefulSets) == 0:
		return m.deployments[0].Spec.Template, m.deployments[0].Spec.Selector
	case len(m.statefulSets) == 1 && len(m.deployments) == 0:
		return m.statefulSets[0].Spec.Template, m.statefulSets[0].Spec.Selector
	}
	t.Fatalf("want exactly one Deployment or StatefulSet, got %d and %d", len(m.deployments), len(m.statefulSets))
	return corev1.PodTemplateSpec{}, nil
}

func (m *manifests) configMap(name string) *corev1.ConfigMap {
	for i := range m.configMaps {
		if m.configMaps[i].Name == name {
			return &m.configMaps[i]
		}
	}
	return nil
}

func (m *manifests) service(name string) *corev1.Service {
	for i := range m.services {
		if m.services[i].Name == name {
			return &m.services[i]
		}
	}
	return nil
}

// chartCases is the values matrix every check runs on.
var chartCases = []struct {
	name string
	vals map[string]any
}{
	{"defaults", nil},
	{"shards", map[string]any{"shards": 3}},
	{"monitoring", map[string]any{
		"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus-stack"}},
		"prometheusRule": map[string]any{"enabled": true},
		"dashboards":     map[string]any{"enabled": true},
	}},
	{"existing", map[string]any{
		"existingSecret":    "kore-secrets",
		"existingConfigMap": "kore-config",
		"secretEnv":         []any{map[string]any{"name": "KORE_SALES_SECRET", "key": "sales"}},
	}},
	{"webconfig", map[string]any{
		"existingSecret": "kore-secrets",
		"webConfig":      map[string]any{"existingSecret": "kore-web"},
		"config": map[string]any{"bots": []any{map[string]any{
			"name": "sales", "bot_id": "st-2b3c4d5e-0000-5000-8000-00000000a002",
			"client_id": "cs-6f7a8b9c-0000-5000-8000-00000000b003", "client_secret": "${KORE_SALES_SECRET}",
		}}},
		"secretEnv": []any{map[string]any{"name": "KORE_SALES_SECRET", "key": "sales"}},
	}},
	{"rule options", map[string]any{"prometheusRule": map[string]any{
		"enabled":                   true,
		"disabled":                  map[string]any{"NoSuchAlert": true},
		"additionalRuleLabels":      map[string]any{"team": "cx"},
		"additionalRuleAnnotations": map[string]any{"dashboard": "https://grafana.example.com/d/kore"},
		"runbookUrl":                "https://runbooks.example.com/kore",
	}}},
	{"config file", map[string]any{
		"existingSecret": "kore-secrets",
		"secretEnv":      []any{map[string]any{"name": "KORE_SALES_SECRET", "key": "sales"}},
		"config":         configFileText, // helm install --set-file config=kore.yml
	}},
}

// configFileText is an exporter configuration as a user keeps it in its
// own file and passes it with --set-file config=kore.yml.
const configFileText = `# kore.yml: checked with
#   kore_exporter --config.check --config.check.skip-secrets --config.file=kore.yml
defaults:
  interval: 10m
  windows: [1h, 24h]   # 1h feeds the drop-off alerts
  labels: {team: cx}

bots:
  - name: support
    bot_id: st-1a2b3c4d-0000-5000-8000-00000000a001
    client_id: cs-5e6f7a8b-0000-5000-8000-00000000b001
    client_secret_file: /etc/kore_exporter/secrets/support.secret
  - name: sales
    bot_id: st-2b3c4d5e-0000-5000-8000-00000000a002
    client_id: cs-6f7a8b9c-0000-5000-8000-00000000b003
    client_secret: ${KORE_SALES_SECRET}
    page_size: 500
limits:
  max_concurrent_jobs: 2
`

func TestChartLint(t *testing.T) {
	for _, tc := range chartCases {
		t.Run(tc.name, func(t *testing.T) {
			data, err := yaml.Marshal(tc.vals)
			if err != nil {
				t.Fatal(err)
			}
			valuesFile := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(valuesFile, data, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(helm(t), "lint", chartDir, "--namespace", releaseNamespace, "--values", valuesFile).CombinedOutput()
			if err != nil {
				t.Errorf("helm lint: %v\n%s", err, out)
			}
			for _, line := range strings.Split(string(out), "\n") {
				if strings.Contains(line, "[WARNING]") {
					t.Logf("helm lint: %s", line)
				}
			}
		})
	}
}

func TestChartRendersSecureWorkload(t *testing.T) {
	for _, tc := range chartCases {
		t.Run(tc.name, func(t *testing.T) {
			m := mustRender(t, tc.vals)
			tpl, sel := m.pod(t)
			podLabels := labels.Set(tpl.Labels)

			selector, err := metav1.LabelSelectorAsSelector(sel)
			if err != nil || selector.Empty() || !selector.Matches(podLabels) {
				t.Errorf("workload selector %v does not select its pod labels %v (%v)", sel, tpl.Labels, err)
			}

			// Pod and container security.
			ps := tpl.Spec.SecurityContext
			if ps == nil || !ptrIs(ps.RunAsNonRoot, true) || !ptrIs(ps.RunAsUser, 65534) ||
				ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("pod securityContext = %+v", ps)
			}
			if !ptrIs(tpl.Spec.AutomountServiceAccountToken, false) {
				t.Error("the service account token is mounted; the exporter never calls the Kubernetes API")
			}
			if len(tpl.Spec.Containers) != 1 {
				t.Fatalf("want one container, got %d", len(tpl.Spec.Containers))
			}
			c := tpl.Spec.Containers[0]
			sc := c.SecurityContext
			if sc == nil || !ptrIs(sc.RunAsNonRoot, true) || !ptrIs(sc.RunAsUser, 65534) ||
				!ptrIs(sc.ReadOnlyRootFilesystem, true) || !ptrIs(sc.AllowPrivilegeEscalation, false) ||
				sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
				sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("container securityContext = %+v", sc)
			}
			if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
				t.Errorf("resources = %+v, want cpu and memory requests and a memory limit", c.Resources)
			}

			// The port and the probes.
			if len(c.Ports) != 1 || c.Ports[0].Name != "http-metrics" || c.Ports[0].ContainerPort != 10027 {
				t.Errorf("container ports = %+v, want http-metrics 10027", c.Ports)
			}
			wantTCP := tc.name == "webconfig"
			checkProbe(t, "liveness", c.LivenessProbe, "/-/healthy", wantTCP)
			checkProbe(t, "readiness", c.ReadinessProbe, "/-/ready", wantTCP)
			if wantTCP != slices.Contains(c.Args, "--web.config.file=/etc/kore_exporter/web/web-config.yml") {
				t.Errorf("args %q: --web.config.file present = %v, want %v", c.Args, !wantTCP, wantTCP)
			}

			// The config file: the flag points into the mounted ConfigMap.
			if !slices.Contains(c.Args, "--config.file=/etc/kore_exporter/config/config.yml") {
				t.Errorf("args %q lack --config.file=/etc/kore_exporter/config/config.yml", c.Args)
			}
			wantCM := releaseName + "-kore-exporter"
			if ecm, _ := tc.vals["existingConfigMap"].(string); ecm != "" {
				wantCM = ecm
				if m.configMap(releaseName+"-kore-exporter") != nil {
					t.Error("a ConfigMap is rendered although existingConfigMap is set")
				}
				if _, ok := tpl.Annotations["checksum/config"]; ok {
					t.Error("checksum/config is set for an existing ConfigMap the chart cannot see")
				}
			} else {
				cm := m.configMap(wantCM)
				if cm == nil {
					t.Fatalf("ConfigMap %s not rendered", wantCM)
				}
				checkExporterConfig(t, cm.Data["config.yml"])
				if tpl.Annotations["checksum/config"] == "" {
					t.Error("pod template lacks the checksum/config annotation")
				}
			}
			if v := volume(tpl.Spec, "config"); v == nil || v.ConfigMap == nil || v.ConfigMap.Name != wantCM ||
				!mounted(c, "config", "/etc/kore_exporter/config") {
				t.Errorf("config volume = %+v, want ConfigMap %s mounted at /etc/kore_exporter/config", v, wantCM)
			}

			// Secrets come from the existing Secret only.
			if es, _ := tc.vals["existingSecret"].(string); es != "" {
				if v := volume(tpl.Spec, "secrets"); v == nil || v.Secret == nil || v.Secret.SecretName != es ||
					!mounted(c, "secrets", "/etc/kore_exporter/secrets") {
					t.Errorf("secrets volume = %+v, want Secret %s mounted at /etc/kore_exporter/secrets", v, es)
				}
				env := envVar(c, "KORE_SALES_SECRET")
				if env == nil || env.Value != "" || env.ValueFrom == nil || env.ValueFrom.SecretKeyRef == nil ||
					env.ValueFrom.SecretKeyRef.Name != es || env.ValueFrom.SecretKeyRef.Key != "sales" {
					t.Errorf("env KORE_SALES_SECRET = %+v, want secretKeyRef %s/sales", env, es)
				}
			} else if volume(tpl.Spec, "secrets") != nil {
				t.Error("a secrets volume without existingSecret")
			}
			if strings.Contains(m.raw, "kind: Secret\n") {
				t.Error("the chart rendered a Secret; it must only reference an existing one")
			}

			// The Service selects the pods on the metrics port.
			svc := m.service(releaseName + "-kore-exporter")
			if svc == nil {
				t.Fatal("Service not rendered")
			}
			checkServiceSelects(t, svc, podLabels)

			// The NetworkPolicy (on by default): the pods, ingress on the
			// metrics port only, egress to DNS and HTTPS only.
			if len(m.networkPolicies) != 1 {
				t.Fatalf("want one NetworkPolicy, got %d", len(m.networkPolicies))
			}
			checkNetworkPolicy(t, &m.networkPolicies[0], podLabels)

			if strings.Contains(m.raw+m.notes, secretCanary) {
				t.Error("the secret canary is in the rendered output")
			}
		})
	}
}

func TestChartDeploymentOrShardedStatefulSet(t *testing.T) {
	t.Run("one shard: a Deployment of one replica", func(t *testing.T) {
		m := mustRender(t, nil)
		if len(m.deployments) != 1 || len(m.statefulSets) != 0 {
			t.Fatalf("got %d Deployments and %d StatefulSets", len(m.deployments), len(m.statefulSets))
		}
		d := m.deployments[0]
		if !ptrIs(d.Spec.Replicas, 1) {
			t.Errorf("replicas = %v, want 1", d.Spec.Replicas)
		}
		if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("strategy = %q, want Recreate (two pods must not poll one bot at once)", d.Spec.Strategy.Type)
		}
		for _, a := range d.Spec.Template.Spec.Containers[0].Args {
			if strings.HasPrefix(a, "--shard.") {
				t.Errorf("unsharded pod has %s", a)
			}
		}
		if len(m.services) != 1 {
			t.Errorf("want one Service, got %d", len(m.services))
		}
	})
	t.Run("shards: 3: a StatefulSet, each pod its own shard", func(t *testing.T) {
		m := mustRender(t, map[string]any{"shards": 3})
		if len(m.deployments) != 0 || len(m.statefulSets) != 1 {
			t.Fatalf("got %d Deployments and %d StatefulSets", len(m.deployments), len(m.statefulSets))
		}
		s := m.statefulSets[0]
		if !ptrIs(s.Spec.Replicas, 3) {
			t.Errorf("replicas = %v, want 3", s.Spec.Replicas)
		}
		c := s.Spec.Template.Spec.Containers[0]
		for _, want := range []string{"--shard.count=3", "--shard.index=$(SHARD_INDEX)"} {
			if !slices.Contains(c.Args, want) {
				t.Errorf("args %q lack %s", c.Args, want)
			}
		}
		env := envVar(c, "SHARD_INDEX")
		if env == nil || env.ValueFrom == nil || env.ValueFrom.FieldRef == nil ||
			env.ValueFrom.FieldRef.FieldPath != "metadata.labels['apps.kubernetes.io/pod-index']" {
			t.Errorf("env SHARD_INDEX = %+v, want the pod-index label through the downward API", env)
		}
		// $(SHARD_INDEX) expands only from a variable defined in env.
		headless := m.service(s.Spec.ServiceName)
		if headless == nil || headless.Spec.ClusterIP != corev1.ClusterIPNone {
			t.Fatalf("serviceName %q: want a headless Service, got %+v", s.Spec.ServiceName, headless)
		}
		checkServiceSelects(t, headless, labels.Set(s.Spec.Template.Labels))
	})
}

func TestChartChecksumFollowsConfig(t *testing.T) {
	checksum := func(vals map[string]any) string {
		tpl, _ := mustRender(t, vals).pod(t)
		return tpl.Annotations["checksum/config"]
	}
	base := checksum(nil)
	if base == "" {
		t.Fatal("no checksum/config annotation")
	}
	if again := checksum(map[string]any{"logLevel": "debug"}); again != base {
		t.Errorf("checksum changed with a value that is not in the config: %s -> %s", base, again)
	}
	changed := checksum(map[string]any{"config": map[string]any{"defaults": map[string]any{"interval": "10m"}}})
	if changed == base {
		t.Error("checksum did not change with the config")
	}
	if s := checksum(map[string]any{"shards": 3}); s != base {
		t.Errorf("StatefulSet checksum %s differs from the Deployment's %s for the same config", s, base)
	}
}

func TestChartRefusesInlineSecret(t *testing.T) {
	vals := map[string]any{"config": map[string]any{"bots": []any{map[string]any{
		"name": "sales", "bot_id": "st-2b3c4d5e-0000-5000-8000-00000000a002",
		"client_id": "cs-6f7a8b9c-0000-5000-8000-00000000b003", "client_secret": secretCanary,
	}}}}
	r, err := renderChart(t, vals)
	if err == nil {
		for _, d := range r.docs {
			if strings.Contains(d.body, secretCanary) {
				t.Errorf("%s contains the literal client secret", d.source)
			}
		}
		t.Fatal("a literal client_secret in values rendered; want an error")
	}
	if strings.Contains(err.Error(), secretCanary) {
		t.Errorf("the error echoes the secret: %v", err)
	}
	if !strings.Contains(err.Error(), "config.bots[0].client_secret") || !strings.Contains(err.Error(), "existingSecret") {
		t.Errorf("error = %v, want it to name config.bots[0].client_secret and existingSecret", err)
	}
}

func TestChartValuesSchemaRejectsTypos(t *testing.T) {
	for name, vals := range map[string]map[string]any{
		"unknown top key": {"shard": 3},
		"shards 0":        {"shards": 0},
		"probe type":      {"probes": map[string]any{"type": "exec"}},
		"nested typo":     {"serviceMonitor": map[string]any{"enable": true}},
	} {
		if _, err := renderChart(t, vals); err == nil || !strings.Contains(err.Error(), "schema") {
			t.Errorf("%s: err = %v, want a schema error", name, err)
		}
	}
}

// TestChartRefusesReplicas checks that `replicas` fails the install with
// a message naming `shards` (the schema lets it through for that).
func TestChartRefusesReplicas(t *testing.T) {
	for name, vals := range map[string]map[string]any{
		"replicas":             {"replicas": 3},
		"replicas with shards": {"replicas": 2, "shards": 2},
		"replicas 1":           {"replicas": 1},
	} {
		_, err := renderChart(t, vals)
		if err == nil {
			t.Errorf("%s: rendered; want replicas refused", name)
			continue
		}
		for _, want := range []string{"replicas is not a value of this chart", "per bot", "shards: N"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error does not contain %q: %v", name, want, err)
			}
		}
	}
}

// TestChartConfigAsString checks --set-file config=kore.yml: the ConfigMap
// holds the file as written, which the exporter reads as it reads the same
// configuration given as YAML values; the rest of the release is the same.
func TestChartConfigAsString(t *testing.T) {
	var asMap map[string]any
	if err := yaml.Unmarshal([]byte(configFileText), &asMap); err != nil {
		t.Fatal(err)
	}
	base := map[string]any{
		"existingSecret": "kore-secrets",
		"secretEnv":      []any{map[string]any{"name": "KORE_SALES_SECRET", "key": "sales"}},
	}
	with := func(config any) map[string]any {
		v := maps.Clone(base)
		v["config"] = config
		return v
	}
	fromText, fromMap := mustRender(t, with(configFileText)), mustRender(t, with(asMap))
	name := releaseName + "-kore-exporter"
	cmText, cmMap := fromText.configMap(name), fromMap.configMap(name)
	if cmText == nil || cmMap == nil {
		t.Fatalf("no ConfigMap %s (text: %v, map: %v)", name, cmText != nil, cmMap != nil)
	}
	if got := cmText.Data["config.yml"]; got != configFileText {
		t.Errorf("config.yml is not the file as written:\n%s\nwant:\n%s", got, configFileText)
	}
	if !reflect.DeepEqual(cmText.ObjectMeta, cmMap.ObjectMeta) || !slices.Equal(slices.Sorted(maps.Keys(cmText.Data)), slices.Sorted(maps.Keys(cmMap.Data))) {
		t.Errorf("ConfigMaps differ beyond config.yml:\n%+v\n%+v", cmText, cmMap)
	}
	parse := func(data string) *config.Config {
		t.Helper()
		cfg, err := config.ParseWith([]byte(data), config.ParseOptions{SkipSecrets: true})
		if err != nil {
			t.Fatalf("config.yml does not parse: %v\n%s", err, data)
		}
		return cfg
	}
	if a, b := parse(cmText.Data["config.yml"]), parse(cmMap.Data["config.yml"]); !reflect.DeepEqual(a, b) {
		t.Errorf("the exporter reads different configurations:\nfrom the text: %+v\nfrom the map:  %+v", a, b)
	}
	// The rest of the release is the same, but for the checksum of the
	// config's text.
	podText, _ := fromText.pod(t)
	podMap, _ := fromMap.pod(t)
	if podText.Annotations["checksum/config"] == "" || podText.Annotations["checksum/config"] == podMap.Annotations["checksum/config"] {
		t.Errorf("checksum/config %q: want one of the text itself", podText.Annotations["checksum/config"])
	}
	delete(podText.Annotations, "checksum/config")
	delete(podMap.Annotations, "checksum/config")
	if !reflect.DeepEqual(podText, podMap) {
		t.Errorf("pod templates differ:\n%+v\n%+v", podText, podMap)
	}

	// A text whose first line is indented keeps its indentation.
	indented := "  # indented first line\nbots:\n  - {bot_id: st-1, client_id: cs-1, client_secret_file: /etc/kore_exporter/secrets/a}\n"
	if got := mustRender(t, with(indented)).configMap(name).Data["config.yml"]; got != indented {
		t.Errorf("indented text: config.yml = %q, want %q", got, indented)
	}

	// A literal secret in the text is refused, without echoing it.
	_, err := renderChart(t, with(strings.Replace(configFileText, "${KORE_SALES_SECRET}", secretCanary, 1)))
	if err == nil || !strings.Contains(err.Error(), "config.bots[1].client_secret: a literal secret") || strings.Contains(err.Error(), secretCanary) {
		t.Errorf("literal secret in the text: err = %v, want it refused (not echoed)", err)
	}
	// Text that is not a YAML mapping.
	for _, bad := range []string{"bots: [\n", "- a\n- b\n"} {
		if _, err := renderChart(t, with(bad)); err == nil || !strings.Contains(err.Error(), "--config.check") {
			t.Errorf("config %q: err = %v, want a pointer to --config.check", bad, err)
		}
	}
}

// TestChartValuesSchemaConfig checks that the schema takes `config` as a
// mapping or a string, and nothing else.
func TestChartValuesSchemaConfig(t *testing.T) {
	for name, cfg := range map[string]any{
		"mapping": map[string]any{"bots": []any{map[string]any{"bot_id": "st-1", "client_id": "cs-1", "client_secret_file": "/etc/kore_exporter/secrets/a"}}},
		"string":  configFileText,
	} {
		if _, err := renderChart(t, map[string]any{"config": cfg}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, cfg := range map[string]any{
		"number": 3,
		"list":   []any{"bots"},
		"bool":   true,
	} {
		if _, err := renderChart(t, map[string]any{"config": cfg}); err == nil || !strings.Contains(err.Error(), "schema") {
			t.Errorf("%s: err = %v, want a schema error", name, err)
		}
	}
}

func TestChartServiceMonitor(t *testing.T) {
	m := mustRender(t, chartCases[2].vals)
	if len(m.serviceMonitors) != 1 {
		t.Fatalf("want one ServiceMonitor, got %d", len(m.serviceMonitors))
	}
	sm := m.serviceMonitors[0]
	if sm.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("ServiceMonitor labels = %v, want the extra release label", sm.Labels)
	}
	svc := m.service(releaseName + "-kore-exporter")
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not select the Service's labels %v", sm.Spec.Selector, svc.Labels)
	}
	if !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{releaseNamespace}) {
		t.Errorf("namespaceSelector = %+v", sm.Spec.NamespaceSelector)
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("want one endpoint, got %d", len(sm.Spec.Endpoints))
	}
	ep := sm.Spec.Endpoints[0]
	if ep.Port != "http-metrics" || ep.Path != "/metrics" || ep.Interval != "60s" || ep.ScrapeTimeout != "10s" {
		t.Errorf("endpoint = port %q path %q interval %q timeout %q", ep.Port, ep.Path, ep.Interval, ep.ScrapeTimeout)
	}
	// The alerts KoreExporterDown/Absent read up{job="kore_exporter"}.
	found := false
	for _, r := range ep.RelabelConfigs {
		if r.TargetLabel == "job" && r.Replacement != nil && *r.Replacement == "kore_exporter" {
			found = true
		}
	}
	if !found {
		t.Errorf("relabelings %+v do not set job=kore_exporter", ep.RelabelConfigs)
	}
}

func TestChartPrometheusRuleIsTheRuleFiles(t *testing.T) {
	shipped := sortedGlob(t, filepath.Join(rulesDir, "*.yml"))

	var want []monitoringv1.RuleGroup
	for _, f := range shipped {
		var file struct {
			Groups []monitoringv1.RuleGroup `json:"groups"`
		}
		if err := yaml.UnmarshalStrict(readFile(t, f), &file); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		want = append(want, file.Groups...)
	}

	m := mustRender(t, chartCases[2].vals)
	if len(m.prometheusRules) != 1 {
		t.Fatalf("want one PrometheusRule, got %d", len(m.prometheusRules))
	}
	got := m.prometheusRules[0].Spec.Groups
	if len(got) == 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("PrometheusRule groups differ from %s", rulesDir)
		for i := range max(len(got), len(want)) {
			if i >= len(got) || i >= len(want) || !reflect.DeepEqual(got[i], want[i]) {
				t.Logf("first difference at group %d", i)
				break
			}
		}
	}
	if off := mustRender(t, nil); len(off.prometheusRules) != 0 || len(off.serviceMonitors) != 0 {
		t.Error("PrometheusRule or ServiceMonitor rendered by default (the CRDs may not exist)")
	}
}

// chartRuleGroups reads the chart's copies of the rule files, the groups
// the PrometheusRule is built from, in the template's order (file names).
func chartRuleGroups(t *testing.T) []monitoringv1.RuleGroup {
	t.Helper()
	var groups []monitoringv1.RuleGroup
	for _, f := range sortedGlob(t, filepath.Join(chartDir, "files/rules/*.yml")) {
		var file struct {
			Groups []monitoringv1.RuleGroup `json:"groups"`
		}
		if err := yaml.UnmarshalStrict(readFile(t, f), &file); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		groups = append(groups, file.Groups...)
	}
	return groups
}

// ruleOptions are the prometheusRule options that rewrite the rules.
type ruleOptions struct {
	disabled    map[string]bool
	labels      map[string]string
	annotations map[string]string
	runbookURL  string
}

// values returns them as chart values, the PrometheusRule enabled.
func (o ruleOptions) values() map[string]any {
	pr := map[string]any{"enabled": true}
	if o.disabled != nil {
		d := map[string]any{}
		for k, v := range o.disabled {
			d[k] = v
		}
		pr["disabled"] = d
	}
	for key, m := range map[string]map[string]string{"additionalRuleLabels": o.labels, "additionalRuleAnnotations": o.annotations} {
		if m != nil {
			v := map[string]any{}
			for k, s := range m {
				v[k] = s
			}
			pr[key] = v
		}
	}
	if o.runbookURL != "" {
		pr["runbookUrl"] = o.runbookURL
	}
	return map[string]any{"prometheusRule": pr}
}

// runbook returns the runbook_url runbookURL gives alert.
func (o ruleOptions) runbook(alert string) string {
	return strings.TrimSuffix(o.runbookURL, "#") + "#" + strings.ToLower(alert)
}

// apply is what the template does to groups, written in Go: disabled
// alerts (and groups left empty) out; on the other alerts, runbook_url
// rewritten, then the additional labels and annotations set over their
// own. Recording rules and everything else unchanged. groups is not
// modified.
func (o ruleOptions) apply(groups []monitoringv1.RuleGroup) []monitoringv1.RuleGroup {
	var out []monitoringv1.RuleGroup
	for _, g := range groups {
		var rules []monitoringv1.Rule
		for _, r := range g.Rules {
			if r.Alert != "" {
				if o.disabled[r.Alert] {
					continue
				}
				if len(o.labels) > 0 {
					r.Labels = maps.Clone(r.Labels)
					if r.Labels == nil {
						r.Labels = map[string]string{}
					}
					maps.Copy(r.Labels, o.labels)
				}
				if o.runbookURL != "" || len(o.annotations) > 0 {
					r.Annotations = maps.Clone(r.Annotations)
					if r.Annotations == nil {
						r.Annotations = map[string]string{}
					}
					if o.runbookURL != "" {
						r.Annotations["runbook_url"] = o.runbook(r.Alert)
					}
					maps.Copy(r.Annotations, o.annotations)
				}
			}
			rules = append(rules, r)
		}
		if len(rules) > 0 {
			g.Rules = rules
			out = append(out, g)
		}
	}
	return out
}

// renderedRuleGroups renders the chart with vals and returns the one
// PrometheusRule's groups, checked as a Prometheus rule file (rulefmt: the
// label and annotation names, the annotation templates, the expressions).
func renderedRuleGroups(t *testing.T, vals map[string]any) []monitoringv1.RuleGroup {
	t.Helper()
	m := mustRender(t, vals)
	if len(m.prometheusRules) != 1 {
		t.Fatalf("want one PrometheusRule, got %d", len(m.prometheusRules))
	}
	groups := m.prometheusRules[0].Spec.Groups
	file, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	if _, errs := rulefmt.Parse(file, false, model.UTF8Validation, promqlParser, slog.New(slog.DiscardHandler)); len(errs) > 0 {
		t.Errorf("the rendered groups are not a valid rule file: %v", errors.Join(errs...))
	}
	return groups
}

// rulesNamed counts the rules of groups by alert or record name.
func rulesNamed(groups []monitoringv1.RuleGroup) map[string]int {
	n := map[string]int{}
	for _, g := range groups {
		for _, r := range g.Rules {
			n[r.Alert+r.Record]++
		}
	}
	return n
}

func recordingRules(groups []monitoringv1.RuleGroup) []monitoringv1.Rule {
	var out []monitoringv1.Rule
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				out = append(out, r)
			}
		}
	}
	return out
}

// firstRuleDiff describes the first group or rule where got and want
// differ, as YAML.
func firstRuleDiff(got, want []monitoringv1.RuleGroup) string {
	show := func(v any) string {
		b, _ := yaml.Marshal(v)
		return string(b)
	}
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			return "group " + want[i].Name + " is missing"
		case i >= len(want):
			return "extra group " + got[i].Name
		case reflect.DeepEqual(got[i], want[i]):
			continue
		}
		g, w := got[i], want[i]
		for j := range max(len(g.Rules), len(w.Rules)) {
			switch {
			case j >= len(g.Rules):
				return fmt.Sprintf("group %s: rule %d missing:\n%s", w.Name, j, show(w.Rules[j]))
			case j >= len(w.Rules):
				return fmt.Sprintf("group %s: extra rule %d:\n%s", g.Name, j, show(g.Rules[j]))
			case !reflect.DeepEqual(g.Rules[j], w.Rules[j]):
				return fmt.Sprintf("group %s: rule %d is\n%swant\n%s", g.Name, j, show(g.Rules[j]), show(w.Rules[j]))
			}
		}
		g.Rules, w.Rules = nil, nil
		return fmt.Sprintf("group %d is\n%swant\n%s", i, show(g), show(w))
	}
	return "no difference"
}

// TestChartPrometheusRuleOptions renders the PrometheusRule with each of
// disabled, additionalRuleLabels, additionalRuleAnnotations and runbookUrl,
// and some together. The alert names come from the chart's rule files, so
// the test follows their renames.
func TestChartPrometheusRuleOptions(t *testing.T) {
	shipped := chartRuleGroups(t)
	var alerts []string // in file order, each once
	for _, g := range shipped {
		for _, r := range g.Rules {
			if r.Alert != "" && !slices.Contains(alerts, r.Alert) {
				alerts = append(alerts, r.Alert)
			}
		}
	}
	if len(alerts) < 2 || len(recordingRules(shipped)) == 0 {
		t.Fatalf("the chart's rule files hold %d alerts and %d recording rules; the test needs 2 and 1", len(alerts), len(recordingRules(shipped)))
	}
	first, last := alerts[0], alerts[len(alerts)-1]
	// The first alert's group: disabling all its alerts drops it, if it
	// holds alerts only.
	var firstGroup string
	groupOf := map[string]bool{}
	for _, g := range shipped {
		if firstGroup != "" {
			break
		}
		for _, r := range g.Rules {
			if r.Alert == first {
				firstGroup = g.Name
			}
		}
		if firstGroup != "" {
			for _, r := range g.Rules {
				if r.Alert == "" {
					groupOf = nil // a recording rule: the group stays
					break
				}
				groupOf[r.Alert] = true
			}
		}
	}

	for _, tc := range []struct {
		name string
		opts ruleOptions
	}{
		{"no options", ruleOptions{disabled: map[string]bool{}, labels: map[string]string{}, annotations: map[string]string{}}},
		{"disabled false", ruleOptions{disabled: map[string]bool{first: false}}},
		{"disabled", ruleOptions{disabled: map[string]bool{first: true}}},
		{"disabled unknown name", ruleOptions{disabled: map[string]bool{"NoSuchAlert": true}}},
		{"disabled whole group", ruleOptions{disabled: groupOf}},
		{"additionalRuleLabels", ruleOptions{labels: map[string]string{"team": "cx"}}},
		{"additionalRuleLabels over severity", ruleOptions{labels: map[string]string{"team": "cx", "severity": "page"}}},
		{"additionalRuleAnnotations", ruleOptions{annotations: map[string]string{"dashboard": "https://grafana.example.com/d/kore"}}},
		{"runbookUrl", ruleOptions{runbookURL: "https://runbooks.example.com/kore"}},
		{"runbookUrl ending in #", ruleOptions{runbookURL: "https://runbooks.example.com/kore.md#"}},
		{"runbook_url annotation over runbookUrl", ruleOptions{
			runbookURL:  "https://runbooks.example.com/kore",
			annotations: map[string]string{"runbook_url": "https://wiki.example.com/kore"},
		}},
		{"combination", ruleOptions{
			disabled:    map[string]bool{first: true, last: true},
			labels:      map[string]string{"team": "cx", "tier": "1"},
			annotations: map[string]string{"dashboard": "https://grafana.example.com/d/kore"},
			runbookURL:  "https://runbooks.example.com/kore",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			got := renderedRuleGroups(t, o.values())
			if want := o.apply(shipped); !reflect.DeepEqual(got, want) {
				t.Errorf("the rendered groups are not the rule files with the options applied: %s", firstRuleDiff(got, want))
			}

			// The same, property by property.
			n, shippedN := rulesNamed(got), rulesNamed(shipped)
			for _, a := range alerts {
				if want := map[bool]int{false: shippedN[a]}[o.disabled[a]]; n[a] != want {
					t.Errorf("alert %s: %d rules, want %d (disabled: %v)", a, n[a], want, o.disabled[a])
				}
			}
			if !reflect.DeepEqual(recordingRules(got), recordingRules(shipped)) {
				t.Error("the recording rules changed; the options are for alerts only")
			}
			if groupOf != nil && reflect.DeepEqual(o.disabled, groupOf) {
				for _, g := range got {
					if g.Name == firstGroup {
						t.Errorf("group %s is rendered although all its alerts are disabled", firstGroup)
					}
				}
			}
			for _, g := range got {
				for _, r := range g.Rules {
					if r.Alert == "" {
						continue
					}
					for k, v := range o.labels {
						if r.Labels[k] != v {
							t.Errorf("alert %s: label %s = %q, want %q", r.Alert, k, r.Labels[k], v)
						}
					}
					for k, v := range o.annotations {
						if r.Annotations[k] != v {
							t.Errorf("alert %s: annotation %s = %q, want %q", r.Alert, k, r.Annotations[k], v)
						}
					}
					if _, set := o.annotations["runbook_url"]; o.runbookURL != "" && !set {
						if got, want := r.Annotations["runbook_url"], o.runbook(r.Alert); got != want {
							t.Errorf("alert %s: runbook_url = %q, want %q", r.Alert, got, want)
						}
					}
				}
			}
		})
	}

	t.Run("notes name unknown disabled alerts", func(t *testing.T) {
		for _, tc := range []struct {
			disabled map[string]bool
			warn     bool
		}{
			{nil, false},
			{map[string]bool{first: true}, false},
			{map[string]bool{"NoSuchAlert": false}, false},
			{map[string]bool{"NoSuchAlert": true, first: true}, true},
		} {
			notes := mustRender(t, ruleOptions{disabled: tc.disabled}.values()).notes
			warned := strings.Contains(notes, "prometheusRule.disabled names no shipped alert: NoSuchAlert (")
			if warned != tc.warn || strings.Contains(notes, first) {
				t.Errorf("disabled %v: notes warn about NoSuchAlert: %v, want %v:\n%s", tc.disabled, warned, tc.warn, notes)
			}
		}
	})

	t.Run("the schema refuses wrong types", func(t *testing.T) {
		for name, pr := range map[string]map[string]any{
			"disabled a string":               {"disabled": "x"},
			"disabled a list":                 {"disabled": []any{first}},
			"disabled value a string":         {"disabled": map[string]any{first: "yes"}},
			"additionalRuleLabels a list":     {"additionalRuleLabels": []any{"team=cx"}},
			"additionalRuleLabels value int":  {"additionalRuleLabels": map[string]any{"tier": 1}},
			"additionalRuleAnnotations a str": {"additionalRuleAnnotations": "dashboard"},
			"runbookUrl a number":             {"runbookUrl": 42},
			"runbookUrl without a scheme":     {"runbookUrl": "runbooks.example.com/kore"},
			"runbookUrl with a fragment":      {"runbookUrl": "https://runbooks.example.com/kore#x"},
			"typo":                            {"additionalRuleLabel": map[string]any{"team": "cx"}},
		} {
			pr["enabled"] = true
			if _, err := renderChart(t, map[string]any{"prometheusRule": pr}); err == nil || !strings.Contains(err.Error(), "schema") {
				t.Errorf("%s: err = %v, want a schema error", name, err)
			}
		}
	})
}

func TestChartDashboardsConfigMaps(t *testing.T) {
	shipped := sortedGlob(t, "../dashboards/*.json")

	m := mustRender(t, chartCases[2].vals)
	for _, f := range shipped {
		key := filepath.Base(f)
		name := releaseName + "-kore-exporter-" + strings.TrimSuffix(key, ".json")
		cm := m.configMap(name)
		if cm == nil {
			t.Errorf("no ConfigMap %s for %s", name, f)
			continue
		}
		if cm.Labels["grafana_dashboard"] != "1" {
			t.Errorf("%s: labels %v lack the Grafana sidecar label grafana_dashboard: \"1\"", name, cm.Labels)
		}
		if cm.Annotations["grafana_folder"] != "Kore.ai" {
			t.Errorf("%s: annotations %v, want grafana_folder Kore.ai", name, cm.Annotations)
		}
		if len(cm.Data) != 1 || cm.Data[key] != string(readFile(t, f)) {
			t.Errorf("%s: data key %s is not exactly %s", name, key, f)
		}
	}
	if got, want := len(m.configMaps), len(shipped)+1; got != want {
		t.Errorf("%d ConfigMaps, want %d (the config and one per dashboard)", got, want)
	}
}

func checkProbe(t *testing.T, which string, p *corev1.Probe, path string, wantTCP bool) {
	t.Helper()
	switch {
	case p == nil:
		t.Errorf("no %s probe", which)
	case wantTCP:
		if p.TCPSocket == nil || p.TCPSocket.Port.String() != "http-metrics" || p.HTTPGet != nil {
			t.Errorf("%s probe = %+v, want tcpSocket on http-metrics (basic auth guards every path)", which, p.ProbeHandler)
		}
	default:
		if p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "http-metrics" {
			t.Errorf("%s probe = %+v, want httpGet %s on http-metrics", which, p.ProbeHandler, path)
		}
	}
}

func checkServiceSelects(t *testing.T, svc *corev1.Service, pod labels.Set) {
	t.Helper()
	if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(pod) {
		t.Errorf("Service %s selector %v does not select the pods %v", svc.Name, svc.Spec.Selector, pod)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http-metrics" || svc.Spec.Ports[0].Port != 10027 ||
		svc.Spec.Ports[0].TargetPort.String() != "http-metrics" {
		t.Errorf("Service %s ports = %+v, want http-metrics 10027 -> http-metrics", svc.Name, svc.Spec.Ports)
	}
}

func checkNetworkPolicy(t *testing.T, np *networkingv1.NetworkPolicy, pod labels.Set) {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil || sel.Empty() || !sel.Matches(pod) {
		t.Errorf("NetworkPolicy podSelector %v does not select the pods", np.Spec.PodSelector)
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Errorf("policyTypes = %v, want Ingress and Egress", np.Spec.PolicyTypes)
	}
	var in []string
	for _, r := range np.Spec.Ingress {
		for _, p := range r.Ports {
			in = append(in, string(*p.Protocol)+"/"+p.Port.String())
		}
	}
	if !slices.Equal(in, []string{"TCP/http-metrics"}) {
		t.Errorf("ingress ports = %v, want only TCP/http-metrics", in)
	}
	var out []string
	for _, r := range np.Spec.Egress {
		if len(r.Ports) == 0 {
			t.Errorf("an egress rule without ports allows everything: %+v", r)
		}
		for _, p := range r.Ports {
			out = append(out, string(*p.Protocol)+"/"+p.Port.String())
		}
	}
	if !slices.Equal(out, []string{"UDP/53", "TCP/53", "TCP/443"}) {
		t.Errorf("egress ports = %v, want DNS (53 UDP and TCP) and HTTPS (443) only", out)
	}
}

// checkExporterConfig parses the rendered config.yml with the exporter's
// own strict parser (secrets and files stubbed: they live in the Secret).
func checkExporterConfig(t *testing.T, data string) {
	t.Helper()
	if data == "" {
		t.Fatal("ConfigMap has no config.yml")
	}
	_, err := config.ParseWith([]byte(data), config.ParseOptions{
		LookupEnv: func(string) (string, bool) { return "from-secret-env", true },
		ReadFile: func(path string) ([]byte, error) {
			if !strings.HasPrefix(path, "/etc/kore_exporter/secrets/") {
				t.Errorf("config reads %s, outside the mounted Secret", path)
			}
			return []byte("from-secret-file"), nil
		},
	})
	if err != nil {
		t.Errorf("rendered config.yml does not parse: %v\n%s", err, data)
	}
}

func volume(spec corev1.PodSpec, name string) *corev1.Volume {
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == name {
			return &spec.Volumes[i]
		}
	}
	return nil
}

func mounted(c corev1.Container, name, path string) bool {
	for _, m := range c.VolumeMounts {
		if m.Name == name && m.MountPath == path && m.ReadOnly {
			return true
		}
	}
	return false
}

func envVar(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func ptrIs[T comparable](p *T, want T) bool { return p != nil && *p == want }

func sortedGlob(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no files match %s (%v)", pattern, err)
	}
	sort.Strings(files)
	return files
}
