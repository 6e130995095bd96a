package koretest

import (
	"sort"
	"time"
)

// Rate-limit texts (kore/API.md §6).
const (
	msgRateLimit = "Rate limit for this API has been reached. Please try again after some time."
	msgPerMinute = "You've exceeded the per-minute rate limit. Please wait for sometime before retrying."
	msgHourly    = "You've exceeded the hourly rate limit. Please wait for sometime before retrying."
)

// window remembers the times of accepted calls for rolling one-minute and
// one-hour limits. Assumption: a call refused with 429 does not take a slot,
// so Retry-After is exactly the time until the oldest counted call leaves
// its window.
type window struct {
	times []time.Time // ascending (a ManualClock set backwards is tolerated)
}

// check reports whether one more call at now stays within perMinute and
// perHour (a limit ≤ 0 is no limit). If not, it returns the message and how
// long until a slot frees.
func (w *window) check(now time.Time, perMinute, perHour int) (ok bool, msg string, retry time.Duration) {
	w.prune(now)
	if perHour > 0 && len(w.times) >= perHour {
		ok, msg, retry = false, msgHourly, w.times[len(w.times)-perHour].Add(time.Hour).Sub(now)
	}
	if perMinute > 0 {
		cut := now.Add(-time.Minute)
		i := sort.Search(len(w.times), func(i int) bool { return w.times[i].After(cut) })
		if n := len(w.times) - i; n >= perMinute {
			r := w.times[len(w.times)-perMinute].Add(time.Minute).Sub(now)
			if msg == "" {
				msg = msgPerMinute
			}
			ok, retry = false, max(retry, r)
		}
	}
	if msg == "" {
		return true, "", 0
	}
	return ok, msg, retry
}

// add records a call at now.
func (w *window) add(now time.Time) { w.times = append(w.times, now) }

// prune forgets calls that left the hour window.
func (w *window) prune(now time.Time) {
	cut := now.Add(-time.Hour)
	i := sort.Search(len(w.times), func(i int) bool { return w.times[i].After(cut) })
	if i > 0 {
		w.times = append(w.times[:0], w.times[i:]...)
	}
}

// retryAfterSeconds renders d as a Retry-After value: whole seconds,
// rounded up, at least 1.
func retryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
