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
	// Start is called once with the plan's points and those already done.
	Start(total, done int)
	// Add is called for every point run: finished, or failed.
	Add(failed bool)
	// Finish is called once at the end.
	Finish()
}

type nopProgress struct{}

func (nopProgress) Start(int, int) {}
func (nopProgress) Add(bool)       {}
func (nopProgress) Finish()        {}

// Bar is a Progress for a terminal: a progress bar of points done of total,
// with the rate, the time left and the failures so far.
type Bar struct {
	w      io.Writer
	mu     sync.Mutex
	bar    *progressbar.ProgressBar
	failed int
}

// NewBar returns a Bar drawn on w (a terminal).
func NewBar(w io.Writer) *Bar { return &Bar{w: w} }

// Start implements Progress.
func (b *Bar) Start(total, done int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionSetDescription("backfill"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("points"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionFullWidth(),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(b.w) }),
	)
	_ = b.bar.Set(done) // writes to a terminal; an error only loses a frame
}

// Add implements Progress.
func (b *Bar) Add(failed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if failed {
		b.failed++
		b.bar.Describe(fmt.Sprintf("backfill (%d failed)", b.failed))
	}
	_ = b.bar.Add(1)
}

// Finish implements Progress.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil && !b.bar.IsFinished() {
		_ = b.bar.Exit()
		fmt.Fprintln(b.w)
	}
}

// LogProgress is a Progress for logs: a line every Every (default 5s)
// with points done of total, failures, the rate and the time left.
type LogProgress struct {
	Logger log.Logger
	Every  time.Duration

	mu                         sync.Mutex
	total, done, failed, start int
	began                      time.Time
	stop                       chan struct{}
	stopped                    chan struct{}
}

// Start implements Progress.
func (p *LogProgress) Start(total, done int) {
	p.mu.Lock()
	p.total, p.done, p.start, p.began = total, done, done, time.Now()
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
	elapsed := time.Since(p.began)
	keys := []any{"msg", "backfill progress", "points_done", p.done, "points_total", p.total, "failed", p.failed}
	if ran > 0 && elapsed > 0 {
		rate := float64(ran) / elapsed.Seconds()
		left := time.Duration(float64(p.total-p.done-p.failed) / rate * float64(time.Second))
		keys = append(keys, "points_per_second", fmt.Sprintf("%.2f", rate), "eta", left.Round(time.Second))
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
