package collector

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// slots hands out the job slots of limits.max_concurrent_jobs. When they
// are short, a freed slot goes to the waiting job whose data is the oldest:
// the one whose last run started longest ago, a job that never ran first,
// ties to the one that asked first. So while jobs queue, every waiting job
// runs once before any job runs twice, and none starves while others run
// every interval (the bound is in the docs/sizing.md).
//
// A buffered channel would hand slots out in the order jobs asked; with
// the scheduler skipping the ticks a late job missed, that let some jobs
// run every interval while others fell a whole interval behind again and
// again.
type slots struct {
	mu      sync.Mutex
	limit   int // slots in all
	used    int // slots handed out and not yet released
	waiting waitQueue
	seq     uint64
	// notify, when set, is told the number of slots and of waiting jobs
	// after every change (with mu held).
	notify func(limit, waiting int)
}

// newSlots returns n slots (at least one); notify, if not nil, is told the
// number of slots and of waiting jobs after every change.
func newSlots(n int, notify func(limit, waiting int)) *slots {
	s := &slots{limit: max(1, n), notify: notify}
	s.changed()
	return s
}

// changed tells notify the state. Call with s.mu held.
func (s *slots) changed() {
	if s.notify != nil {
		s.notify(s.limit, s.waiting.Len())
	}
}

// resize sets the number of slots to n (at least one). More slots go to
// waiting jobs at once; with fewer, running jobs keep theirs and the next
// ones wait until enough have been released.
func (s *slots) resize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit = max(1, n)
	s.handOut()
	s.changed()
}

// handOut gives free slots to the waiters with the oldest data. Call with
// s.mu held.
func (s *slots) handOut() {
	for s.used < s.limit && s.waiting.Len() > 0 {
		w := heap.Pop(&s.waiting).(*waiter)
		w.index = -1
		s.used++
		close(w.ready)
	}
}

// waiter is one job waiting for a slot.
type waiter struct {
	since time.Time // start of the job's last run; zero if it never ran
	seq   uint64    // order of asking, for ties
	ready chan struct{}
	index int // in the queue; -1 once handed a slot
}

// acquire waits for a slot for a job whose last run started at since (zero
// if it never ran), and returns ctx's error if ctx ends first (then it
// holds no slot). Every nil return is paired with one release.
func (s *slots) acquire(ctx context.Context, since time.Time) error {
	s.mu.Lock()
	if s.used < s.limit && s.waiting.Len() == 0 {
		s.used++
		s.mu.Unlock()
		return nil
	}
	s.seq++
	w := &waiter{since: since, seq: s.seq, ready: make(chan struct{})}
	heap.Push(&s.waiting, w)
	s.changed()
	s.mu.Unlock()

	select {
	case <-w.ready:
		if err := ctx.Err(); err != nil { // both at once: ctx wins
			s.release()
			return err
		}
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		granted := w.index < 0
		if !granted {
			heap.Remove(&s.waiting, w.index)
			s.changed()
		}
		s.mu.Unlock()
		if granted { // handed a slot just as ctx ended: pass it on
			s.release()
		}
		return ctx.Err()
	}
}

// release frees a slot: it goes to the waiter with the oldest data, if any.
func (s *slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used--
	s.handOut()
	s.changed()
}

// waitingJobs returns how many jobs wait for a slot.
func (s *slots) waitingJobs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting.Len()
}

// waitQueue is a heap of waiters, the oldest data first (container/heap).
type waitQueue []*waiter

func (q waitQueue) Len() int { return len(q) }

func (q waitQueue) Less(i, j int) bool {
	if !q[i].since.Equal(q[j].since) {
		return q[i].since.Before(q[j].since)
	}
	return q[i].seq < q[j].seq
}

func (q waitQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}

func (q *waitQueue) Push(x any) {
	w := x.(*waiter)
	w.index = len(*q)
	*q = append(*q, w)
}

func (q *waitQueue) Pop() any {
	old := *q
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return w
}
