// Package config owns the exporter's configuration file: its Go types
// (Config, Bot, Window, Filters, Limits, Secret); Load and LoadWith, which
// read a regular file within a size limit, and Parse and ParseWith, which take
// bytes, each returning a Config with every default applied (and inherited
// from the defaults section) or an error joining every problem, each named
// by its path (Problems): unknown keys and values of the wrong kind from the
// strict YAML decoding, and what the validation finds; secrets read from
// files or the environment, and their redaction; the request plan that
// --config.check prints; and the split of bots across shards. It applies
// the rules of the Kore.ai API (host URLs, private keys, rate limits, page
// sizes, the poll schedule), which are package kore's, and of the metric
// contract (the labels a bot's static labels may not use, the series of
// each task row), which are package contract's.
package config
