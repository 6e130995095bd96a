package config

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// randomBots returns n bots with random ids in the shape of Kore.ai's; about
// one in five shares its id with an earlier bot (a variant).
func randomBots(r *rand.Rand, n int) []Bot {
	bots := make([]Bot, n)
	for i := range bots {
		id := fmt.Sprintf("st-%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.Uint32N(1<<16), r.Uint32N(1<<16), r.Uint32N(1<<16), r.Uint64N(1<<48))
		if i > 0 && r.IntN(5) == 0 {
			id = bots[r.IntN(i)].BotID
		}
		bots[i] = Bot{Name: fmt.Sprintf("bot%d", i), BotID: id}
	}
	return bots
}

// TestShardsPartitionAnyBotList: for random bot lists and every count from
// 1 to 16, the shards together run every bot exactly once, each bot in the
// shard ShardOf names, and the variants of a bot id in one shard.
func TestShardsPartitionAnyBotList(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		cfg := &Config{Bots: randomBots(r, r.IntN(60)), Limits: Limits{MaxConcurrentJobs: 2}}
		count := 1 + r.IntN(16)
		runs := map[string]int{}      // bot name → shards that run it
		shardOfID := map[string]int{} // bot id → the shard of its first variant
		for index := range count {
			part, err := cfg.Shard(index, count)
			if err != nil {
				t.Fatal(err)
			}
			if part.Limits != cfg.Limits {
				t.Errorf("trial %d: shard %d/%d lost the limits", trial, index, count)
			}
			for _, b := range part.Bots {
				runs[b.Name]++
				if s, ok := shardOfID[b.BotID]; ok && s != index {
					t.Errorf("trial %d: variants of %s in shards %d and %d of %d", trial, b.BotID, s, index, count)
				}
				shardOfID[b.BotID] = index
				if got := ShardOf(b.BotID, count); got != index {
					t.Errorf("trial %d: ShardOf(%s, %d) = %d, but shard %d runs it", trial, b.BotID, count, got, index)
				}
			}
		}
		for _, b := range cfg.Bots {
			if runs[b.Name] != 1 {
				t.Errorf("trial %d: %d shards: bot %s runs in %d shards, want exactly 1", trial, count, b.Name, runs[b.Name])
			}
		}
		if len(runs) != len(cfg.Bots) {
			t.Errorf("trial %d: the shards run %d distinct bots, want %d", trial, len(runs), len(cfg.Bots))
		}
	}
}

// TestShardsAreBalanced: with many bots, every shard runs close to 1/count
// of them.
func TestShardsAreBalanced(t *testing.T) {
	t.Parallel()
	const n = 20000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("st-%08d-5000-8000-%012d", i, i*7919)
	}
	for count := 2; count <= 16; count++ {
		per := make([]int, count)
		for _, id := range ids {
			per[ShardOf(id, count)]++
		}
		want := float64(n) / float64(count)
		for i, got := range per {
			if math.Abs(float64(got)-want) > 0.1*want {
				t.Errorf("%d shards: shard %d runs %d bots, want %.0f ± 10%%", count, i, got, want)
			}
		}
	}
}

// TestFewBotsMoveWhenShardsGrow: going from count to count+1 shards moves
// about 1/(count+1) of the bots, each to the new shard; a bot that stays
// keeps its shard. (A hash modulo count would move about count/(count+1).)
func TestFewBotsMoveWhenShardsGrow(t *testing.T) {
	t.Parallel()
	const n = 20000
	r := rand.New(rand.NewPCG(3, 4))
	bots := randomBots(r, n)
	for count := 1; count < 16; count++ {
		moved, movedModulo := 0, 0
		for _, b := range bots {
			if h := fnv64a(b.BotID); h%uint64(count) != h%uint64(count+1) {
				movedModulo++
			}
			before, after := ShardOf(b.BotID, count), ShardOf(b.BotID, count+1)
			if before != after {
				moved++
				if after != count {
					t.Errorf("%d→%d shards: bot %s moved from shard %d to %d, not to the new shard", count, count+1, b.BotID, before, after)
				}
			}
		}
		got, want := float64(moved)/n, 1/float64(count+1)
		// Binomial: the standard deviation is below 0.0036 for n = 20000.
		if math.Abs(got-want) > 0.02 {
			t.Errorf("%d→%d shards: %.3f of the bots moved, want about %.3f", count, count+1, got, want)
		}
		t.Logf("%2d→%2d shards: %.4f of %d bots moved (1/(N+1) = %.4f; FNV-1a modulo N would move %.4f)",
			count, count+1, got, n, want, float64(movedModulo)/n)
	}
}

func fnv64a(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

func TestShardFromHostname(t *testing.T) {
	t.Parallel()
	tests := []struct {
		hostname string
		count    int
		want     int
		err      string // a part of the error; "" for none
	}{
		{"kore-exporter-2", 3, 2, ""},
		{"kore-exporter-0", 1, 0, ""},
		{"kore-exporter-11", 12, 11, ""},
		{"kore-exporter-2.kore-exporter.monitoring.svc.cluster.local", 3, 2, ""},
		{"kore-exporter-3", 3, 0, "names shard 3, not in [0, 3)"},
		{"kore-exporter-2", 1, 0, "not in [0, 1)"},
		{"kore-exporter", 3, 0, "no ordinal suffix"},
		{"kore", 3, 0, "no ordinal suffix"},
		{"kore-exporter-", 3, 0, "no ordinal suffix"},
		{"kore-exporter-x1", 3, 0, "no ordinal suffix"},
		{"kore-exporter-+1", 3, 0, "no ordinal suffix"},
		{"kore-exporter-01", 3, 0, "no ordinal suffix"},
		{"kore-exporter-7f9c8d-x2b4q", 3, 0, "no ordinal suffix"}, // a Deployment's pod
		{"", 3, 0, "no ordinal suffix"},
	}
	for _, tt := range tests {
		t.Run(tt.hostname, func(t *testing.T) {
			t.Parallel()
			got, err := ShardFromHostname(tt.hostname, tt.count)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("ShardFromHostname(%q, %d): %v", tt.hostname, tt.count, err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("ShardFromHostname(%q, %d) = %d, %v; want an error with %q", tt.hostname, tt.count, got, err, tt.err)
			case got != tt.want:
				t.Errorf("ShardFromHostname(%q, %d) = %d, want %d", tt.hostname, tt.count, got, tt.want)
			}
		})
	}
}
