// Package config owns the exporter's configuration file: its Go types
// (Config, Bot, Window, Filters, Limits, Secret), the strict YAML decoding
// that reports unknown keys and values of the wrong kind together with every
// other problem, the defaults and their inheritance from the defaults
// section, secrets read from files or the environment, the validation that
// names each problem's path, the request plan that --config.check prints,
// and the split of bots across shards.
//
// Load reads a file (regular files only, within a size limit), Parse and
// ParseWith take bytes; all three return a Config with every default
// applied, or an error joining every problem (see Problems). Rules that
// belong to the Kore.ai API (host URLs, private keys, rate limits, page
// sizes, the poll schedule) are the kore package's; this package applies
// them to the file.
package config
