package main

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kore-exporter/kore_exporter/collector/config"
)

// Bounds and default of --config.secret-poll-interval.
const (
	defaultSecretPoll = 30 * time.Second
	minSecretPoll     = time.Second
	maxSecretPoll     = 24 * time.Hour
)

// secretWatcher reloads the configuration when a secret or key file of the
// running configuration changes, such as a mounted Kubernetes Secret that
// the kubelet updates by swapping its ..data link. Every interval it looks
// at each file's identity (resolved path, device and inode, size,
// modification time: config.FileIdentity), or at what keeps it from having
// one (missing, unreadable); when one of them differs from the last look,
// it logs each changed file (its name, never its content) and reloads once
// through the reloader, so the usual rules apply: a bad new file keeps the
// running configuration, and the log and the reload self-metric say so. A
// state is reloaded for once: a file that stays bad is not tried again
// until it changes. A file that the running configuration starts to use
// is watched from its first look on.
type secretWatcher struct {
	logger   log.Logger
	interval time.Duration
	// files returns the secret and key files of the running configuration.
	files func() []string
	// identify returns a file's identity; it returns by its deadline.
	identify func(ctx context.Context, path string) (config.FileIdentity, error)
	// reload reloads the configuration (reloader.reload).
	reload func() error

	seen map[string]fileState // the last look at each file
}

// fileState is what a look at a file found: its identity, or the kind of
// problem that kept it from having one.
type fileState struct {
	id      config.FileIdentity
	problem string
}

// start runs the watcher in a goroutine until ctx ends or stop is called;
// stop returns once the watcher has returned.
func (w *secretWatcher) start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(ctx)
	}()
	return func() { cancel(); <-done }
}

func (w *secretWatcher) run(ctx context.Context) {
	w.poll(ctx)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.poll(ctx)
		}
	}
}

// poll looks at every file and reloads when one of them changed since the
// last look.
func (w *secretWatcher) poll(ctx context.Context) {
	files := w.files()
	now := make(map[string]fileState, len(files))
	var changed []string
	for _, f := range files {
		st, ok := w.look(ctx, f)
		if !ok {
			return // shutting down
		}
		now[f] = st
		if old, seen := w.seen[f]; seen && old != st {
			changed = append(changed, f)
		}
	}
	w.seen = now
	if len(changed) == 0 {
		return
	}
	for _, f := range changed {
		level.Info(w.logger).Log("msg", "secret file changed; reloading the configuration", "file", f)
	}
	if err := w.reload(); err != nil {
		// The reload logged its problems.
		for _, f := range changed {
			level.Warn(w.logger).Log("msg", "a changed secret file was not applied: the running configuration keeps its previous secrets", "file", f)
		}
	}
}

// look returns the state of file f; false when ctx ended.
func (w *secretWatcher) look(ctx context.Context, f string) (fileState, bool) {
	id, err := w.identify(ctx, f)
	switch {
	case ctx.Err() != nil:
		return fileState{}, false
	case err == nil:
		return fileState{id: id}, true
	case errors.Is(err, fs.ErrNotExist):
		return fileState{problem: "missing"}, true
	default:
		// Unreadable, or the look timed out (a hung mount): which one, and
		// its message, may vary from look to look without a change.
		level.Debug(w.logger).Log("msg", "cannot look at a secret file", "file", f, "err", err)
		return fileState{problem: "unreadable"}, true
	}
}

// secretFiles returns the secret and key files cfg read, each once,
// sorted.
func secretFiles(cfg *config.Config) []string {
	var files []string
	for _, b := range cfg.Bots {
		for _, f := range []string{b.ClientSecretFile, b.PrivateKeyFile} {
			if f != "" {
				files = append(files, f)
			}
		}
	}
	slices.Sort(files)
	return slices.Compact(files)
}
