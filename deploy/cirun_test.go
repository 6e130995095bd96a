package deploy_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestCIRunsTheREADMECommand checks that .ci/run and make test run exactly
// the README's test command, which includes this module's tests and the
// fleet tier.
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
	// TestFleet is opt-in: the command asks for it.
	if !strings.Contains(string(inCI[1]), "KORE_FLEET=1 go test -race -run '^TestFleet$' .") {
		t.Errorf(".ci/run does not run the fleet tier (KORE_FLEET=1): %s", inCI[1])
	}
	// make test runs the same line (a recipe writes $ as $$).
	makefile, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	inMake := regexp.MustCompile("(?m)^test:\n\t(.+)$").FindSubmatch(makefile)
	if inMake == nil {
		t.Fatal("Makefile: no one-line recipe of test")
	}
	if want := strings.ReplaceAll(string(inREADME[1]), "$", "$$"); string(inMake[1]) != want {
		t.Errorf("Makefile's test recipe is\n  %s\nthe README's command makes it\n  %s", inMake[1], want)
	}
}
