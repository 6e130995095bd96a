package config

import (
	"fmt"
	"hash/fnv"
)

// Shard returns the part of c that replica index of count runs: the bots
// whose FNV-1a hash of bot_id, modulo count, is index. The split depends only
// on the bot ids, so every replica given the same file agrees on it, and
// adding a bot moves no other bot. Limits are kept as they are.
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

// ShardOf returns the shard, in [0, count), that runs the bot with this id.
func ShardOf(botID string, count int) int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(botID)) // a hash.Hash never fails to write
	return int(h.Sum64() % uint64(count))
}
