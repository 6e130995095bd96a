//go:build linux || darwin || freebsd || netbsd || openbsd

package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

// TestReloadRefusesSecretFilesThatAreNotRegular: a reload whose secret file
// is /dev/zero or a FIFO is refused with an error naming the field, and the
// running exporter keeps serving (it neither dies of memory nor blocks).
func TestReloadRefusesSecretFilesThatAreNotRegular(t *testing.T) {
	sim := koretest.NewServer(koretest.WithJobDuration(100 * time.Millisecond))
	defer sim.Close()
	bots := koretest.DemoBots(2, 13)
	for _, b := range bots {
		sim.AddBot(b)
	}
	dir := t.TempDir()
	path := writeConfig(t, dir, sim.URL, bots)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "secret.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	e := startExporter(t, "--config.file="+path, "--web.enable-lifecycle")
	deadline := time.Now().Add(10 * time.Second)
	for code, _ := e.get("/-/healthy"); code != http.StatusOK; code, _ = e.get("/-/healthy") {
		if time.Now().After(deadline) {
			t.Fatalf("/-/healthy: HTTP %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Should a reload block, the client gives up rather than the test hanging.
	client := &http.Client{Timeout: 20 * time.Second}
	for _, file := range []string{"/dev/zero", fifo} {
		if _, err := os.Stat(file); err != nil {
			t.Logf("skipping %s: %v", file, err)
			continue
		}
		bad := strings.Replace(string(good), "client_secret_file: b0.secret", "client_secret_file: "+file, 1)
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		resp, err := client.Post(e.base+"/-/reload", "text/plain", nil)
		if err != nil {
			t.Fatalf("reload with client_secret_file %s: %v", file, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := "bots[0].client_secret_file: file " + file + " is not a regular file"
		if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), want) {
			t.Errorf("reload with client_secret_file %s: HTTP %d %q, want 500 containing %q", file, resp.StatusCode, body, want)
		}
		if code, _ := e.get("/-/healthy"); code != http.StatusOK {
			t.Errorf("after the refused reload of %s: /-/healthy HTTP %d", file, code)
		}
	}
}
