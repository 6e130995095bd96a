package deploy_test

// Sharding proven on real parts: three exporter processes split a dozen
// simulated bots (--shard.count=3, --shard.index=0..2) and one Prometheus
// scrapes them with the shipped scrape job and recording rules; a fourth,
// unsharded exporter runs all the bots for a second Prometheus with the same
// configuration and rules. Every bot's series must come from exactly one
// shard, none missing, each shard running some bots, and the recorded
// per-bot ratios of the sharded fleet must equal the single exporter's
// (within 0.1 %: each process's window ends at its own run).

import (
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

// shardingBots is how many simulated bots the sharded fleet splits.
const shardingBots = 12

// startPrometheus starts a Prometheus server with the shipped scrape config
// (scrape and evaluation every second, the targets given) and the given
// rule files, and returns its API once it is ready.
func startPrometheus(t *testing.T, bin, dir string, rules, targets []string) promAPI {
	t.Helper()
	scrape, err := os.ReadFile("prometheus/scrape.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(scrape)
	if !strings.Contains(cfg, `"localhost:10027"`) {
		t.Fatal(`prometheus/scrape.yml: no target "localhost:10027" to replace`)
	}
	cfg = strings.Replace(cfg, `"localhost:10027"`, `"`+strings.Join(targets, `", "`)+`"`, 1)
	cfg = regexp.MustCompile(`(?m)^(\s*(scrape|evaluation)_interval:\s*)\S+`).ReplaceAllString(cfg, "${1}1s")
	cfg = regexp.MustCompile(`(?m)^(\s*scrape_timeout:\s*)\S+`).ReplaceAllString(cfg, "${1}1s")
	for _, r := range rules {
		cfg = strings.Replace(cfg, "rules/"+filepath.Base(r), r, 1)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	prom := start(t, bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	api := promAPI{base: "http://" + addr, t: t}
	eventually(t, 60*time.Second, "Prometheus ready", func() string {
		resp, err := http.Get(api.base + "/-/ready")
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return resp.Status + "\n" + prom.output()
		}
		return ""
	})
	return api
}

// byLabel runs expr and returns each sample's value by the label's value.
func byLabel(api promAPI, expr, label string) (map[string]float64, error) {
	s, err := api.query(expr, time.Now())
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, x := range s {
		v, err := strconv.ParseFloat(fmt.Sprint(x.Value[1]), 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", expr, err)
		}
		out[x.Metric[label]] = v
	}
	return out, nil
}

func TestShardingOnRealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four exporters and two real Prometheus servers: skipped with -short")
	}
	promBin := tool(t, "PROMETHEUS_BIN", "prometheus")
	began := time.Now()
	dir := t.TempDir()

	exporter := filepath.Join(dir, "kore_exporter")
	run(t, "..", "go", "build", "-o", exporter, ".")

	// The simulated Kore.ai API with a dozen bots, and one configuration
	// naming them all.
	sim := koretest.NewServer(koretest.WithJobDuration(200 * time.Millisecond))
	t.Cleanup(sim.Close)
	var cfg strings.Builder
	// A week's window: the quietest simulated bot has about 60 sessions in
	// a night hour, where one session more or less (see the comparison of
	// the ratios below) would be 1.5 %, and a few hundred drop-offs in a
	// day, where a few more or less would be most of the tolerance; in a
	// week they are a few thousand.
	fmt.Fprintf(&cfg, "defaults:\n  host: %s\n  allow_insecure_http: true\n  interval: 1m\n  windows: [7d]\n"+
		"limits: {max_concurrent_jobs: %d}\nbots:\n", sim.URL, shardingBots)
	var names []string
	for i, b := range koretest.DemoBots(shardingBots, 7) {
		sim.AddBot(b)
		name := fmt.Sprintf("bot-%02d", i)
		names = append(names, name)
		fmt.Fprintf(&cfg, "  - name: %s\n    bot_id: %s\n    client_id: %s\n    client_secret: %q\n", name, b.ID, b.ClientID, b.ClientSecret)
	}
	cfgPath := filepath.Join(dir, "kore.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	// Three shards and one unsharded exporter, all on the same file.
	const shards = 3
	var shardAddrs []string
	index := map[string]int{} // instance → its --shard.index
	for i := range shards {
		addr := freePort(t)
		shardAddrs = append(shardAddrs, addr)
		index[addr] = i
		start(t, exporter, "--config.file="+cfgPath, "--web.listen-address="+addr,
			fmt.Sprintf("--shard.count=%d", shards), fmt.Sprintf("--shard.index=%d", i))
	}
	singleAddr := freePort(t)
	start(t, exporter, "--config.file="+cfgPath, "--web.listen-address="+singleAddr)

	// One Prometheus for the fleet, one for the single exporter: each
	// evaluates the shipped recording rules over what it scrapes, so the
	// recorded series can be compared as they are.
	rules := testRules(t, dir)
	fleet := startPrometheus(t, promBin, filepath.Join(dir, "fleet"), rules, shardAddrs)
	single := startPrometheus(t, promBin, filepath.Join(dir, "single"), rules, []string{singleAddr})

	// Every bot's report has arrived: in the fleet from one instance, in
	// the single exporter's Prometheus from it. The bots of one bot × window
	// job come in one scrape, so a bot with its sessions has all of them.
	const ratio = `kore_bot_window:task_drop_off:ratio{window="7d"}`
	eventually(t, 60*time.Second, "every bot's recorded drop-off ratio, in both Prometheus servers", func() string {
		for name, api := range map[string]promAPI{"fleet": fleet, "single": single} {
			got, err := byLabel(api, ratio, "bot")
			if err != nil {
				return err.Error()
			}
			if len(got) != shardingBots {
				return fmt.Sprintf("%s: %d of %d bots have %s", name, len(got), shardingBots, ratio)
			}
		}
		return ""
	})
	t.Logf("every bot's ratio recorded in both Prometheus servers %s after the start", time.Since(began).Round(time.Millisecond))

	// Each bot's info and task series come from exactly one shard, none is
	// missing, and each shard runs some bots and says which shard it is.
	for _, tc := range []struct{ what, expr string }{
		{"kore_bot_info", `count by (bot) (kore_bot_info{job="kore_exporter"})`},
		{"kore_task_sessions", `count by (bot) (count by (bot, instance) (kore_task_sessions{job="kore_exporter",window="7d"}))`},
	} {
		perBot, err := byLabel(fleet, tc.expr, "bot")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if perBot[name] != 1 {
				t.Errorf("%s of bot %s comes from %v shards, want exactly 1", tc.what, name, perBot[name])
			}
		}
		if len(perBot) != len(names) {
			t.Errorf("%s: bots %v, want exactly %v", tc.what, keys(perBot), names)
		}
	}
	perShard, err := byLabel(fleet, `count by (instance) (kore_bot_info{job="kore_exporter"})`, "instance")
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, addr := range shardAddrs {
		if perShard[addr] < 1 {
			t.Errorf("shard %d (%s) runs no bots: %v", index[addr], addr, perShard)
		}
		total += perShard[addr]
	}
	if total != shardingBots {
		t.Errorf("the shards run %v bots in all, want %d: %v", total, shardingBots, perShard)
	}
	t.Logf("bots per shard: %v", perShard)
	for metric, want := range map[string]func(addr string) float64{
		"kore_exporter_shard_index": func(addr string) float64 { return float64(index[addr]) },
		"kore_exporter_shards":      func(string) float64 { return shards },
	} {
		got, err := byLabel(fleet, metric, "instance")
		if err != nil {
			t.Fatal(err)
		}
		for _, addr := range shardAddrs {
			if v, ok := got[addr]; !ok || v != want(addr) {
				t.Errorf("%s of %s = %v (present %v), want %v", metric, addr, v, ok, want(addr))
			}
		}
	}
	if got, err := byLabel(single, "kore_exporter_shards", "instance"); err != nil || got[singleAddr] != 1 {
		t.Errorf("kore_exporter_shards of the single exporter = %v (%v), want 1", got, err)
	}

	// The recorded per-bot ratios of the fleet equal the single exporter's.
	// Each process's window is the week before its own run, by its own
	// clock, and runs of different processes start seconds apart (each
	// job's first run is spread over a tenth of its interval), so the counts
	// may differ by the traffic of those seconds: equal within 0.1 % relative
	// (measured: at most about 0.015 %).
	// (Pinning the simulator's clock would not make them exact: the
	// simulator serves no data after its now, which clips the window's end,
	// but the window's start is still each exporter's own now minus a week.)
	worst, worstAt := 0.0, ""
	for _, rec := range []string{
		"kore_bot_window:task_self_service:ratio", "kore_bot_window:task_drop_off:ratio",
		"kore_bot_window:task_agent_transfer:ratio", "kore_bot_window:task_sessions:sum",
	} {
		expr := rec + `{window="7d"}`
		a, err := byLabel(fleet, expr, "bot")
		if err != nil {
			t.Fatal(err)
		}
		b, err := byLabel(single, expr, "bot")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			x, okA := a[name]
			y, okB := b[name]
			if !okA || !okB || y == 0 {
				t.Errorf("%s of %s: fleet %v (%v), single %v (%v)", rec, name, x, okA, y, okB)
				continue
			}
			rel := math.Abs(x-y) / math.Abs(y)
			if rel > worst {
				worst, worstAt = rel, rec+" of "+name
			}
			if rel > 0.001 {
				t.Errorf("%s of %s: fleet %v, single exporter %v: %.3f%% apart, want within 0.1%%", rec, name, x, y, 100*rel)
			}
		}
	}
	t.Logf("the fleet's recorded per-bot series are at most %.4f%% from the single exporter's (%s); the test took %s",
		100*worst, worstAt, time.Since(began).Round(time.Millisecond))
}

func keys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return slices.Clip(out)
}
