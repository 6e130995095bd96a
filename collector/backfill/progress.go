package backfill

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/schollz/progressbar/v3"
)

// Progress is told how a run goes. Its methods are called from several
// goroutines.
type Progress interface {
	// Start is called once with the plan's points, those already done and
	// the reports in flight, which stay current until Finish.
	Start(total, done int, running *InFlight)
	// Add is called for every point run: finished, or failed.
	Add(failed bool)
	// Finish is called once at the end.
	Finish()
}

type nopProgress struct{}

func (nopProgress) Start(int, int, *InFlight) {}
func (nopProgress) Add(bool)                  {}
func (nopProgress) Finish()                   {}

// InFlight is the reports of a run in flight: when each must end at the
// latest (it started plus the bot's timeout, which bounds its retries and
// polls too), so that the time left counts the reports that hang.
type InFlight struct {
	mu      sync.Mutex
	next    int
	started map[int][2]time.Time // start, deadline
}

func (f *InFlight) begin(deadline time.Time) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started == nil {
		f.started = map[int][2]time.Time{}
	}
	f.next++
	f.started[f.next] = [2]time.Time{time.Now(), deadline}
	return f.next
}

func (f *InFlight) end(id int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.started, id)
}

// Running returns how many reports are in flight, when the oldest of them
// started and the latest time any of them may end.
func (f *InFlight) Running() (n int, oldest, deadline time.Time) {
	if f == nil {
		return 0, time.Time{}, time.Time{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.started {
		if oldest.IsZero() || s[0].Before(oldest) {
			oldest = s[0]
		}
		if s[1].After(deadline) {
			deadline = s[1]
		}
	}
	return len(f.started), oldest, deadline
}

// Bar is a Progress for a terminal: a progress bar of points done of total,
// with the rate, the failures so far, the reports in flight and the time
// left as LogProgress counts it, refreshed every second.
type Bar struct {
	w                  io.Writer
	mu                 sync.Mutex
	bar                *progressbar.ProgressBar
	total, done, start int
	failed             int
	began              time.Time
	running            *InFlight
	stop, stopped      chan struct{}
}

// NewBar returns a Bar drawn on w (a terminal).
func NewBar(w io.Writer) *Bar { return &Bar{w: w} }

// Start implements Progress.
func (b *Bar) Start(total, done int, running *InFlight) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total, b.done, b.start, b.began, b.running = total, done, done, time.Now(), running
	b.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionSetDescription("backfill"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("points"),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionFullWidth(),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(b.w) }),
	)
	_ = b.bar.Set(done) // writes to a terminal; an error only loses a frame
	b.stop, b.stopped = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(b.stopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				b.describe()
			}
		}
	}()
}

// describe sets the bar's description: failures, reports in flight and the
// time left.
func (b *Bar) describe() {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := "backfill"
	if b.failed > 0 {
		d += fmt.Sprintf(" (%d failed)", b.failed)
	}
	now := time.Now()
	n, oldest, deadline := b.running.Running()
	if n > 0 {
		d += fmt.Sprintf(" %d running, oldest %s", n, now.Sub(oldest).Round(time.Second))
	}
	if left, ok := timeLeft(b.total-b.done-b.failed, b.done-b.start, now.Sub(b.began), deadline.Sub(now)); ok {
		d += fmt.Sprintf(", %s left", left.Round(time.Second))
	}
	b.bar.Describe(d)
}

// Add implements Progress.
func (b *Bar) Add(failed bool) {
	b.mu.Lock()
	if failed {
		b.failed++
	} else {
		b.done++
	}
	_ = b.bar.Add(1)
	b.mu.Unlock()
	if failed {
		b.describe()
	}
}

// Finish implements Progress.
func (b *Bar) Finish() {
	b.mu.Lock()
	stop := b.stop
	b.mu.Unlock()
	if stop != nil {
		close(stop)
		<-b.stopped
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil && !b.bar.IsFinished() {
		_ = b.bar.Exit()
		fmt.Fprintln(b.w)
	}
}

// timeLeft estimates the time left of a run: the points left at the rate
// of the points ran in elapsed, and never less than inFlight, the time the
// reports in flight may still take. ok is false before any point ran.
func timeLeft(left, ran int, elapsed, inFlight time.Duration) (time.Duration, bool) {
	if ran <= 0 || elapsed <= 0 {
		return 0, false
	}
	rate := float64(ran) / elapsed.Seconds()
	return max(time.Duration(float64(left)/rate*float64(time.Second)), inFlight), true
}

// LogProgress is a Progress for logs: a line every Every (default 5s)
// with points done of total, failures, the reports in flight and how long
// the oldest has run, the rate and the time left. The time left is the
// points left at the rate so far, and never less than the time until the
// reports in flight must end: reports that hang hold it up.
type LogProgress struct {
	Logger log.Logger
	Every  time.Duration

	mu                         sync.Mutex
	total, done, failed, start int
	began                      time.Time
	running                    *InFlight
	stop                       chan struct{}
	stopped                    chan struct{}
}

// Start implements Progress.
func (p *LogProgress) Start(total, done int, running *InFlight) {
	p.mu.Lock()
	p.total, p.done, p.start, p.began, p.running = total, done, done, time.Now(), running
	p.stop, p.stopped = make(chan struct{}), make(chan struct{})
	every := p.Every
	if every <= 0 {
		every = 5 * time.Second
	}
	p.mu.Unlock()
	go func() {
		defer close(p.stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.log()
			}
		}
	}()
}

func (p *LogProgress) log() {
	p.mu.Lock()
	defer p.mu.Unlock()
	ran := p.done - p.start
	now := time.Now()
	elapsed := now.Sub(p.began)
	n, oldest, deadline := p.running.Running()
	keys := []any{"msg", "backfill progress", "points_done", p.done, "points_total", p.total, "failed", p.failed, "running", n}
	if n > 0 {
		keys = append(keys, "oldest_running", now.Sub(oldest).Round(time.Second))
	}
	if left, ok := timeLeft(p.total-p.done-p.failed, ran, elapsed, deadline.Sub(now)); ok {
		keys = append(keys, "points_per_second", fmt.Sprintf("%.2f", float64(ran)/elapsed.Seconds()), "eta", left.Round(time.Second))
	}
	level.Info(p.Logger).Log(keys...)
}

// Add implements Progress.
func (p *LogProgress) Add(failed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if failed {
		p.failed++
	} else {
		p.done++
	}
}

// Finish implements Progress.
func (p *LogProgress) Finish() {
	p.mu.Lock()
	stop := p.stop
	p.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-p.stopped
}
