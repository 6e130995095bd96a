package config

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests should a goroutine outlive them, such
// as a FileGuard's read of a file that never answered.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
