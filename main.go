// Command kore_exporter exports the Task Execution-Based Containment Report
// of the Kore.ai XO Platform as Prometheus metrics.
//
// It runs report jobs for every configured bot and window in the background
// and serves the last finished results on /metrics; a scrape never calls
// Kore.ai. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	sloggokit "github.com/tjhop/slog-gokit"

	"github.com/kore-exporter/kore_exporter/collector"
	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

const exporterName = "kore_exporter"

func main() {
	setVersion()
	setGCPercent(os.LookupEnv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// defaultGOGC is the garbage collector's target (GOGC) unless the
// environment sets one. Most of the exporter's heap is its snapshot, which
// lives from one report to the next, and it allocates little between them,
// so the default of 100 (a heap up to twice what is live) mostly holds
// memory it does not use; 50 halves that headroom for a few more
// collections of a mostly static heap (README, "Sizing").
const defaultGOGC = 50

// setGCPercent sets the garbage collector's target to defaultGOGC unless
// the GOGC environment variable is set.
func setGCPercent(lookupEnv func(string) (string, bool)) {
	if _, ok := lookupEnv("GOGC"); !ok {
		debug.SetGCPercent(defaultGOGC)
	}
}

// setVersion fills the version, when the build did not set it with
// -ldflags, from the module version Go records in the binary: the tag for
// `go install …@vX`, and for `go build` in a git checkout the tag of the
// commit or a pseudo-version past it (the revision comes from the VCS
// information too). A build without VCS information records "(devel)",
// which prints as "unknown".
func setVersion() {
	if version.Version != "" {
		return
	}
	version.Version = "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version.Version = bi.Main.Version
	}
}

// flags are the command line of the exporter.
type flags struct {
	configFile   string
	configCheck  bool
	checkVerbose bool
	checkProbe   bool // --config.check.probe (sets configCheck)
	skipSecrets  bool // --config.check.skip-secrets
	secretPoll   time.Duration
	metricsPath  string
	lifecycle    bool
	logLevel     string
	logFormat    string
	demo         bool
	demoSurge    bool
	maxRequests  int
	writeTimeout time.Duration
	idleTimeout  time.Duration
	shardIndex   int
	shardIndexed bool // --shard.index given on the command line
	shardCount   int
	shardHost    bool
	toolkitFlags *web.FlagConfig
}

func parseFlags(args []string, stdout, stderr io.Writer) (*flags, int, bool) {
	var f flags
	app := kingpin.New(exporterName, "Prometheus exporter for the Kore.ai XO Platform's Task Execution-Based Containment Report. To fill Prometheus with past data, see: "+exporterName+" "+backfillCommand+" --help")
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	app.HelpFlag.Short('h')
	app.Version(version.Print(exporterName))
	app.Flag("config.file", "Configuration file.").Default("kore_exporter.yml").StringVar(&f.configFile)
	app.Flag("config.check", "Validate the configuration, print the plan (bots, windows, estimated Kore.ai requests per hour against the per-bot budget), then exit.").BoolVar(&f.configCheck)
	app.Flag("config.check.verbose", "With --config.check, list every bot in the plan, not only those with problems or warnings.").BoolVar(&f.checkVerbose)
	app.Flag("config.check.probe", "Implies --config.check. After the check, send each configured bot one small report request (the last minute, limit=1) and print per bot: ok with the requests it cost, or the likely cause and its fix (wrong host or region, credentials, scope, clock skew). Exit 4 when a bot fails.").BoolVar(&f.checkProbe)
	app.Flag("config.check.skip-secrets", "With --config.check, check the secret sources for their form only (one of client_secret, client_secret_file, private_key_file per bot; a file name; a well-formed ${NAME}) without reading the files or the environment: for a configuration checked away from the machine or cluster it runs on.").BoolVar(&f.skipSecrets)
	app.Flag("config.secret-poll-interval", "How often to look for a change of the secret and key files (client_secret_file, private_key_file), such as a Kubernetes Secret update; a change reloads the configuration. 0s turns it off; otherwise 1s to 24h.").Default(defaultSecretPoll.String()).DurationVar(&f.secretPoll)
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&f.metricsPath)
	app.Flag("web.max-requests", "Maximum number of requests each endpoint serves at once, a quarter of them (at least 1) for one client address; more are answered 503. Use 0 to disable.").Default("40").SetValue(intFlag("web.max-requests", &f.maxRequests))
	app.Flag("web.write-timeout", "Maximum time to write one response, of any endpoint; a client that reads slower is cut off and frees its --web.max-requests slot. 0 sizes it from the response: 10s plus 1s per MiB.").Default("0s").DurationVar(&f.writeTimeout)
	app.Flag("web.idle-timeout", "Close a keep-alive connection that has waited this long for its next request.").Default(collector.DefaultIdleTimeout.String()).DurationVar(&f.idleTimeout)
	app.Flag("shard.count", "Number of exporter replicas that split the configured bots between them, 1 to 1000.").Default("1").SetValue(intFlag("shard.count", &f.shardCount))
	app.Flag("shard.index", "This replica's shard, in [0, shard.count): it runs the bots that rendezvous hashing of their bot_id assigns to this index.").Default("0").IsSetByUser(&f.shardIndexed).SetValue(intFlag("shard.index", &f.shardIndex))
	app.Flag("shard.from-hostname", "Take the shard index from the ordinal suffix -N of the hostname, as a StatefulSet pod's (NAME-0, NAME-1, …); instead of --shard.index.").BoolVar(&f.shardHost)
	app.Flag("web.enable-lifecycle", "Enable reload via HTTP POST to /-/reload.").BoolVar(&f.lifecycle)
	app.Flag("log.level", "Only log messages with the given severity or above. One of: [debug, info, warn, error]").Default("info").EnumVar(&f.logLevel, "debug", "info", "warn", "error")
	app.Flag("log.format", "Output format of log messages. One of: [logfmt, json]").Default("logfmt").EnumVar(&f.logFormat, "logfmt", "json")
	app.Flag("demo", "Run against a built-in simulated Kore.ai API with three demo bots (no credentials, no network); --config.file is ignored.").BoolVar(&f.demo)
	app.Flag("demo.drop-off-surge", "In --demo mode, make one task's drop-off rate climb steeply (to see the drop-off alert fire).").BoolVar(&f.demoSurge)
	f.toolkitFlags = kingpinflag.AddFlags(app, ":10027")
	exited := false
	code := 0
	app.Terminate(func(c int) { exited, code = true, c })
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", exporterName, err)
		return nil, 2, true
	}
	f.configCheck = f.configCheck || f.checkProbe
	return &f, code, exited
}

// Upper bounds of integer flags.
const (
	// maxShards bounds --shard.count: every configuration load hashes each
	// bot against every shard (rendezvous hashing), so its cost grows with
	// the count (2,000,000,000 shards made a load take tens of seconds,
	// deaf to SIGTERM), and 1000 replicas are far more than any fleet of
	// bots needs.
	maxShards = 1000
	// maxMaxRequests bounds --web.max-requests: each scrape in flight holds
	// a buffer of the whole answer, and a limit above a few hundred
	// Prometheus scrapers limits nothing; 0 means no limit.
	maxMaxRequests = 10000
)

// intValue is a kingpin flag value parsed as a decimal int. kingpin's own
// IntVar (v2.4.0) parses with strconv.ParseFloat and truncates: it took
// 2.9 as 2, 1e3 as 1000, and wrapped huge values to negative ones.
type intValue struct {
	name string
	p    *int
}

func intFlag(name string, p *int) *intValue { return &intValue{name, p} }

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("--%s %q: want an integer in decimal", v.name, s)
	}
	*v.p = n
	return nil
}

func (v *intValue) String() string { return strconv.Itoa(*v.p) }

// check reports the first flag value that cannot work.
func (f *flags) check() error {
	if err := collector.CheckTelemetryPath(f.metricsPath); err != nil {
		return fmt.Errorf("--web.telemetry-path: %w", err)
	}
	if f.secretPoll != 0 && (f.secretPoll < minSecretPoll || f.secretPoll > maxSecretPoll) {
		return fmt.Errorf("--config.secret-poll-interval %v: must be 0s (off) or in [1s, 24h]", f.secretPoll)
	}
	if f.idleTimeout < time.Second {
		return fmt.Errorf("--web.idle-timeout %v: must be at least 1s", f.idleTimeout)
	}
	if f.writeTimeout != 0 && f.writeTimeout < time.Second {
		return fmt.Errorf("--web.write-timeout %v: must be 0s (sized from the answer) or at least 1s", f.writeTimeout)
	}
	if f.maxRequests < 0 || f.maxRequests > maxMaxRequests {
		return fmt.Errorf("--web.max-requests %d: must be in [0, %d] (0: no limit)", f.maxRequests, maxMaxRequests)
	}
	if f.shardCount < 1 || f.shardCount > maxShards {
		return fmt.Errorf("--shard.count %d: must be in [1, %d]", f.shardCount, maxShards)
	}
	if f.shardIndex < 0 || f.shardIndex >= f.shardCount {
		return fmt.Errorf("--shard.index %d: must be in [0, %d) (--shard.count)", f.shardIndex, f.shardCount)
	}
	if f.skipSecrets && !f.configCheck {
		return errors.New("--config.check.skip-secrets needs --config.check: the exporter cannot run without its secrets")
	}
	if f.skipSecrets && f.checkProbe {
		return errors.New("--config.check.probe cannot probe without the secrets: drop --config.check.skip-secrets")
	}
	if f.demoSurge && !f.demo {
		return errors.New("--demo.drop-off-surge needs --demo")
	}
	return nil
}

// resolveShard sets the shard index from the hostname for
// --shard.from-hostname.
func (f *flags) resolveShard(hostname func() (string, error)) error {
	if !f.shardHost {
		return nil
	}
	if f.shardIndexed {
		return errors.New("--shard.from-hostname and --shard.index are mutually exclusive")
	}
	host, err := hostname()
	if err != nil {
		return fmt.Errorf("--shard.from-hostname: %w", err)
	}
	if f.shardIndex, err = config.ShardFromHostname(host, f.shardCount); err != nil {
		return fmt.Errorf("--shard.from-hostname: %w", err)
	}
	return nil
}

func newLogger(w io.Writer, format, lvl string) (log.Logger, *slog.Logger) {
	var logger log.Logger
	if format == "json" {
		logger = log.NewJSONLogger(log.NewSyncWriter(w))
	} else {
		logger = log.NewLogfmtLogger(log.NewSyncWriter(w))
	}
	var opt level.Option
	slogLevel := slog.LevelInfo
	switch lvl {
	case "debug":
		opt, slogLevel = level.AllowDebug(), slog.LevelDebug
	case "warn":
		opt, slogLevel = level.AllowWarn(), slog.LevelWarn
	case "error":
		opt, slogLevel = level.AllowError(), slog.LevelError
	default:
		opt = level.AllowInfo()
	}
	logger = level.NewFilter(logger, opt)
	// One logger: the exporter-toolkit's slog output goes through go-kit,
	// and every line has one timestamp, ts (UTC, RFC 3339 with
	// milliseconds), from go-kit. The slog handler would add the record's
	// time as "time": noTimeHandler drops it. The slog handler adds the
	// caller from the record; for go-kit lines DefaultCaller is the log
	// call, as it comes after the level filter.
	ts := log.With(logger, "ts", log.DefaultTimestampUTC)
	slogger := slog.New(noTimeHandler{sloggokit.NewGoKitHandler(ts, slogLevel)})
	return log.With(ts, "caller", log.DefaultCaller), slogger
}

// noTimeHandler passes records on without their time, so that the go-kit
// logger's ts is the only timestamp of a line.
type noTimeHandler struct{ slog.Handler }

func (h noTimeHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Time = time.Time{}
	return h.Handler.Handle(ctx, r)
}

func (h noTimeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return noTimeHandler{h.Handler.WithAttrs(attrs)}
}

func (h noTimeHandler) WithGroup(name string) slog.Handler {
	return noTimeHandler{h.Handler.WithGroup(name)}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == backfillCommand {
		return runBackfill(ctx, args[1:], stdout, stderr)
	}
	f, code, exited := parseFlags(args, stdout, stderr)
	if exited {
		return code
	}
	logger, slogger := newLogger(stderr, f.logFormat, f.logLevel)
	if err := f.check(); err != nil {
		level.Error(logger).Log("msg", "invalid flags", "err", err)
		return 1
	}
	if err := f.resolveShard(os.Hostname); err != nil {
		level.Error(logger).Log("msg", "invalid flags", "err", err)
		return 1
	}

	// Secret and key files are read with a deadline (a read on a hung
	// mount fails the load instead of blocking it) and end with ctx.
	fileGuard := &config.FileGuard{}
	load := func() (*config.Config, error) {
		return config.LoadWith(f.configFile, config.ParseOptions{SkipSecrets: f.skipSecrets, ReadFile: fileGuard.ReadFunc(ctx, config.ReadSecretFile)})
	}
	source := f.configFile // names the configuration's source
	if f.demo {
		source = "demo configuration (--demo ignores --config.file)"
		stopDemo, demoLoad, err := startDemo(logger, f.demoSurge, false)
		if err != nil {
			level.Error(logger).Log("msg", "cannot start the demo simulator", "err", err)
			return 1
		}
		defer stopDemo()
		load = demoLoad
	}
	loadConfig := func() (*config.Config, error) {
		cfg, err := load()
		if err != nil {
			return nil, err
		}
		return cfg.Shard(f.shardIndex, f.shardCount)
	}

	cfg, err := loadConfig()
	if err != nil {
		if f.configCheck {
			writeConfigError(stderr, source, err)
		} else {
			logConfigError(logger, "invalid configuration", source, err)
		}
		return exitInvalid
	}
	if f.checkProbe {
		return checkAndProbe(ctx, cfg, f.checkVerbose, stdout, stderr)
	}
	if f.configCheck {
		return checkPlan(cfg, f.checkVerbose, stdout, stderr)
	}

	// Listen before any report job starts: an address in use fails the
	// start at once, without a request to Kore.ai.
	listeners, err := listen(f.toolkitFlags)
	if err != nil {
		level.Error(logger).Log("msg", "cannot listen: choose another address with --web.listen-address", "err", err)
		return 1
	}
	defer func() {
		for _, l := range listeners {
			_ = l.Close() // already closed once served
		}
	}()

	reg, metrics, err := collector.NewRegistry()
	if err != nil {
		level.Error(logger).Log("msg", "cannot register metrics", "err", err)
		return 1
	}
	metrics.SetShard(f.shardIndex, f.shardCount)
	store := collector.NewStore()
	sched := collector.NewScheduler(collector.SchedulerOpts{
		Logger:    logger,
		Store:     store,
		Metrics:   metrics,
		NewClient: report.NewKoreClients().New,
	})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rl := &reloader{logger: logger, source: source, sched: sched, metrics: metrics, load: loadConfig, ctx: ctx}
	if err := rl.apply(cfg); err != nil {
		level.Error(logger).Log("msg", "cannot start report jobs", "err", err)
		return 1
	}
	defer sched.Stop()
	if f.secretPoll > 0 {
		// Stopped before the scheduler (defers run last first): no reload
		// of the watcher restarts jobs after sched.Stop.
		w := &secretWatcher{logger: logger, interval: f.secretPoll, files: rl.runningSecretFiles, identify: fileGuard.Identity, reload: rl.reload}
		defer w.start(ctx)()
	}
	level.Info(logger).Log("msg", "starting "+exporterName, "version", version.Info(), "bots", len(cfg.Bots), "demo", f.demo,
		"shard", fmt.Sprintf("%d/%d", f.shardIndex, f.shardCount))
	if len(cfg.Bots) == 0 {
		level.Warn(logger).Log("msg", "this shard runs no bots", "shard_index", f.shardIndex, "shard_count", f.shardCount)
	}

	mux, err := newMux(f, store, reg, sched, rl, slogger)
	if err != nil {
		level.Error(logger).Log("msg", "cannot build the HTTP handlers", "err", err)
		return 1
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	srv := collector.NewServer(mux, collector.ServerOpts{IdleTimeout: f.idleTimeout})
	srvErr := make(chan error, 1)
	go func() {
		if listeners != nil {
			srvErr <- web.ServeMultiple(listeners, srv, f.toolkitFlags, slogger)
			return
		}
		srvErr <- web.ListenAndServe(srv, f.toolkitFlags, slogger)
	}()
	for {
		select {
		case <-hup:
			_ = rl.reload()
		case err := <-srvErr:
			if !errors.Is(err, http.ErrServerClosed) {
				level.Error(logger).Log("msg", "HTTP server failed", "err", err)
				return 1
			}
			return 0
		case <-ctx.Done():
			level.Info(logger).Log("msg", "shutting down")
			shutdownCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
			defer done()
			if err := srv.Shutdown(shutdownCtx); err != nil {
				level.Error(logger).Log("msg", "HTTP shutdown", "err", err)
			}
			return 0
		}
	}
}

// listen opens the TCP listeners of --web.listen-address. It returns none
// (and exporter-toolkit's ListenAndServe opens them) for systemd socket
// activation and vsock addresses.
func listen(flags *web.FlagConfig) ([]net.Listener, error) {
	if *flags.WebSystemdSocket || slices.ContainsFunc(*flags.WebListenAddresses, func(a string) bool { return strings.HasPrefix(a, "vsock://") }) {
		return nil, nil
	}
	var listeners []net.Listener
	for _, addr := range *flags.WebListenAddresses {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range listeners {
				_ = l.Close()
			}
			return nil, err
		}
		listeners = append(listeners, l)
	}
	return listeners, nil
}

// logConfigError logs a configuration error as one record per problem,
// each naming the configuration's source (file) and problem="i/n", so no
// record holds a multi-line value.
func logConfigError(logger log.Logger, msg, source string, err error) {
	problems := config.Problems(err)
	for i, p := range problems {
		level.Error(logger).Log("msg", msg, "file", source, "problem", fmt.Sprintf("%d/%d", i+1, len(problems)), "err", p)
	}
	if hint := missingConfigHint(source, err); hint != "" {
		level.Error(logger).Log("msg", hint, "file", source)
	}
}

// missingConfigHint returns a hint for a configuration file that does not
// exist (the first thing a new user meets when starting without flags),
// else "".
func missingConfigHint(file string, err error) string {
	if !errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if _, serr := os.Stat(file); !errors.Is(serr, fs.ErrNotExist) {
		return "" // a file the configuration names is missing, not the configuration
	}
	return "no configuration file: give one with --config.file=PATH (see config.example.yml), or try the exporter without credentials with --demo"
}

// writeConfigError writes a configuration error for a person to read
// (--config.check): a heading, then one problem per line.
func writeConfigError(w io.Writer, file string, err error) {
	problems := config.Problems(err)
	fmt.Fprintf(w, "%s: invalid configuration %s: %d problem(s):\n", exporterName, file, len(problems))
	for _, p := range problems {
		fmt.Fprintf(w, "  %v\n", p)
	}
	if hint := missingConfigHint(file, err); hint != "" {
		fmt.Fprintf(w, "%s\n", hint)
	}
}

// Exit codes of --config.check besides 0 (valid, and the plan can be met).
const (
	// exitInvalid: the configuration is invalid, or the check failed.
	exitInvalid = 1
	// exitPlanCannotBeMet: the configuration is valid but cannot run as
	// written (see config.ErrPlanCannotBeMet); the exporter would
	// start with it.
	exitPlanCannotBeMet = 3
)

// checkPlan prints the plan of a valid configuration for --config.check
// and returns the exit code: a summary first, then every bot (verbose)
// or only those with problems or warnings.
func checkPlan(cfg *config.Config, verbose bool, stdout, stderr io.Writer) int {
	fmt.Fprintf(stdout, "configuration valid: %d bots\n", len(cfg.Bots))
	err := cfg.WritePlan(stdout, verbose)
	switch {
	case errors.Is(err, config.ErrPlanCannotBeMet):
		fmt.Fprintf(stderr, "%s: configuration valid, but %v: the exporter would start, but those bots' runs would come late (exit %d)\n", exporterName, err, exitPlanCannotBeMet)
		return exitPlanCannotBeMet
	case err != nil:
		fmt.Fprintf(stderr, "%s: cannot print the plan: %v\n", exporterName, err)
		return exitInvalid
	}
	fmt.Fprintf(stdout, "configuration OK: the plan can be met\n")
	return 0
}

// startDemo starts the simulated Kore.ai API of --demo with its three bots
// and returns the loader of the demo configuration and the function that
// stops the simulator. With fast (the backfill of --demo), jobs finish at
// once and neither the simulator nor the client limits the request rate: no
// Kore.ai budget is at stake. Otherwise the third bot's API misbehaves now
// and then, as real ones do (see demoFaults).
func startDemo(logger log.Logger, surge, fast bool) (stop func(), load func() (*config.Config, error), err error) {
	opts := []koretest.Option{koretest.WithJobDuration(1500 * time.Millisecond)}
	if fast {
		opts = []koretest.Option{koretest.WithJobDuration(0), koretest.WithRateLimits(0, 0)}
	}
	sim := koretest.NewServer(opts...)
	var bots []demoBot
	for i, b := range koretest.ExporterDemoBots() {
		sim.AddBot(b)
		bots = append(bots, demoBot{Name: demoBotNames[i%len(demoBotNames)], BotID: b.ID, ClientID: b.ClientID, ClientSecret: b.ClientSecret})
	}
	if surge {
		task := sim.StartDemoSurge(bots[0].BotID, time.Now())
		level.Info(logger).Log("msg", "demo: drop-off of one task is climbing", "bot", bots[0].Name, "task", task)
	}
	level.Info(logger).Log("msg", "demo: simulated Kore.ai API started", "url", sim.URL)
	stop = sim.Close
	if !fast {
		done, finished := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(finished)
			demoFaults(done, sim, bots[len(bots)-1].BotID)
		}()
		stop = func() { close(done); <-finished; sim.Close() }
	}
	return stop, func() (*config.Config, error) {
		cfg, err := demoConfig(sim.URL, bots)
		if err == nil && fast {
			cfg.Limits.Unlimited = true
		}
		return cfg, err
	}, nil
}

var demoBotNames = []string{"support", "sales", "travel"}

// demoFaultEvery is how often demoFaults disturbs the demo bot's API.
const demoFaultEvery = 10 * time.Minute

// demoFaults makes bot's simulated API throttle every demoFaultEvery, the
// first time 20 s after the start, until done is closed: every answer is 429
// with Retry-After 1s until one has been sent. The client waits and
// retries, so the runs still succeed, and the exporter's retry, 429 and
// API-code metrics (and the health dashboard) have something to show.
func demoFaults(done <-chan struct{}, sim *koretest.Server, botID string) {
	wait := func(d time.Duration) bool {
		select {
		case <-done:
			return false
		case <-time.After(d):
			return true
		}
	}
	if !wait(20 * time.Second) {
		return
	}
	for {
		throttled := sim.Stats(botID).RateLimited
		sim.SetFault(botID, koretest.Fault{RateLimited: true, RetryAfter: time.Second})
		for sim.Stats(botID).RateLimited < throttled+1 {
			if !wait(100 * time.Millisecond) {
				return
			}
		}
		sim.SetFault(botID, koretest.Fault{})
		if !wait(demoFaultEvery) {
			return
		}
	}
}

// reloader applies configurations to the scheduler; a bad new
// configuration keeps the running one.
type reloader struct {
	// mu serialises reloads (SIGHUP and POST /-/reload may come at once),
	// load and apply together: a reload that read the file earlier never
	// applies it over one that read a newer file.
	mu      sync.Mutex
	logger  log.Logger
	source  string // the configuration's file, or the demo configuration
	sched   *collector.Scheduler
	metrics *collector.Metrics
	load    func() (*config.Config, error)
	ctx     context.Context // the exporter's lifetime; jobs run under it
	// secretFiles are the secret and key files of the running
	// configuration, for the secret file watcher.
	secretFiles atomic.Pointer[[]string]
}

// apply applies cfg and records the outcome in the reload self-metrics.
func (r *reloader) apply(cfg *config.Config) error {
	if err := r.sched.Apply(r.ctx, cfg); err != nil {
		r.metrics.ConfigReloaded(false, time.Now())
		return err
	}
	files := secretFiles(cfg)
	r.secretFiles.Store(&files)
	r.metrics.ConfigReloaded(true, time.Now())
	return nil
}

// runningSecretFiles returns the secret and key files of the running
// configuration.
func (r *reloader) runningSecretFiles() []string {
	if p := r.secretFiles.Load(); p != nil {
		return *p
	}
	return nil
}

// reload loads the configuration again and applies it: jobs whose settings
// did not change keep running.
func (r *reloader) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, err := r.load()
	if err != nil {
		r.metrics.ConfigReloaded(false, time.Now())
		logConfigError(r.logger, "reload failed; keeping the running configuration", r.source, err)
		return err
	}
	if err := r.apply(cfg); err != nil {
		level.Error(r.logger).Log("msg", "reload failed; keeping the running configuration", "file", r.source, "err", err)
		return err
	}
	level.Info(r.logger).Log("msg", "configuration reloaded", "file", r.source, "bots", len(cfg.Bots))
	return nil
}

// newMux wires the HTTP endpoints.
func newMux(f *flags, store *collector.Store, reg *prometheus.Registry, sched *collector.Scheduler, rl *reloader, logger *slog.Logger) (*http.ServeMux, error) {
	// Every endpoint has its own --web.max-requests slots (a flood of one
	// refuses none of another's requests), a quarter of them at most for
	// one client address, and the write deadline of --web.write-timeout.
	refused := collector.NewRefusedRequests()
	if err := reg.Register(refused); err != nil {
		return nil, fmt.Errorf("register the refused-requests counter: %w", err)
	}
	mux := http.NewServeMux()
	perAddress := collector.PerAddressShare(f.maxRequests)
	handle := func(path, name string, h http.Handler) {
		mux.Handle(path, collector.Bound(h, collector.EndpointOpts{
			Name: name, MaxRequestsInFlight: f.maxRequests, MaxRequestsPerAddress: perAddress,
			WriteTimeout: f.writeTimeout, Refused: refused,
		}))
	}
	mux.Handle(f.metricsPath, collector.NewHandler(store, reg, collector.HandlerOpts{
		ErrorLog: logger, MaxRequestsInFlight: f.maxRequests, MaxRequestsPerAddress: perAddress,
		WriteTimeout: f.writeTimeout, Metrics: rl.metrics, Refused: refused,
	}))
	handle("/status", "status", collector.StatusHandler(sched, f.metricsPath))
	handle("/-/healthy", "healthy", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Healthy.") }))
	handle("/-/ready", "ready", collector.ReadyHandler(sched))
	handle("/-/reload", "reload", collector.ReloadHandler(f.lifecycle, rl.reload))
	// collector.CheckTelemetryPath keeps the telemetry path off "/".
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        exporterName,
		Description: "Prometheus exporter for the Kore.ai XO Platform's Task Execution-Based Containment Report",
		Version:     version.Info(),
		Profiling:   "false", // no pprof handlers are served
		Links: []web.LandingLinks{
			{Address: f.metricsPath, Text: "Metrics"},
			{Address: "/status", Text: "Report job status"},
			{Address: "/-/healthy", Text: "Health"},
			{Address: "/-/ready", Text: "Readiness"},
		},
	})
	if err != nil {
		return nil, err
	}
	handle("/", "landing", landing)
	return mux, nil
}
