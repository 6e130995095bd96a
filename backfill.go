package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/version"
	"golang.org/x/term"

	"github.com/kore-exporter/kore_exporter/collector/backfill"
	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/report"
)

// backfillCommand is the command word that runs runBackfill instead of the
// exporter.
const backfillCommand = "backfill"

// Exit codes of the backfill command besides 0 and 1.
const (
	exitBackfillUsage       = 2   // the command line cannot be parsed
	exitBackfillInterrupted = 130 // stopped by a signal; rerun to resume
)

// backfillFlags are the command line of `kore_exporter backfill`.
type backfillFlags struct {
	configFile, start, end, output string
	step                           time.Duration
	demo, dryRun                   bool
	logLevel, logFormat            string
	// labels are added to every series (--label): the live series' target
	// labels.
	labels map[string]string
}

// stepValue is --step, parsed as a Prometheus duration (1y, 1w, 2d12h) like
// the relative times of --start and --end.
type stepValue time.Duration

func (v *stepValue) Set(s string) error {
	d, err := model.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("--step: %w", err)
	}
	*v = stepValue(d)
	return nil
}

func (v *stepValue) String() string { return model.Duration(*v).String() }

func parseBackfillFlags(args []string, stdout, stderr io.Writer) (*backfillFlags, int, bool) {
	f := backfillFlags{labels: map[string]string{}}
	app := kingpin.New(exporterName, "Prometheus exporter for the Kore.ai XO Platform's Task Execution-Based Containment Report.")
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	app.HelpFlag.Short('h')
	app.Version(version.Print(exporterName))
	cmd := app.Command(backfillCommand, "Write the kore_task_* samples the exporter would have published over a past range, as OpenMetrics with timestamps for `promtool tsdb create-blocks-from openmetrics`. Stop any time; rerun the same command to resume.")
	cmd.Flag("config.file", "Configuration file (the exporter's).").Default("kore_exporter.yml").StringVar(&f.configFile)
	cmd.Flag("demo", "Backfill from a built-in simulated Kore.ai API with three demo bots; --config.file is ignored.").BoolVar(&f.demo)
	cmd.Flag("start", "First instant: RFC 3339 (2025-06-01T00:00:00Z), now, or relative to now (-8d, -36h). At most 90 days back.").Required().StringVar(&f.start)
	cmd.Flag("end", "Last instant, in the same forms as --start; not in the future.").Default("now").StringVar(&f.end)
	cmd.Flag("step", "Time between instants (at least 1m); instants are multiples of it, so reruns with relative times line up.").Default("1h").SetValue((*stepValue)(&f.step))
	cmd.Flag("output", "OpenMetrics file to write, or - for stdout (then no resume). Its state is kept in OUTPUT.state.").StringVar(&f.output)
	cmd.Flag("dry-run", "Print the plan (points, reports, estimated requests and time per bot) and exit.").BoolVar(&f.dryRun)
	cmd.Flag("log.level", "Only log messages with the given severity or above. One of: [debug, info, warn, error]").Default("info").EnumVar(&f.logLevel, "debug", "info", "warn", "error")
	cmd.Flag("log.format", "Output format of log messages. One of: [logfmt, json]").Default("logfmt").EnumVar(&f.logFormat, "logfmt", "json")
	cmd.Flag("label", "NAME=VALUE added to every series, repeatable: the labels your Prometheus adds to the live exporter's series (job, and namespace or cluster where it adds them), so history and live data are one series. Given at all, it replaces the default: include job.").
		Default("job=kore_exporter").StringMapVar(&f.labels)
	exited, code := false, 0
	app.Terminate(func(c int) { exited, code = true, c })
	if _, err := app.Parse(append([]string{backfillCommand}, args...)); err != nil {
		fmt.Fprintf(stderr, "%s %s: %v\n", exporterName, backfillCommand, err)
		return nil, exitBackfillUsage, true
	}
	if err := backfill.CheckTargetLabels(f.labels); !exited && err != nil {
		fmt.Fprintf(stderr, "%s %s: --label: %v\n", exporterName, backfillCommand, err)
		return nil, exitBackfillUsage, true
	}
	if !exited && f.output == "" && !f.dryRun {
		fmt.Fprintf(stderr, "%s %s: --output is required (a file, or - for stdout) unless --dry-run\n", exporterName, backfillCommand)
		return nil, exitBackfillUsage, true
	}
	return &f, code, exited
}

// runBackfill runs `kore_exporter backfill` and returns its exit code: 0
// when every point is written, 1 on an error or failed points,
// exitBackfillInterrupted when ctx ended first.
func runBackfill(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, code, exited := parseBackfillFlags(args, stdout, stderr)
	if exited {
		return code
	}
	logger, _ := newLogger(stderr, f.logFormat, f.logLevel)
	now := time.Now()
	start, err := backfill.ParseTime(f.start, now)
	if err != nil {
		level.Error(logger).Log("msg", "invalid flags", "err", fmt.Errorf("--start: %w", err))
		return 1
	}
	end, err := backfill.ParseTime(f.end, now)
	if err != nil {
		level.Error(logger).Log("msg", "invalid flags", "err", fmt.Errorf("--end: %w", err))
		return 1
	}

	load, source := func() (*config.Config, error) { return config.Load(f.configFile) }, f.configFile
	if f.demo {
		stopDemo, demoLoad, err := startDemo(logger, false, true)
		if err != nil {
			level.Error(logger).Log("msg", "cannot start the demo simulator", "err", err)
			return 1
		}
		defer stopDemo()
		load, source = demoLoad, "demo configuration (--demo ignores --config.file)"
	}
	cfg, err := load()
	if err != nil {
		logConfigError(logger, "invalid configuration", source, err)
		return 1
	}
	plan, err := backfill.NewPlan(cfg, start, end, f.step, now)
	if err != nil {
		for _, e := range config.Problems(err) {
			level.Error(logger).Log("msg", "invalid range", "err", e)
		}
		return 1
	}
	out := stdout // the plan and the summary; stderr when the data goes to stdout
	if f.output == "-" {
		out = stderr
	}
	if err := plan.Write(out); err != nil {
		level.Error(logger).Log("msg", "cannot write the plan", "err", err)
		return 1
	}
	if f.dryRun {
		return 0
	}
	return runBackfillPlan(ctx, f, plan, logger, stdout, stderr, out)
}

// runBackfillPlan runs a plan and writes its output and summary.
func runBackfillPlan(ctx context.Context, f *backfillFlags, plan *backfill.Plan, logger log.Logger, stdout, stderr, out io.Writer) int {
	state := backfill.NewMemoryState()
	if f.output != "-" {
		var err error
		if state, err = backfill.OpenState(f.output + ".state"); err != nil {
			level.Error(logger).Log("msg", "cannot open the state file", "err", err)
			return 1
		}
		defer state.Close()
	}
	var progress backfill.Progress = &backfill.LogProgress{Logger: logger}
	if file, ok := stderr.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
		progress = backfill.NewBar(stderr)
	}
	res, runErr := backfill.Run(ctx, plan, backfill.RunOptions{Logger: logger, NewClient: report.NewKoreClients().New, State: state, Progress: progress})
	if res == nil {
		level.Error(logger).Log("msg", "backfill failed", "err", runErr)
		return 1
	}
	written, err := writeBackfillOutput(f.output, plan, state, f.labels, stdout)
	if err != nil {
		level.Error(logger).Log("msg", "cannot write the output", "err", err)
		return 1
	}
	fmt.Fprintf(out, "backfill: %d of %d points written to %s (%d from an earlier run); %d reports, %d requests, %d retries, %d failed; %s\n",
		written, res.Points, f.output, res.Resumed, res.Reports, res.Requests, res.Retries, len(res.Failed), res.Elapsed.Round(time.Millisecond))
	for _, fl := range res.Failed {
		fmt.Fprintf(out, "failed: %s\n", fl)
	}
	if runErr != nil {
		level.Error(logger).Log("msg", "backfill failed", "err", runErr)
		return 1
	}
	if err := res.Err(); err != nil {
		level.Error(logger).Log("msg", "backfill incomplete", "err", err)
		if errors.Is(err, context.Canceled) {
			return exitBackfillInterrupted
		}
		return 1
	}
	if f.output != "-" {
		fmt.Fprintf(out, "next: promtool tsdb create-blocks-from openmetrics %s DATA_DIR\n", f.output)
	}
	return 0
}

// writeBackfillOutput writes the OpenMetrics file: to stdout for "-", else
// to a temporary file renamed over path, so path always holds a complete
// file (families whole, # EOF last) whenever the run stops.
func writeBackfillOutput(path string, plan *backfill.Plan, state *backfill.State, target map[string]string, stdout io.Writer) (int, error) {
	if path == "-" {
		return backfill.WriteOpenMetrics(stdout, plan, state, target)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return 0, fmt.Errorf("create output: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	n, err := backfill.WriteOpenMetrics(tmp, plan, state, target)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return 0, fmt.Errorf("write output %s: %w", path, err)
	}
	return n, nil
}
