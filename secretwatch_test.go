package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kore-exporter/kore_exporter/collector"
	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
	"github.com/kore-exporter/kore_exporter/kore/koretest"

	"github.com/prometheus/client_golang/prometheus"
)

// secretVolume is a directory laid out as the kubelet mounts a Secret:
// each key is a symbolic link through ..data into the directory of the
// current version; an update writes a new version's directory, swaps
// ..data to it in one rename and removes the old one.
type secretVolume struct {
	t       *testing.T
	dir     string
	version int
	current string
}

// newSecretVolume mounts the keys (see update) in dir, with one link per
// key of links.
func newSecretVolume(t *testing.T, dir string, links []string, keys map[string][]byte) *secretVolume {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	v := &secretVolume{t: t, dir: dir}
	v.update(keys)
	for _, k := range links {
		if err := os.Symlink(filepath.Join("..data", k), filepath.Join(dir, k)); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// update publishes a new version of the Secret: each key a file holding
// its value, a directory for a nil value; a key left out is missing.
func (v *secretVolume) update(keys map[string][]byte) {
	v.t.Helper()
	v.version++
	ts := fmt.Sprintf("..2026_01_01_00_00_00.%09d", v.version)
	if err := os.Mkdir(filepath.Join(v.dir, ts), 0o700); err != nil {
		v.t.Fatal(err)
	}
	for k, data := range keys {
		p := filepath.Join(v.dir, ts, k)
		var err error
		if data == nil {
			err = os.Mkdir(p, 0o700)
		} else {
			err = os.WriteFile(p, data, 0o600)
		}
		if err != nil {
			v.t.Fatal(err)
		}
	}
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		v.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		v.t.Fatal(err)
	}
	if v.current != "" {
		if err := os.RemoveAll(filepath.Join(v.dir, v.current)); err != nil {
			v.t.Fatal(err)
		}
	}
	v.current = ts
}

// credentialLog records the credential each bot's clients were built
// with, in order.
type credentialLog struct {
	mu    sync.Mutex
	creds map[string][]string
}

func (c *credentialLog) newClient(b config.Bot, _ *kore.Budgets, _ kore.Observer) (report.Runner, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.creds == nil {
		c.creds = map[string][]string{}
	}
	c.creds[b.Name] = append(c.creds[b.Name], b.ClientSecret.Reveal()+b.PrivateKey.Reveal())
	return waitingRunner{}, nil
}

// last returns the credential of the bot's newest client and how many
// clients it had.
func (c *credentialLog) last(bot string) (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	all := c.creds[bot]
	if len(all) == 0 {
		return "", 0
	}
	return all[len(all)-1], len(all)
}

// gaugeValue returns the value of the unlabelled self-metric gauge name.
func gaugeValue(t *testing.T, m *collector.Metrics, name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

const reloadOK = "kore_exporter_config_last_reload_successful"

// TestSecretWatcherFollowsSecretUpdates: with the reloader and scheduler
// of run, the secret watcher reloads the configuration when the kubelet
// swaps the ..data link of the Secret volume holding a client_secret_file
// and a private_key_file: a good new secret or key reaches the bot's
// client; a bad one (empty, too large, a directory, missing) is refused,
// the running credentials kept, and the log and the reload self-metric
// say so, once; the log names the file and never a secret. On a fake
// clock: a poll every 30s.
func TestSecretWatcherFollowsSecretUpdates(t *testing.T) {
	keys := newCanaryKeys(t)
	otherKeys := newCanaryKeys(t)
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets")
	const (
		secret1 = "rotated-secret-one-3b9f0a"
		secret2 = "rotated-secret-two-77c1de"
		secret3 = "rotated-secret-three-e40a"
	)
	vol := newSecretVolume(t, secrets, []string{"client-secret", "key.pem"},
		map[string][]byte{"client-secret": []byte(secret1 + "\n"), "key.pem": keys.rsaPEM})
	path := filepath.Join(dir, "kore.yml")
	writeFile(t, path, []byte(`defaults: {interval: 1m, windows: [1h]}
bots:
  - {name: hs, bot_id: st-1, client_id: cs-1, client_secret_file: secrets/client-secret}
  - {name: rs, bot_id: st-2, client_id: cs-2, private_key_file: secrets/key.pem}
`))
	secretFile, keyFile := filepath.Join(secrets, "client-secret"), filepath.Join(secrets, "key.pem")
	search := keys.search()
	search.addKey("the second RSA key", otherKeys.rsaPEM)
	for _, s := range []string{secret1, secret2, secret3} {
		search.add("a rotated secret", s)
	}
	big := []byte(strings.Repeat(secret2, config.MaxSecretFileSize/len(secret2)+1))

	synctest.Test(t, func(t *testing.T) {
		var logs syncBuffer
		logger, _ := newLogger(&logs, "logfmt", "info")
		_, metrics, err := collector.NewRegistry()
		if err != nil {
			t.Fatal(err)
		}
		var creds credentialLog
		sched := collector.NewScheduler(collector.SchedulerOpts{Logger: logger, Store: collector.NewStore(), Metrics: metrics,
			NewClient: creds.newClient})
		ctx, cancel := context.WithCancel(t.Context())
		defer sched.Stop()
		defer cancel()
		guard := &config.FileGuard{}
		var loads atomic.Int32
		load := func() (*config.Config, error) {
			loads.Add(1)
			return config.LoadWith(path, config.ParseOptions{ReadFile: guard.ReadFunc(ctx, config.ReadSecretFile)})
		}
		rl := &reloader{logger: logger, source: path, sched: sched, metrics: metrics, load: load, ctx: ctx}
		cfg, err := load()
		if err != nil {
			t.Fatal(err)
		}
		if err := rl.apply(cfg); err != nil {
			t.Fatal(err)
		}
		w := &secretWatcher{logger: logger, interval: 30 * time.Second, files: rl.runningSecretFiles, identify: guard.Identity, reload: rl.reload}
		stop := w.start(ctx)
		defer stop()
		synctest.Wait()

		// poll lets the watcher's next poll and any reload happen, and
		// returns what they logged, without the fields ts and caller.
		poll := func() string {
			t.Helper()
			before := len(logs.String())
			time.Sleep(30 * time.Second)
			synctest.Wait()
			return withoutTimeAndCaller(logs.String()[before:])
		}
		expect := func(step, bot, cred string, clients int, ok float64, loaded int) {
			t.Helper()
			if got, n := creds.last(bot); got != cred || n != clients {
				t.Errorf("%s: bot %s has had %d clients, the last with the credential %s; want %d, the last with %s", step, bot, n, describe(got, keys, otherKeys), clients, describe(cred, keys, otherKeys))
			}
			if v := gaugeValue(t, metrics, reloadOK); v != ok {
				t.Errorf("%s: %s = %v, want %v", step, reloadOK, v, ok)
			}
			if n := int(loads.Load()); n != loaded {
				t.Errorf("%s: the configuration was loaded %d times, want %d", step, n, loaded)
			}
		}
		changed := func(step, said, file string) {
			t.Helper()
			if want := `level=info msg="secret file changed; reloading the configuration" file=` + file; !strings.Contains(said, want) {
				t.Errorf("%s: the log does not say %q:\n%s", step, want, said)
			}
		}

		expect("start", "hs", secret1, 1, 1, 1)
		expect("start", "rs", string(keys.rsaPEM), 1, 1, 1)
		if said := poll(); said != "" {
			t.Errorf("unchanged files: the log says\n%s", said)
		}
		expect("unchanged files", "hs", secret1, 1, 1, 1)

		vol.update(map[string][]byte{"client-secret": []byte(secret2 + "\n"), "key.pem": keys.rsaPEM})
		said := poll()
		changed("new secret", said, secretFile)
		if !strings.Contains(said, `msg="configuration reloaded"`) {
			t.Errorf("new secret: no reload logged:\n%s", said)
		}
		expect("new secret", "hs", secret2, 2, 1, 2)
		expect("new secret", "rs", string(keys.rsaPEM), 1, 1, 2)

		loaded := 2
		for _, bad := range []struct {
			name string
			keys map[string][]byte
			want string // the problem logged
		}{
			{"empty", map[string][]byte{"client-secret": []byte("\n")}, "file " + secretFile + " is empty"},
			{"too large", map[string][]byte{"client-secret": big}, "file " + secretFile + " is larger than the limit"},
			{"a directory", map[string][]byte{"client-secret": nil}, "file " + secretFile + " is not a regular file (a directory)"},
			{"missing", map[string][]byte{}, "file " + secretFile + " does not exist"},
		} {
			bad.keys["key.pem"] = keys.rsaPEM
			vol.update(bad.keys)
			said := poll()
			loaded++
			step := "secret file " + bad.name
			changed(step, said, secretFile)
			for _, want := range []string{
				`level=error msg="reload failed; keeping the running configuration" file=` + path + ` problem=1/1 err="bots[0].client_secret_file: ` + bad.want,
				`level=warn msg="a changed secret file was not applied: the running configuration keeps its previous secrets" file=` + secretFile,
			} {
				if !strings.Contains(said, want) {
					t.Errorf("%s: the log does not say %q:\n%s", step, want, said)
				}
			}
			expect(step, "hs", secret2, 2, 0, loaded)
			// Not again while it stays bad.
			if said := poll(); said != "" {
				t.Errorf("%s, unchanged since: the log says\n%s", step, said)
			}
			expect(step+", unchanged since", "hs", secret2, 2, 0, loaded)
		}

		vol.update(map[string][]byte{"client-secret": []byte(secret3), "key.pem": otherKeys.rsaPEM})
		said = poll()
		changed("good secret and new key", said, secretFile)
		changed("good secret and new key", said, keyFile)
		if n := strings.Count(said, `msg="configuration reloaded"`); n != 1 {
			t.Errorf("two files changed: %d reloads logged, want 1:\n%s", n, said)
		}
		expect("good secret and new key", "hs", secret3, 3, 1, loaded+1)
		expect("good secret and new key", "rs", string(otherKeys.rsaPEM), 2, 1, loaded+1)

		stop()
		cancel()
		sched.Stop()
		search.check(t, map[string]string{"the log": logs.String()})
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
}

// describe names a credential of the test without showing it.
func describe(cred string, keys ...canaryKeys) string {
	for i, k := range keys {
		if cred == string(k.rsaPEM) {
			return fmt.Sprintf("RSA key %d", i+1)
		}
	}
	if strings.HasPrefix(cred, "rotated-secret-") {
		return strings.SplitN(strings.TrimPrefix(cred, "rotated-secret-"), "-", 2)[0]
	}
	return fmt.Sprintf("(%d bytes)", len(cred))
}

// TestSecretWatcherFilesFollowTheConfiguration: the files watched are those
// of the running configuration: a file a reload adds is watched from its
// first poll on (its first look is no change), one it drops is no longer.
func TestSecretWatcherFilesFollowTheConfiguration(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.secret"), filepath.Join(dir, "b.secret")
	writeFile(t, a, []byte("first-secret-a"))
	writeFile(t, b, []byte("first-secret-b"))
	synctest.Test(t, func(t *testing.T) {
		var logs syncBuffer
		logger, _ := newLogger(&logs, "logfmt", "info")
		var files atomic.Pointer[[]string]
		watch := func(f ...string) { files.Store(&f) }
		watch(a)
		var reloads atomic.Int32
		w := &secretWatcher{logger: logger, interval: time.Minute, files: func() []string { return *files.Load() },
			identify: (&config.FileGuard{}).Identity, reload: func() error { reloads.Add(1); return nil }}
		stop := w.start(t.Context())
		defer stop()
		synctest.Wait()
		step := func(name string, wantReloads int32) {
			t.Helper()
			time.Sleep(time.Minute)
			synctest.Wait()
			if n := reloads.Load(); n != wantReloads {
				t.Errorf("%s: %d reloads, want %d; log:\n%s", name, n, wantReloads, logs.String())
			}
		}
		watch(a, b)
		step("b added", 0)
		writeFile(t, b, []byte("second-secret-b"))
		step("b changed", 1)
		watch(b)
		writeFile(t, a, []byte("second-secret-a"))
		step("a dropped and changed", 1)
	})
}

// TestSecretPollIntervalFlag: --config.secret-poll-interval is 0s (off)
// or between 1s and 24h.
func TestSecretPollIntervalFlag(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		code int
	}{
		{"--config.secret-poll-interval=0s", 0},
		{"--config.secret-poll-interval=1s", 0},
		{"--config.secret-poll-interval=24h", 0},
		{"--config.secret-poll-interval=999ms", 1},
		{"--config.secret-poll-interval=25h", 1},
		{"--config.secret-poll-interval=-1s", 1},
		{"--config.secret-poll-interval=30", 2},
	} {
		code, msg := flagStage([]string{tc.arg})
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d: %s", tc.arg, code, tc.code, msg)
		}
		if code == 1 && !strings.Contains(msg, "--config.secret-poll-interval") || code == 1 && !strings.Contains(msg, "[1s, 24h]") {
			t.Errorf("%s: error %q does not name the flag and its range", tc.arg, msg)
		}
	}
	f, _, _ := parseFlags(nil, nil, nil)
	if f.secretPoll != 30*time.Second {
		t.Errorf("default --config.secret-poll-interval %v, want 30s", f.secretPoll)
	}
}

// TestSecretRotationEndToEnd: the exporter (run) follows a Kubernetes
// Secret update of its client_secret_file: its next runs authenticate with
// the new secret, which the simulated API then requires. Real clock, a
// poll every second.
func TestSecretRotationEndToEnd(t *testing.T) {
	skipShort(t, "secret rotation end-to-end on a real clock")
	const (
		oldSecret = "end-to-end-secret-old-1f2e"
		newSecret = "end-to-end-secret-new-9a8b"
	)
	sim := koretest.NewServer(koretest.WithJobDuration(0))
	defer sim.Close()
	bot := koretest.DemoBots(1, 5)[0]
	bot.ClientSecret = oldSecret
	sim.AddBot(bot)
	dir := t.TempDir()
	vol := newSecretVolume(t, filepath.Join(dir, "secrets"), []string{"client-secret"}, map[string][]byte{"client-secret": []byte(oldSecret)})
	path := filepath.Join(dir, "kore.yml")
	writeFile(t, path, []byte(fmt.Sprintf(`defaults: {host: %s, allow_insecure_http: true, interval: 1m, windows: [1h]}
bots:
  - {name: rotated, bot_id: %s, client_id: %s, client_secret_file: secrets/client-secret}
`, sim.URL, bot.ID, bot.ClientID)))
	e := startExporter(t, "--config.file="+path, "--config.secret-poll-interval=1s")
	e.waitReady(30 * time.Second)
	if rows := e.status(); len(rows) != 1 || rows[0].LastResult != "success" {
		t.Fatalf("first run: %+v; logs:\n%s", rows, e.logs.String())
	}

	// The API takes the new secret only; the Secret volume gets it.
	bot.ClientSecret = newSecret
	sim.AddBot(bot)
	vol.update(map[string][]byte{"client-secret": []byte(newSecret)})
	reloaded := regexp.MustCompile(`msg="secret file changed; reloading the configuration" file=\S*client-secret(?s:.*)msg="configuration reloaded"`)
	waitFor(t, 30*time.Second, "the reload after the secret update", func() bool { return reloaded.MatchString(e.logs.String()) }, e.logs.String)
	// The job restarted with the new client: its run succeeds (the
	// simulator's counters restarted with the bot).
	waitFor(t, 30*time.Second, "a run with the new secret", func() bool {
		rows := e.status()
		return len(rows) == 1 && rows[0].LastResult == "success" && sim.Stats(bot.ID).Submits >= 1
	}, e.logs.String)
	if strings.Contains(e.logs.String(), oldSecret) || strings.Contains(e.logs.String(), newSecret) {
		t.Errorf("the log shows a secret")
	}
}

// waitFor waits until cond holds, checking every 20ms, or fails the test
// after timeout with what describe says.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %v:\n%s", what, timeout, describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var timeAndCaller = regexp.MustCompile(` ts=\S+ caller=\S+`)

// withoutTimeAndCaller returns logfmt lines without their ts and caller.
func withoutTimeAndCaller(logs string) string { return timeAndCaller.ReplaceAllString(logs, "") }
