package main

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

// TestShardFlags: --shard.from-hostname takes the index from the
// hostname's ordinal, and fails without one, beyond --shard.count, or
// together with --shard.index.
func TestShardFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		hostname string
		want     int
		err      string // a part of the error; "" for none
	}{
		{"explicit index", []string{"--shard.count=3", "--shard.index=1"}, "ignored-7", 1, ""},
		{"defaults", nil, "ignored-7", 0, ""},
		{"from the hostname", []string{"--shard.count=3", "--shard.from-hostname"}, "kore-exporter-2", 2, ""},
		{"from a hostname with a domain", []string{"--shard.count=3", "--shard.from-hostname"}, "kore-exporter-1.kore-exporter.monitoring.svc", 1, ""},
		{"no ordinal", []string{"--shard.count=3", "--shard.from-hostname"}, "kore-exporter", 0, "no ordinal suffix"},
		{"ordinal not below the count", []string{"--shard.count=3", "--shard.from-hostname"}, "kore-exporter-3", 0, "not in [0, 3)"},
		{"both ways", []string{"--shard.count=3", "--shard.from-hostname", "--shard.index=0"}, "kore-exporter-2", 0, "mutually exclusive"},
		{"no hostname", []string{"--shard.count=3", "--shard.from-hostname"}, "", 0, "--shard.from-hostname: no hostname"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, code, exited := parseFlags(tt.args, io.Discard, io.Discard)
			if exited {
				t.Fatalf("parseFlags(%q) exited %d", tt.args, code)
			}
			hostname := func() (string, error) {
				if tt.hostname == "" {
					return "", errors.New("no hostname")
				}
				return tt.hostname, nil
			}
			err := f.resolveShard(hostname)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("%q: %v", tt.args, err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("%q on %q: index %d, err %v; want an error with %q", tt.args, tt.hostname, f.shardIndex, err, tt.err)
			case tt.err == "" && f.shardIndex != tt.want:
				t.Errorf("%q on %q: index %d, want %d", tt.args, tt.hostname, f.shardIndex, tt.want)
			}
		})
	}
}

// TestShardFlagsMutuallyExclusive: the exporter refuses to start with both
// --shard.from-hostname and --shard.index.
func TestShardFlagsMutuallyExclusive(t *testing.T) {
	var out, logs syncBuffer
	code := run(t.Context(), []string{"--demo", "--shard.count=2", "--shard.index=1", "--shard.from-hostname", "--web.listen-address=" + freeAddr(t)}, &out, &logs)
	if code != 1 || !strings.Contains(logs.String(), "mutually exclusive") {
		t.Errorf("exit %d, want 1 with an error saying the flags are mutually exclusive; logs:\n%s", code, logs.String())
	}
}

// TestShardMetrics: /metrics shows the exporter's shard.
func TestShardMetrics(t *testing.T) {
	sim := koretest.NewServer(koretest.WithJobDuration(100 * time.Millisecond))
	defer sim.Close()
	bots := koretest.DemoBots(2, 5)
	for _, b := range bots {
		sim.AddBot(b)
	}
	path := writeConfig(t, t.TempDir(), sim.URL, bots)
	e := startExporter(t, "--config.file="+path, "--shard.count=3", "--shard.index=2")
	// The gauges are set before the server listens: no need to wait for
	// the report runs.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, _ := e.get("/-/healthy"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not listening within 15s; logs:\n%s", e.logs.String())
		}
	}
	fams := e.metrics()
	for name, want := range map[string]float64{"kore_exporter_shard_index": 2, "kore_exporter_shards": 3} {
		if got, ok := gauge(fams, name, nil); !ok || got != want {
			t.Errorf("%s = %v (present: %v), want %v", name, got, ok, want)
		}
	}
}
