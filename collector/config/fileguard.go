package config

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DefaultFileTimeout is the deadline of a FileGuard's reads and looks
// when its Timeout is zero: far longer than a read of a secret on a
// working disk or mount takes, short enough that a reload stuck on a hung
// mount fails while someone still waits for it.
const DefaultFileTimeout = 5 * time.Second

// FileGuard bounds the file operations that can block (the reads of
// secret and key files, and the looks of the secret file watcher) with a
// deadline. A read on a hung network mount never returns and cannot be
// cancelled, so each operation runs in a goroutine of its own and its
// caller stops waiting at the deadline or when its context ends, with an
// error naming the file. The goroutine of an operation that does not
// return stays until it does, but at most one per file and kind of
// operation: while one is pending, a new call for that file starts none
// and waits for the pending one (sharing its answer) until that one's
// deadline, or fails at once when that deadline has passed.
//
// The zero FileGuard is ready to use, with DefaultFileTimeout. It must not
// be copied after first use.
type FileGuard struct {
	// Timeout is the deadline of each operation; zero means
	// DefaultFileTimeout.
	Timeout time.Duration

	mu      sync.Mutex
	pending map[guardKey]*guardedCall
}

type guardKey struct{ op, path string }

// guardedCall is one pending operation; val and err are set before done
// is closed.
type guardedCall struct {
	deadline time.Time
	done     chan struct{}
	val      any
	err      error
}

// ReadFunc returns read under the guard, for ParseOptions.ReadFile: each
// read of a file ends at the deadline or when ctx ends, whichever comes
// first. A nil read means ReadSecretFile. Calls that shared a read get the
// same bytes: they must not modify them.
func (g *FileGuard) ReadFunc(ctx context.Context, read func(path string) ([]byte, error)) func(path string) ([]byte, error) {
	if read == nil {
		read = ReadSecretFile
	}
	return func(path string) ([]byte, error) {
		v, err := g.do(ctx, "read", path, func() (any, error) { return read(path) })
		data, _ := v.([]byte)
		return data, err
	}
}

// FileIdentity tells versions of a file apart without reading it: a
// Kubernetes Secret update, which swaps the ..data link the file resolves
// through, changes its resolved path and inode; a rewrite in place changes
// its size or modification time.
type FileIdentity struct {
	// Path is the file's path with every symbolic link resolved.
	Path string
	// Dev and Ino are the device and inode (zero where the system has
	// none).
	Dev, Ino uint64
	// Size is the file's size in bytes.
	Size int64
	// ModTime is the modification time, in nanoseconds since the Unix
	// epoch.
	ModTime int64
}

// Identity returns the identity of the file at path, under the guard.
func (g *FileGuard) Identity(ctx context.Context, path string) (FileIdentity, error) {
	v, err := g.do(ctx, "stat", path, func() (any, error) { return fileIdentity(path) })
	id, _ := v.(FileIdentity)
	return id, err
}

func fileIdentity(path string) (FileIdentity, error) {
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return FileIdentity{}, err
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return FileIdentity{}, err
	}
	dev, ino := devIno(fi)
	return FileIdentity{Path: resolved, Dev: dev, Ino: ino, Size: fi.Size(), ModTime: fi.ModTime().UnixNano()}, nil
}

func (g *FileGuard) timeout() time.Duration {
	if g.Timeout > 0 {
		return g.Timeout
	}
	return DefaultFileTimeout
}

// do runs fn, the operation op on path, under the guard.
func (g *FileGuard) do(ctx context.Context, op, path string, fn func() (any, error)) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, &fs.PathError{Op: op, Path: path, Err: fmt.Errorf("not started: %w", context.Cause(ctx))}
	}
	timeout := g.timeout()
	k := guardKey{op, path}
	g.mu.Lock()
	c, joined := g.pending[k]
	if !joined {
		c = &guardedCall{deadline: time.Now().Add(timeout), done: make(chan struct{})}
		if g.pending == nil {
			g.pending = make(map[guardKey]*guardedCall)
		}
		g.pending[k] = c
		go func() {
			v, err := fn()
			g.mu.Lock()
			c.val, c.err = v, err
			delete(g.pending, k)
			g.mu.Unlock()
			close(c.done)
		}()
	}
	g.mu.Unlock()

	timer := time.NewTimer(max(time.Until(c.deadline), 0))
	defer timer.Stop()
	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		return nil, &fs.PathError{Op: op, Path: path, Err: fmt.Errorf("abandoned: %w", context.Cause(ctx))}
	case <-timer.C:
	}
	select {
	case <-c.done: // it returned just in time
		return c.val, c.err
	default:
	}
	return nil, &fs.PathError{Op: op, Path: path, Err: &timeoutError{op: op, timeout: timeout, earlier: joined}}
}

// timeoutError is the error of an operation past its deadline; it
// matches os.ErrDeadlineExceeded.
type timeoutError struct {
	op      string
	timeout time.Duration
	earlier bool // the operation was started by an earlier call
}

func (e *timeoutError) Error() string {
	what := "the read"
	if e.op == "stat" {
		what = "the look at the file"
	}
	if e.earlier {
		return fmt.Sprintf("%s started earlier has not returned within the deadline of %v and still blocks (a hung mount?)", what, e.timeout)
	}
	return fmt.Sprintf("%s has not returned within the deadline of %v and still blocks (a hung mount?)", what, e.timeout)
}

func (e *timeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }

// Timeout reports that the error is a timeout, as net.Error does.
func (e *timeoutError) Timeout() bool { return true }
