package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Bounds of the files the configuration reads. A FIFO, a device or a
// directory is never read, so /dev/zero cannot exhaust memory and a FIFO
// cannot block a reload.
const (
	// MaxConfigFileSize is the largest configuration file Load reads.
	MaxConfigFileSize = 4 << 20
	// MaxSecretFileSize is the largest client_secret_file or
	// private_key_file read.
	MaxSecretFileSize = 64 << 10
)

// ErrNotRegularFile is returned for a file that is a directory, a FIFO,
// a device or a socket.
var ErrNotRegularFile = errors.New("not a regular file")

// ErrFileTooLarge is returned for a file above its size limit.
var ErrFileTooLarge = errors.New("file too large")

// ReadSecretFile reads a secret or key file: a regular file of at most
// MaxSecretFileSize bytes.
func ReadSecretFile(path string) ([]byte, error) {
	return readRegularFile(path, MaxSecretFileSize)
}

// readRegularFile reads the regular file at path through a limit of max
// bytes. It checks the file's type before opening it and again on the
// open file, and opens it non-blocking, so a FIFO never blocks it; it
// never reads more than max+1 bytes.
func readRegularFile(path string, max int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := checkRegular(path, fi, max); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The name may have been replaced between Stat and OpenFile.
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := checkRegular(path, fi, max); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: more than %d bytes", ErrFileTooLarge, max)}
	}
	return data, nil
}

func checkRegular(path string, fi fs.FileInfo, max int64) error {
	if !fi.Mode().IsRegular() {
		return &fs.PathError{Op: "open", Path: path, Err: &notRegularError{kind: fileKind(fi.Mode())}}
	}
	if fi.Size() > max {
		return &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: %d bytes, more than %d", ErrFileTooLarge, fi.Size(), max)}
	}
	return nil
}

// notRegularError says what a file that is not regular is; it matches
// ErrNotRegularFile.
type notRegularError struct{ kind string }

func (e *notRegularError) Error() string        { return "not a regular file: " + e.kind }
func (e *notRegularError) Is(target error) bool { return target == ErrNotRegularFile }

// fileKind names what a non-regular file is.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a plain file"
}
