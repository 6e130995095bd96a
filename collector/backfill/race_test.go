//go:build race

package backfill

// raceEnabled is set under the race detector, whose instrumentation
// multiplies the heap and the time of the memory test.
const raceEnabled = true
