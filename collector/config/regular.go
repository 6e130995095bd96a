package config

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"syscall"
)

// OpenRegular opens the file at path with flag (os.O_RDONLY, os.O_RDWR,
// with os.O_CREATE to create a missing file with perm) with the checks of
// ReadSecretFile, for files that are read and written, such as the
// backfill's state file: a directory, a FIFO, a device or a socket (or a
// symlink to one) is refused (ErrNotRegularFile), its type is checked
// before the open and again on the open file, and the open is
// non-blocking, so a FIFO never blocks it. The caller bounds what it
// reads.
func OpenRegular(path string, flag int, perm fs.FileMode) (*os.File, error) {
	fi, err := os.Stat(path)
	switch {
	case err == nil:
		if err := checkRegular(path, fi, math.MaxInt64); err != nil {
			return nil, err
		}
		flag &^= os.O_CREATE
	case errors.Is(err, fs.ErrNotExist) && flag&os.O_CREATE != 0:
		flag |= os.O_EXCL // a file that appears meanwhile is not taken
	default:
		return nil, err
	}
	f, err := os.OpenFile(path, flag|syscall.O_NONBLOCK, perm)
	if err != nil {
		return nil, err
	}
	// The name may have been replaced between Stat and OpenFile.
	if fi, err = f.Stat(); err == nil {
		err = checkRegular(path, fi, math.MaxInt64)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
