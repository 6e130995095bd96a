package deploy_test

import (
	"os"
	"regexp"
	"testing"
)

// TestCIRunsTheREADMECommand checks that .ci/run runs exactly the README's
// test command, which now includes this module's tests.
func TestCIRunsTheREADMECommand(t *testing.T) {
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	ci, err := os.ReadFile("../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	inREADME := regexp.MustCompile("(?ms)^Run the tests.*?```sh\n([^\n]+)\n```").FindSubmatch(readme)
	inCI := regexp.MustCompile(`(?m)^# Keep this line identical to the README's "Run the tests" command\.\n(.+)$`).FindSubmatch(ci)
	if inREADME == nil || inCI == nil {
		t.Fatalf("test command not found: README %q, .ci/run %q", inREADME, inCI)
	}
	if string(inREADME[1]) != string(inCI[1]) {
		t.Errorf(".ci/run runs\n  %s\nthe README says\n  %s", inCI[1], inREADME[1])
	}
	if !regexp.MustCompile(`\(cd deploy && go vet \./\.\.\. && go test \./\.\.\.\)`).Match(inCI[1]) {
		t.Errorf(".ci/run does not run the deploy module's tests: %s", inCI[1])
	}
}
