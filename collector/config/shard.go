package config

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Shard returns the part of c that replica index of count runs: the bots
// that ShardOf assigns to index. The split depends only on the bot ids, so
// every replica given the same file agrees on it, adding a bot moves no
// other bot, and the variants of one bot id stay together. Limits are kept
// as they are.
func (c *Config) Shard(index, count int) (*Config, error) {
	if count < 1 {
		return nil, fmt.Errorf("shard: count %d must be at least 1", count)
	}
	if index < 0 || index >= count {
		return nil, fmt.Errorf("shard: index %d must be in [0, %d)", index, count)
	}
	out := &Config{Limits: c.Limits}
	for _, b := range c.Bots {
		if ShardOf(b.BotID, count) == index {
			out.Bots = append(out.Bots, b)
		}
	}
	return out, nil
}

// ShardOf returns the shard, in [0, count), that runs the bot with this id,
// by rendezvous (highest random weight) hashing: every shard gets a weight
// from the bot id and the shard's index, and the heaviest shard runs the
// bot. When count grows by one, only the bots whose new shard outweighs
// their old one move, all to the new shard: about 1/(count+1) of them, where
// a hash modulo count would move about count/(count+1).
func ShardOf(botID string, count int) int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(botID)) // a hash.Hash never fails to write
	id := h.Sum64()
	best, bestWeight := 0, uint64(0)
	for i := range count {
		if w := shardWeight(id, i); i == 0 || w > bestWeight {
			best, bestWeight = i, w
		}
	}
	return best
}

// shardWeight is the weight of shard i for the bot whose id hashes to id:
// the two mixed by the SplitMix64 finalizer, so that the weights of one bot
// for different shards are independent.
func shardWeight(id uint64, i int) uint64 {
	z := id + uint64(i+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// ShardFromHostname returns the shard index that a StatefulSet pod's
// hostname names: the ordinal after its last "-" (pods are named NAME-0,
// NAME-1, …). A domain after the first "." is ignored. The index must be in
// [0, count).
func ShardFromHostname(hostname string, count int) (int, error) {
	name, _, _ := strings.Cut(hostname, ".")
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return 0, fmt.Errorf("shard: hostname %q has no ordinal suffix -N", hostname)
	}
	suffix := name[i+1:]
	n, err := strconv.Atoi(suffix)
	if err != nil || n < 0 || strings.TrimLeft(suffix, "0123456789") != "" || (len(suffix) > 1 && suffix[0] == '0') {
		return 0, fmt.Errorf("shard: hostname %q has no ordinal suffix -N", hostname)
	}
	if n >= count {
		return 0, fmt.Errorf("shard: hostname %q names shard %d, not in [0, %d) (--shard.count)", hostname, n, count)
	}
	return n, nil
}
