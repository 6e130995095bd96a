package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// blockingReads is a secret file reader whose reads of one path block
// until released, as a read on a hung network mount does; it counts the
// reads that started.
type blockingReads struct {
	hung    string
	release chan struct{}
	mu      sync.Mutex
	calls   map[string]int
}

func newBlockingReads(hung string) *blockingReads {
	return &blockingReads{hung: hung, release: make(chan struct{}), calls: map[string]int{}}
}

func (b *blockingReads) read(path string) ([]byte, error) {
	b.mu.Lock()
	b.calls[path]++
	b.mu.Unlock()
	if path == b.hung {
		<-b.release
	}
	return []byte(canary + " of " + filepath.Base(path)), nil
}

func (b *blockingReads) count(path string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls[path]
}

// TestFileGuardReadDeadline: a read that blocks fails at the deadline with
// an error naming the file and the deadline; while it stays blocked, later
// reads of that file start no other read (one stuck goroutine per file at
// most) and fail at once; other files are read; once it returns, the file
// is read again.
func TestFileGuardReadDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const hung = "/mnt/hung/secret"
		b := newBlockingReads(hung)
		g := &FileGuard{}
		read := g.ReadFunc(t.Context(), b.read)

		start := time.Now()
		data, err := read(hung)
		if took := time.Since(start); took != DefaultFileTimeout {
			t.Errorf("the blocked read returned after %v, want the deadline %v", took, DefaultFileTimeout)
		}
		if err == nil {
			t.Fatalf("the blocked read returned %d bytes, no error", len(data))
		}
		for _, want := range []string{hung, "5s"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %q", err, want)
			}
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("error %v is not os.ErrDeadlineExceeded", err)
		}

		for i := range 3 {
			start = time.Now()
			if _, err := read(hung); err == nil || !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), hung) {
				t.Errorf("read %d of the still blocked file: %v, want a deadline error naming it", i+2, err)
			}
			if took := time.Since(start); took != 0 {
				t.Errorf("read %d of the still blocked file waited %v, want a failure at once", i+2, took)
			}
		}
		if n := b.count(hung); n != 1 {
			t.Errorf("%d reads of the blocked file started, want 1: they pile up", n)
		}

		other := "/etc/kore/other.secret"
		if data, err := read(other); err != nil || !strings.HasSuffix(string(data), "other.secret") {
			t.Errorf("read of another file: %q, %v", data, err)
		}

		close(b.release)
		synctest.Wait() // the blocked read has returned
		if data, err := read(hung); err != nil || !strings.HasSuffix(string(data), "secret") {
			t.Errorf("read once the file answers again: %q, %v", data, err)
		}
		if n := b.count(hung); n != 2 {
			t.Errorf("%d reads of the file started, want 2 (the blocked one, then a new one)", n)
		}
	})
}

// TestFileGuardJoinsARead: a read of a file whose read started earlier
// and has not passed its deadline waits for that read (it starts no second
// one) and shares its answer.
func TestFileGuardJoinsARead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const slow = "/mnt/slow/secret"
		b := newBlockingReads(slow)
		g := &FileGuard{Timeout: 10 * time.Second}
		read := g.ReadFunc(t.Context(), b.read)
		first := make(chan error, 1)
		go func() {
			_, err := read(slow)
			first <- err
		}()
		time.Sleep(4 * time.Second)
		time.AfterFunc(time.Second, func() { close(b.release) })
		data, err := read(slow)
		if err != nil || !strings.HasSuffix(string(data), "secret") {
			t.Errorf("the joined read: %q, %v", data, err)
		}
		if err := <-first; err != nil {
			t.Errorf("the first read: %v", err)
		}
		if n := b.count(slow); n != 1 {
			t.Errorf("%d reads started, want 1", n)
		}
	})
}

// TestFileGuardReadCancelled: a read waiting on a blocked file returns
// when its context ends (the exporter shuts down), before the deadline.
func TestFileGuardReadCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const hung = "/mnt/hung/key.pem"
		b := newBlockingReads(hung)
		defer func() { close(b.release); synctest.Wait() }()
		g := &FileGuard{}
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(time.Second, cancel)
		start := time.Now()
		_, err := g.ReadFunc(ctx, b.read)(hung)
		if took := time.Since(start); took != time.Second {
			t.Errorf("the read returned %v after it began, want 1s (when cancelled)", took)
		}
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), hung) {
			t.Errorf("error %v: want context.Canceled, naming the file", err)
		}
		// A context ended before the read: no read starts.
		if _, err := g.ReadFunc(ctx, b.read)("/etc/kore/a.secret"); !errors.Is(err, context.Canceled) {
			t.Errorf("read under an ended context: %v", err)
		}
		if n := b.count("/etc/kore/a.secret"); n != 0 {
			t.Errorf("a read under an ended context started")
		}
	})
}

// TestLoadWithABlockedSecretFile: through ParseOptions.ReadFile, a blocked
// secret file is a configuration problem at its field, naming the file and
// the deadline, and the load returns at the deadline.
func TestLoadWithABlockedSecretFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kore.yml")
	if err := os.WriteFile(path, []byte("bots:\n  - {bot_id: st-1, client_id: cs-1, client_secret_file: hung.secret}\n  - {bot_id: st-2, client_id: cs-2, client_secret_file: ok.secret}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		b := newBlockingReads(filepath.Join(dir, "hung.secret"))
		defer func() { close(b.release); synctest.Wait() }()
		g := &FileGuard{}
		start := time.Now()
		_, err := LoadWith(path, ParseOptions{ReadFile: g.ReadFunc(t.Context(), b.read)})
		if took := time.Since(start); took != DefaultFileTimeout {
			t.Errorf("the load took %v, want the deadline %v", took, DefaultFileTimeout)
		}
		want := "bots[0].client_secret_file: cannot read file " + filepath.Join(dir, "hung.secret") + ": "
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "5s") {
			t.Fatalf("error %v: want %q… naming the deadline", err, want)
		}
		if len(Problems(err)) != 1 {
			t.Errorf("problems %q, want the blocked file's only", Problems(err))
		}
		if strings.Contains(err.Error(), canary) {
			t.Errorf("the error shows a secret: %v", err)
		}
	})
}

// TestFileGuardIdentity: a file's identity follows symbolic links and
// changes when a Kubernetes Secret volume swaps its ..data link, even to a
// file of the same size and time; a missing file is an error.
func TestFileGuardIdentity(t *testing.T) {
	dir := t.TempDir()
	mkVersion := func(name, secret string, mtime time.Time) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name, "client-secret")
		if err := os.WriteFile(p, []byte(secret), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	swap := func(to string) {
		t.Helper()
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(to, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	mkVersion("..2026_01_02_03_04_05.1", "first-secret", mtime)
	mkVersion("..2026_01_02_03_04_05.2", "other-secret", mtime) // same size and time
	swap("..2026_01_02_03_04_05.1")
	file := filepath.Join(dir, "client-secret")
	if err := os.Symlink(filepath.Join("..data", "client-secret"), file); err != nil {
		t.Fatal(err)
	}
	g := &FileGuard{}
	before, err := g.Identity(t.Context(), file)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "..2026_01_02_03_04_05.1", "client-secret"); before.Path != want {
		t.Errorf("resolved path %q, want %q", before.Path, want)
	}
	if before.Size != int64(len("first-secret")) || before.ModTime != mtime.UnixNano() {
		t.Errorf("identity %+v: want size %d, time %v", before, len("first-secret"), mtime)
	}
	if again, err := g.Identity(t.Context(), file); err != nil || again != before {
		t.Errorf("identity of the unchanged file %+v, %v; was %+v", again, err, before)
	}
	swap("..2026_01_02_03_04_05.2")
	after, err := g.Identity(t.Context(), file)
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Errorf("identity %+v unchanged after the ..data swap", after)
	}
	if _, err := g.Identity(t.Context(), filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("identity of a missing file: %v, want ErrNotExist", err)
	}
}
