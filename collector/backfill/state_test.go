//go:build linux || darwin || freebsd || netbsd || openbsd

package backfill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-kit/log"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

// diskFull is a state file writer that fails as a full disk does: once
// armed, its next write writes half its bytes and fails with ENOSPC, and
// every later one fails without writing. at is called at the first
// failure.
type diskFull struct {
	mu     sync.Mutex
	f      *os.File
	after  int // writes that succeed before the failure
	failed bool
	at     func()
}

func (d *diskFull) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.failed:
		return 0, syscall.ENOSPC
	case d.after > 0:
		d.after--
		return d.f.Write(p)
	}
	d.failed = true
	n, _ := d.f.Write(p[:len(p)/2])
	if d.at != nil {
		d.at()
	}
	return n, syscall.ENOSPC
}

// TestStateWriteFailureStopsRun: when the state file cannot be written (a
// full disk: a record written in part, then ENOSPC), the run stops at
// once: no report is submitted after the failure, the reports in flight
// are canceled, and Run returns the state's error. The file keeps every
// whole record: a rerun resumes from them, and its first record starts on
// a line of its own after the cut one.
func TestStateWriteFailureStopsRun(t *testing.T) {
	for _, jobs := range []int{1, 6} {
		t.Run(fmt.Sprintf("max_concurrent_jobs=%d", jobs), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, 2)
				e.cfg.Limits.MaxConcurrentJobs = jobs
				plan := e.plan(t, 12*time.Hour, time.Hour)
				total := len(plan.Points())
				path := filepath.Join(t.TempDir(), "out.om.state")
				state, err := OpenState(path, nil)
				if err != nil {
					t.Fatal(err)
				}
				submits := func() (n int) {
					for _, b := range e.bots {
						n += e.sim.Stats(b.ID).Submits
					}
					return n
				}
				atFailure := -1
				state.w = &diskFull{f: state.f, after: 5, at: func() { atFailure = submits() }}
				res, err := Run(t.Context(), plan, RunOptions{NewClient: e.clients, State: state})
				if err == nil || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "write state file "+path) {
					t.Fatalf("Run: %v; want the state file's error", err)
				}
				synctest.Wait()
				after := submits() - atFailure
				t.Logf("max_concurrent_jobs %d: %d of %d points done, %d reports started, %d submits after the state write failed", jobs, res.Done, total, res.Reports, after)
				// With one slot no report can start while a record is
				// written. With more, a report of another worker may be
				// starting at the very moment of the failed write (its
				// check came first); none starts after Run knows of it.
				if limit := min(jobs, len(e.bots)*reportsPerBot) - 1; after > limit {
					t.Errorf("%d reports submitted after the state write failed, want at most %d", after, limit)
				}
				if res.Done != 5 || res.Reports > 5+jobs {
					t.Errorf("done %d, reports %d: want 5 done and at most the %d in flight more", res.Done, res.Reports, jobs)
				}
				if err := state.Close(); err != nil {
					t.Fatal(err)
				}

				// The rerun keeps the 5 whole records, drops the cut one and
				// runs the rest.
				state, err = OpenState(path, nil)
				if err != nil {
					t.Fatalf("reopen after the failure: %v", err)
				}
				if state.Len() != 5 {
					t.Fatalf("%d points kept, want the 5 whole records", state.Len())
				}
				res, out := e.run(t, t.Context(), plan, state, nil)
				if err := state.Close(); err != nil {
					t.Fatal(err)
				}
				if res.Err() != nil || res.Resumed != 5 || res.Done != total-5 {
					t.Fatalf("rerun: %+v, %v", res, res.Err())
				}
				_, want := e.run(t, t.Context(), plan, NewMemoryState(), nil)
				if !bytes.Equal(out, want) {
					t.Fatal("the resumed output differs from an uninterrupted run's")
				}
				state, err = OpenState(path, nil)
				if err != nil || state.Len() != total {
					t.Fatalf("reopen after the rerun: %d points, %v; want %d", state.Len(), err, total)
				}
				state.Close()
			})
		})
	}
}

// TestStateKeepsWholeRecordsAroundCuts cuts a record short at every byte
// position (a write that stopped there, followed by the next run's
// records) and checks that reading the file drops only the cut record,
// wherever it is, and keeps every whole one before and after it.
func TestStateKeepsWholeRecordsAroundCuts(t *testing.T) {
	t.Parallel()
	rows := []kore.TaskRow{{TaskName: "Book flight", TaskType: "dialog", Status: "success", TotalExecution: 3, TotalSession: 2, SelfServiceSessions: 1}}
	key := func(i int) pointKey { return pointKey{"bot0", "1h", int64(i) * 3600_000, "0123456789abcdef"} }
	cut, err := encodeRecord(key(99), rows)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for n := 0; n < len(cut); n++ {
		path := filepath.Join(dir, fmt.Sprintf("s%d.state", n))
		s, err := OpenState(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if err := s.add(key(i), rows); err != nil {
				t.Fatal(err)
			}
		}
		// The cut record: n of its bytes reach the file.
		s.w = &diskFull{f: s.f}
		s.f.Write(cut[:n])
		s.w = s.f
		s.fresh = true // what add sets after a failed write
		for i := 3; i < 6; i++ {
			if err := s.add(key(i), rows); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		s, err = OpenState(path, nil)
		if err != nil {
			t.Fatalf("cut after %d bytes: %v", n, err)
		}
		for i := range 6 {
			got, ok, err := s.get(key(i))
			if !ok || err != nil || len(got) != 1 || got[0] != rows[0] {
				t.Fatalf("cut after %d bytes: record %d: %v, %v, %v", n, i, got, ok, err)
			}
		}
		want := 6
		if n == len(cut)-1 {
			want = 7 // only the newline is missing: the record is whole
		}
		if s.Len() != want {
			t.Fatalf("cut after %d bytes: %d records kept, want %d", n, s.Len(), want)
		}
		s.Close()
	}
}

// TestStateFileChecks: the state file gets the checks of a secret file:
// a FIFO, a device (through a symlink), a directory or a socket is
// refused without blocking or reading, and a file that is not a state
// file is refused and left as it was.
func TestStateFileChecks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.state")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.state")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.state")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tc := range []struct{ path, want string }{
		{fifo, "a FIFO"},
		{zero, "a character device"},
		{dir, "a directory"},
		{sock, "a socket"},
	} {
		done := make(chan error, 1)
		go func() {
			s, err := OpenState(tc.path, nil)
			if err == nil {
				s.Close()
			}
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second): // a bug: release the FIFO
			if w, werr := os.OpenFile(fifo, os.O_WRONLY, 0); werr == nil {
				w.Close()
			}
			err = <-done
			t.Errorf("%s: OpenState blocked", tc.path)
		}
		if !errors.Is(err, config.ErrNotRegularFile) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want not a regular file: %s", tc.path, err, tc.want)
		}
	}
	for _, content := range []string{"an unrelated line", "an unrelated line\n", "{\"v\":1}\n", "\n"} {
		path := filepath.Join(dir, "other.state")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := OpenState(path, nil)
		if err == nil {
			s.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "not a backfill state file") {
			t.Errorf("%q: %v; want not a backfill state file", content, err)
		}
		if got, _ := os.ReadFile(path); string(got) != content {
			t.Errorf("%q: the file now holds %q", content, got)
		}
	}
}

// TestStateDropsTamperedRecords: records whose rows fail the checks of a
// report's rows (a negative count, a count beyond int64, a task twice, a
// token in a label) are dropped even with a valid checksum, each logged
// with its line; their points run again and the output holds the
// simulator's numbers.
func TestStateDropsTamperedRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		plan := e.plan(t, 6*time.Hour, time.Hour)
		_, want := e.run(t, t.Context(), plan, NewMemoryState(), nil)
		path := filepath.Join(t.TempDir(), "out.om.state")
		state, err := OpenState(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.run(t, t.Context(), plan, state, nil)
		state.Close()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(string(data), "\n")
		const jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhcHBJZCI6ImNzLTEifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
		tamper := map[int]func(string) string{ // line number (1 is the header) → change of its JSON
			2: func(j string) string { return strings.Replace(j, `"sessions":`, `"sessions":-`, 1) },
			3: func(j string) string {
				return strings.Replace(j, `"executions":`, `"executions":9223372036854775808,"x":`, 1)
			},
			4: func(j string) string {
				i, k := strings.Index(j, `"rows":[`)+len(`"rows":[`), strings.Index(j, `},`)+1
				return j[:i] + j[i:k] + "," + j[i:]
			},
			5: func(j string) string { return strings.Replace(j, `"task_name":"`, `"task_name":"`+jwt, 1) },
		}
		for n, change := range tamper {
			j := change(strings.TrimSuffix(lines[n-1], "\n")[9:])
			lines[n-1] = fmt.Sprintf("%08x %s\n", crc32.ChecksumIEEE([]byte(j)), j)
		}
		if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		state, err = OpenState(path, log.NewLogfmtLogger(&logs))
		if err != nil {
			t.Fatal(err)
		}
		defer state.Close()
		for n, want := range map[int]string{2: "is negative", 3: "cannot unmarshal number 9223372036854775808", 4: "not as the exporter publishes them", 5: "not as the exporter publishes them"} {
			if !strings.Contains(logs.String(), fmt.Sprintf("line=%d err=", n)) || !strings.Contains(logs.String(), want) {
				t.Errorf("line %d: no warning with %q:\n%s", n, want, logs.String())
			}
		}
		if strings.Contains(logs.String(), "eyJ") {
			t.Errorf("the warnings quote a token:\n%s", logs.String())
		}
		total := len(plan.Points())
		if state.Len() != total-len(tamper) {
			t.Fatalf("%d points kept, want %d", state.Len(), total-len(tamper))
		}
		res, got := e.run(t, t.Context(), plan, state, nil)
		if res.Err() != nil || res.Done != len(tamper) {
			t.Fatalf("rerun: %+v", res)
		}
		if !bytes.Equal(got, want) {
			t.Fatal("the output after the tampered records were run again differs from an uninterrupted run's")
		}
	})
}

// refusingRunner answers every report with a 403.
type refusingRunner struct{}

func (refusingRunner) RunContainmentReport(context.Context, string, kore.ReportRequest) (*kore.Report, error) {
	return nil, &kore.APIError{Endpoint: kore.EndpointSubmit, Method: "POST", Path: "/x", StatusCode: 403, Message: "Forbidden"}
}

// TestRefusedBotIsStopped: a bot whose credentials the API refuses (401,
// and 403 from a fake client) is stopped at its first failing point: its
// other points are not tried, the other bots go on, and the result lists
// the bot with the cause.
func TestRefusedBotIsStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 3)
		bad := e.bots[0].ID
		e.sim.SetFault(bad, koretestBadCredentials())
		factory := func(b config.Bot, bs *kore.Budgets, obs kore.Observer) (report.Runner, error) {
			if b.Name == "bot2" {
				return refusingRunner{}, nil
			}
			return e.clients(b, bs, obs)
		}
		plan := e.plan(t, 24*time.Hour, time.Hour)
		perBot := len(plan.Points()) / 3
		res, err := Run(t.Context(), plan, RunOptions{NewClient: factory, State: NewMemoryState()})
		if err != nil {
			t.Fatal(err)
		}
		st := e.sim.Stats(bad)
		t.Logf("bot answering 401: %d requests, %d of its %d points failed, %d not tried", st.Requests, len(res.Failed)-countFailed(res, "bot2"), perBot, skippedOf(res, "bot0"))
		if len(res.Stopped) != 2 || res.Stopped[0].Bot != "bot0" || res.Stopped[1].Bot != "bot2" {
			t.Fatalf("stopped %v, want bot0 and bot2", res.Stopped)
		}
		if !strings.Contains(res.Stopped[0].Cause, "unauthorized") || !strings.Contains(res.Stopped[1].Cause, "api_error") || !strings.Contains(res.Stopped[1].Cause, "HTTP 403") {
			t.Errorf("causes %q, %q", res.Stopped[0].Cause, res.Stopped[1].Cause)
		}
		for _, s := range res.Stopped {
			failed := countFailed(res, s.Bot)
			if failed < 1 || failed > reportsPerBot || s.Skipped+failed != perBot {
				t.Errorf("%s: %d failed, %d not tried of %d: want one failure (or one per report in flight) and the rest not tried", s.Bot, failed, s.Skipped, perBot)
			}
		}
		if st.Requests > 2*reportsPerBot {
			t.Errorf("the bot answering 401 got %d requests", st.Requests)
		}
		if res.Done != perBot || !errors.Is(res.Err(), ErrFailedPoints) || !strings.Contains(res.Err().Error(), "2 bots stopped") {
			t.Errorf("done %d (want bot1's %d), err %v", res.Done, perBot, res.Err())
		}
	})
}

func countFailed(res *Result, bot string) (n int) {
	for _, f := range res.Failed {
		if f.Bot == bot {
			n++
		}
	}
	return n
}

func skippedOf(res *Result, bot string) int {
	for _, s := range res.Stopped {
		if s.Bot == bot {
			return s.Skipped
		}
	}
	return 0
}

// TestETACountsHungReports: while reports hang, the progress log shows
// how many run and how long the oldest has run, and its time left is never
// less than the time the hung reports may still take (their timeout).
func TestETACountsHungReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2)
		e.sim.SetFault(e.bots[0].ID, koretestHang())
		plan := e.plan(t, 2*time.Hour, time.Hour)
		var logs syncBuffer
		p := &LogProgress{Logger: log.NewLogfmtLogger(&logs), Every: 10 * time.Second}
		ctx, cancel := context.WithTimeout(t.Context(), 25*time.Second)
		defer cancel()
		if _, err := Run(ctx, plan, RunOptions{NewClient: e.clients, State: NewMemoryState(), Progress: p}); err != nil {
			t.Fatal(err)
		}
		// At 20s bot1's points are done (in 9s); bot0's first two reports
		// have hung for 20s of their 50s timeout: 30s at least are left.
		var line string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "oldest_running=20s") {
				line = l
			}
		}
		t.Logf("progress at 20s: %s", line)
		for _, want := range []string{"running=2", "oldest_running=20s", "eta=30s"} {
			if !strings.Contains(line, want) {
				t.Errorf("progress line lacks %s: %q\nlogs:\n%s", want, line, logs.String())
			}
		}
	})
	// The progress bar of a terminal says the same.
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2)
		e.sim.SetFault(e.bots[0].ID, koretestHang())
		plan := e.plan(t, 2*time.Hour, time.Hour)
		var screen syncBuffer
		ctx, cancel := context.WithTimeout(t.Context(), 21*time.Second)
		defer cancel()
		if _, err := Run(ctx, plan, RunOptions{NewClient: e.clients, State: NewMemoryState(), Progress: NewBar(&screen)}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(screen.String(), "2 running, oldest 20s, 30s left") {
			t.Errorf("the bar does not show the hung reports:\n%q", screen.String())
		}
	})
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
