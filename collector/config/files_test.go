//go:build linux || darwin || freebsd || netbsd || openbsd

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loadReleasingFIFOs runs Load(path) and returns its result. Should Load
// block on one of fifos (the bug this guards against), it opens them for
// writing so the blocked read ends, and fails the test instead of hanging.
func loadReleasingFIFOs(t *testing.T, path string, fifos ...string) (*Config, error) {
	t.Helper()
	type result struct {
		c   *Config
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := Load(path)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.c, r.err
	case <-time.After(20 * time.Second):
		for _, f := range fifos {
			if w, err := os.OpenFile(f, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
		}
		<-done
		t.Fatalf("Load(%s) blocked on a FIFO", path)
		return nil, nil
	}
}

// TestLoadRefusesFilesThatAreNotRegular: secret, key and config files are
// read only when they are regular files within a size limit, so /dev/zero
// cannot exhaust memory and a FIFO cannot block a reload.
func TestLoadRefusesFilesThatAreNotRegular(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "secret.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	configFIFO := filepath.Join(dir, "config.fifo")
	if err := syscall.Mkfifo(configFIFO, 0o600); err != nil {
		t.Fatal(err)
	}
	subdir := filepath.Join(dir, "secret.d")
	if err := os.Mkdir(subdir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Over the limit by one byte, made of the canary: its content must
	// not show in the error.
	big := filepath.Join(dir, "big.secret")
	if err := os.WriteFile(big, []byte(strings.Repeat(canary, MaxSecretFileSize/len(canary)+1)[:MaxSecretFileSize+1]), 0o600); err != nil {
		t.Fatal(err)
	}
	atLimit := filepath.Join(dir, "at-limit.secret")
	if err := os.WriteFile(atLimit, []byte(strings.Repeat("s", MaxSecretFileSize)), 0o600); err != nil {
		t.Fatal(err)
	}
	bigConfig := filepath.Join(dir, "big.yml")
	if err := os.WriteFile(bigConfig, []byte("# "+strings.Repeat("x", MaxConfigFileSize)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	haveDevZero := false
	if fi, err := os.Stat("/dev/zero"); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		haveDevZero = true
	}

	bot := func(field, file string) string {
		return "bots:\n  - {bot_id: st-1, client_id: cs-1, " + field + ": " + file + "}\n"
	}
	tests := []struct {
		name    string
		config  string // written to kore.yml; or
		path    string // a config path used as is
		devZero bool
		want    string
	}{
		{name: "secret /dev/zero", devZero: true, config: bot("client_secret_file", "/dev/zero"),
			want: "bots[0].client_secret_file: file /dev/zero is not a regular file (a character device)"},
		{name: "key /dev/zero", devZero: true, config: bot("private_key_file", "/dev/zero"),
			want: "bots[0].private_key_file: file /dev/zero is not a regular file (a character device); want a file holding the private key"},
		{name: "secret FIFO", config: bot("client_secret_file", "secret.fifo"),
			want: "bots[0].client_secret_file: file " + fifo + " is not a regular file (a FIFO)"},
		{name: "key FIFO", config: bot("private_key_file", fifo),
			want: "bots[0].private_key_file: file " + fifo + " is not a regular file (a FIFO)"},
		{name: "secret directory", config: bot("client_secret_file", "secret.d"),
			want: "bots[0].client_secret_file: file " + subdir + " is not a regular file (a directory)"},
		{name: "secret too large", config: bot("client_secret_file", "big.secret"),
			want: "bots[0].client_secret_file: file " + big + " is larger than the limit of 65536 bytes (64 KiB)"},
		{name: "key too large", config: bot("private_key_file", "big.secret"),
			want: "bots[0].private_key_file: file " + big + " is larger than the limit of 65536 bytes (64 KiB)"},
		{name: "secret at the limit", config: bot("client_secret_file", "at-limit.secret")},
		{name: "config FIFO", path: configFIFO, want: configFIFO + ": not a regular file: a FIFO"},
		{name: "config /dev/zero", devZero: true, path: "/dev/zero", want: "/dev/zero: not a regular file: a character device"},
		{name: "config directory", path: subdir, want: subdir + ": not a regular file: a directory"},
		{name: "config too large", path: bigConfig, want: "file too large"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.devZero && !haveDevZero {
				t.Skip("no /dev/zero")
			}
			path := tt.path
			if path == "" {
				path = filepath.Join(dir, "kore"+string(rune('a'+i))+".yml")
				if err := os.WriteFile(path, []byte(tt.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := loadReleasingFIFOs(t, path, fifo, configFIFO)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error:\n%v", err)
				}
				if got := len(c.Bots[0].ClientSecret.Reveal()); got != MaxSecretFileSize {
					t.Errorf("secret of %d bytes, want %d", got, MaxSecretFileSize)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error does not contain %q:\n%v", tt.want, err)
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("the file's content leaked into the error:\n%v", err)
			}
		})
	}
}

func TestReadSecretFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "f")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSecretFile(fifo); !errors.Is(err, ErrNotRegularFile) {
		t.Errorf("FIFO: err = %v, want ErrNotRegularFile", err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, MaxSecretFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSecretFile(big); !errors.Is(err, ErrFileTooLarge) {
		t.Errorf("large file: err = %v, want ErrFileTooLarge", err)
	}
	if _, err := ReadSecretFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
}
