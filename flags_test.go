package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// flagStage runs what run does with the flags before it loads anything:
// parse (exit 2 on a parse error, as kingpin's own errors) and check
// (exit 1). It returns the exit code, 0 when both pass, and the error.
func flagStage(args []string) (int, string) {
	var stderr strings.Builder
	f, code, exited := parseFlags(args, io.Discard, &stderr)
	if exited {
		return code, stderr.String()
	}
	if err := f.check(); err != nil {
		return 1, err.Error()
	}
	return 0, ""
}

// TestFlagValuesAreStrict: integer flags parse as integers (kingpin's
// IntVar takes 2.9 as 2 and 1e3 as 1000), and the numeric flags are refused
// outside their range, with an error naming the flag and the range.
func TestFlagValuesAreStrict(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want []string // substrings of the error
	}{
		{[]string{"--shard.count=2.9"}, 2, []string{"--shard.count", "integer"}},
		{[]string{"--shard.count=1e3"}, 2, []string{"--shard.count", "integer"}},
		{[]string{"--shard.count=9223372036854775808"}, 2, []string{"--shard.count"}}, // wrapped to a negative count
		{[]string{"--shard.count=2000000000"}, 1, []string{"--shard.count", "[1, 1000]"}},
		{[]string{"--shard.count=1001"}, 1, []string{"--shard.count", "[1, 1000]"}},
		{[]string{"--shard.count=0"}, 1, []string{"--shard.count", "[1, 1000]"}},
		{[]string{"--shard.count=1000", "--shard.index=999"}, 0, nil},
		{[]string{"--shard.count=3", "--shard.index=1.5"}, 2, []string{"--shard.index", "integer"}},
		{[]string{"--shard.count=3", "--shard.index=3"}, 1, []string{"--shard.index", "[0, 3)"}},
		{[]string{"--shard.count=3", "--shard.index=-1"}, 1, []string{"--shard.index", "[0, 3)"}},
		{[]string{"--web.max-requests=-5"}, 1, []string{"--web.max-requests", "[0, 10000]"}},
		{[]string{"--web.max-requests=10001"}, 1, []string{"--web.max-requests", "[0, 10000]"}},
		{[]string{"--web.max-requests=2.5"}, 2, []string{"--web.max-requests", "integer"}},
		{[]string{"--web.max-requests=0"}, 0, nil},
		{[]string{"--web.write-timeout=1ms"}, 1, []string{"--web.write-timeout", "0s", "at least 1s"}},
		{[]string{"--web.write-timeout=999ms"}, 1, []string{"--web.write-timeout", "at least 1s"}},
		{[]string{"--web.write-timeout=0s"}, 0, nil},
		{[]string{"--web.write-timeout=1s"}, 0, nil},
		{[]string{"--web.idle-timeout=1ms"}, 1, []string{"--web.idle-timeout", "at least 1s"}},
		{[]string{"--web.idle-timeout=1s"}, 0, nil},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, msg := flagStage(tc.args)
			if code != tc.code {
				t.Errorf("exit %d, want %d; error: %s", code, tc.code, msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q: %s", w, msg)
				}
			}
		})
	}
}

// TestBackfillStepFlag: --step takes the Prometheus durations --start
// takes (model.ParseDuration: 1y, 1w, 2d12h), not Go's.
func TestBackfillStepFlag(t *testing.T) {
	for _, tc := range []struct {
		step string
		want time.Duration // 0: a parse error (exit 2) naming --step
	}{
		{"1y", 365 * 24 * time.Hour},
		{"1w", 7 * 24 * time.Hour},
		{"2d12h", 60 * time.Hour},
		{"90s", 90 * time.Second},
		{"1.5h", 0},
		{"1x", 0},
	} {
		t.Run(tc.step, func(t *testing.T) {
			var stderr strings.Builder
			f, code, exited := parseBackfillFlags([]string{"--start=-1d", "--dry-run", "--step=" + tc.step}, io.Discard, &stderr)
			switch {
			case tc.want == 0 && (code != 2 || !strings.Contains(stderr.String(), "--step")):
				t.Errorf("exit %d, want 2 with an error naming --step: %s", code, stderr.String())
			case tc.want != 0 && exited:
				t.Errorf("exit %d, want the step parsed: %s", code, stderr.String())
			case tc.want != 0 && f.step != tc.want:
				t.Errorf("step %v, want %v", f.step, tc.want)
			}
		})
	}
}
