package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
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
	exitBackfillInterrupted = 130 // stopped by a signal (SIGINT, SIGTERM, SIGHUP); rerun to resume
)

// maxPlanPoints is the largest plan the backfill runs without
// --allow-large-plan. Each point is one report: 100,000 reports are at
// least 200,000 requests, over 111 hours of one bot's whole Kore.ai budget
// (1,800/h), and some 1 GB of state file at the demo bots' rows. The
// documented use, 90 days at 1h for a bot with two windows, is 4,322
// points: 23 such bots fit under it.
const maxPlanPoints = 100_000

// backfillFlags are the command line of `kore_exporter backfill`.
type backfillFlags struct {
	configFile, start, end, output string
	step                           time.Duration
	demo, dryRun, allowLarge       bool
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
	cmd.Flag("output", "OpenMetrics file to write (a regular file or a new path), or - for stdout (then no resume). Its state is kept in OUTPUT.state.").StringVar(&f.output)
	cmd.Flag("dry-run", "Print the plan (points, reports, estimated requests and time per bot) and exit.").BoolVar(&f.dryRun)
	cmd.Flag("allow-large-plan", fmt.Sprintf("Run a plan of more than %d points (reports).", maxPlanPoints)).BoolVar(&f.allowLarge)
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
// when every point is written, 1 on an error, failed points or stopped
// bots, exitBackfillInterrupted when ctx ended or SIGINT, SIGTERM or SIGHUP
// came first, in any phase.
func runBackfill(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, code, exited := parseBackfillFlags(args, stdout, stderr)
	if exited {
		return code
	}
	logger, _ := newLogger(stderr, f.logFormat, f.logLevel)
	// SIGHUP too: the exporter's reload signal would end the backfill
	// without a word. The cause of ctx names the signal.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
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
	target := f.output
	if !f.dryRun {
		if target, err = prepareOutput(f.output); err != nil {
			level.Error(logger).Log("msg", "invalid flags", "err", err)
			return 1
		}
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
	if n := plan.Size(); n > maxPlanPoints {
		fmt.Fprintf(out, "warning: %d points is more than %d: each point is a report against Kore.ai, and the run takes as long as the plan above says; narrow the range, raise --step, or give --allow-large-plan\n", n, maxPlanPoints)
		if !f.dryRun && !f.allowLarge {
			level.Error(logger).Log("msg", "plan too large", "points", n, "max", maxPlanPoints, "err", "give --allow-large-plan to run it")
			return 1
		}
	}
	if f.dryRun {
		return 0
	}
	return runBackfillPlan(ctx, f, target, plan, logger, stdout, stderr, out)
}

// backfillInterrupted logs how the run was interrupted (the signal, when
// one ended ctx) and returns exitBackfillInterrupted.
func backfillInterrupted(ctx context.Context, logger log.Logger, what string) int {
	level.Error(logger).Log("msg", "interrupted", "by", context.Cause(ctx), "err", what)
	return exitBackfillInterrupted
}

// tempOutput is the temporary file the output is written to before it is
// renamed over the output: a fixed name, so that a rerun removes the one a
// killed run left.
func tempOutput(path string) string { return path + ".tmp" }

// prepareOutput checks --output before any request and returns the path to
// write: path, or the file a symlink points to. It must be - (stdout), a
// regular file (or a symlink to one) or a new name in an existing
// directory; a directory, a device, a FIFO or a socket is refused. It
// removes the temporary file a killed run left.
func prepareOutput(path string) (string, error) {
	if path == "-" {
		return path, nil
	}
	f, err := config.OpenRegular(path, os.O_RDONLY, 0)
	switch {
	case err == nil:
		f.Close()
		if path, err = filepath.EvalSymlinks(path); err != nil {
			return "", fmt.Errorf("--output: %w", err)
		}
	case errors.Is(err, fs.ErrNotExist):
		fi, err := os.Stat(filepath.Dir(path))
		if err == nil && !fi.IsDir() {
			err = errors.New("not a directory")
		}
		if err != nil {
			return "", fmt.Errorf("--output %s: its directory: %w", path, err)
		}
	default:
		return "", fmt.Errorf("--output: %w: give a regular file or a new path (- for stdout)", err)
	}
	tmp := tempOutput(path)
	if fi, err := os.Lstat(tmp); err == nil {
		if !fi.Mode().IsRegular() {
			return "", fmt.Errorf("--output: %s is in the way of the temporary file and not a regular file: move it away", tmp)
		}
		if err := os.Remove(tmp); err != nil {
			return "", fmt.Errorf("--output: remove the temporary file of an earlier run: %w", err)
		}
	}
	return path, nil
}

// runBackfillPlan runs a plan and writes its output and summary.
func runBackfillPlan(ctx context.Context, f *backfillFlags, target string, plan *backfill.Plan, logger log.Logger, stdout, stderr, out io.Writer) int {
	var (
		state *backfill.State
		err   error
	)
	if f.output == "-" {
		state, err = backfill.NewTempState("")
	} else {
		state, err = backfill.OpenState(f.output+".state", logger)
	}
	if err != nil {
		level.Error(logger).Log("msg", "cannot open the state file", "err", err)
		return 1
	}
	defer state.Close()
	var progress backfill.Progress = &backfill.LogProgress{Logger: logger}
	if file, ok := stderr.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
		progress = backfill.NewBar(stderr)
	}
	res, runErr := backfill.Run(ctx, plan, backfill.RunOptions{Logger: logger, NewClient: report.NewKoreClients().New, State: state, Progress: progress})
	if res == nil {
		level.Error(logger).Log("msg", "backfill failed", "err", runErr)
		return 1
	}
	// summary writes the numbers of the run; written < 0: no output.
	summary := func(written int) {
		done := fmt.Sprintf("%d of %d points written to %s", written, res.Points, f.output)
		if written < 0 {
			done = fmt.Sprintf("stopped, the output not written: %d of %d points done", res.Resumed+res.Done, res.Points)
		}
		fmt.Fprintf(out, "backfill: %s (%d from an earlier run); %d reports, %d requests, %d retries, %d failed; %s\n",
			done, res.Resumed, res.Reports, res.Requests, res.Retries, len(res.Failed), res.Elapsed.Round(time.Millisecond))
		for _, st := range res.Stopped {
			fmt.Fprintf(out, "stopped: %s\n", st)
		}
		for _, fl := range res.Failed {
			fmt.Fprintf(out, "failed: %s\n", fl)
		}
	}
	if runErr != nil {
		summary(-1)
		level.Error(logger).Log("msg", "backfill stopped", "err", runErr)
		return 1
	}
	if ctx.Err() != nil {
		summary(-1)
		return backfillInterrupted(ctx, logger, fmt.Sprintf("%d of %d points done and kept; the output was not written; rerun the same command to resume", res.Resumed+res.Done, res.Points))
	}
	level.Info(logger).Log("msg", "writing the output", "output", f.output)
	written, err := writeBackfillOutput(ctx, target, plan, state, f.labels, stdout)
	if ctx.Err() != nil {
		return backfillInterrupted(ctx, logger, "while writing the output: it was left as it was; rerun the same command to write it")
	}
	if err != nil {
		level.Error(logger).Log("msg", "cannot write the output", "err", err)
		return 1
	}
	summary(written)
	if err := res.Err(); err != nil {
		level.Error(logger).Log("msg", "backfill incomplete", "err", err)
		return 1
	}
	if f.output != "-" {
		fmt.Fprintf(out, "next: promtool tsdb create-blocks-from openmetrics %s DATA_DIR\n", f.output)
	}
	return 0
}

// writeBackfillOutput writes the OpenMetrics file: to stdout for "-", else
// to tempOutput(path) renamed over path, so path always holds a complete
// file (families whole, # EOF last) whenever the run stops; the temporary
// file is removed on any error or interruption. An existing file's mode is
// kept.
func writeBackfillOutput(ctx context.Context, path string, plan *backfill.Plan, state *backfill.State, target map[string]string, stdout io.Writer) (int, error) {
	if path == "-" {
		return backfill.WriteOpenMetrics(ctx, stdout, plan, state, target)
	}
	mode := fs.FileMode(0o600)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.OpenFile(tempOutput(path), os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return 0, fmt.Errorf("create output: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	n, err := backfill.WriteOpenMetrics(ctx, tmp, plan, state, target)
	if err == nil {
		err = tmp.Chmod(mode) // the umask may have taken bits off
	}
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
