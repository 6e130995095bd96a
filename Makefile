# The test tiers (CONTRIBUTING.md, "Tests"). Every target is a thin wrapper
# of go commands, to copy into a shell without make ($$ in a recipe is $).

FUZZTIME ?= 10s

.PHONY: test-short test fuzz bench

# The fast loop: no binary built, no Prometheus or promtool started, no
# end-to-end test on a real clock (they skip under -short).
test-short:
	go test -short ./...
	cd deploy && go test -short ./...

# The README's test command, which .ci/run runs (deploy/cirun_test.go checks
# that this line is the same): format, vet, every test with -race, the fleet
# tier, the no-race tier and the deploy module.
test:
	gofmt -l . | (! grep .) && go vet ./... && go test -race ./... && KORE_FLEET=1 go test -race -run '^TestFleet$$' . && go test -run '^(TestHandlerAllocsIndependentOfSeries|TestSoak)$$' ./collector && (cd deploy && go vet ./... && go test ./...)

# Every fuzz target of .ci/run for FUZZTIME each (make fuzz FUZZTIME=5m).
# Unlike .ci/run, this does not excuse Go 1.26's spurious "context deadline
# exceeded" at the end of a clean run (go.dev/issue/75804).
fuzz:
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./collector/config
	go test -run '^$$' -fuzz '^FuzzDecodeStatus$$' -fuzztime $(FUZZTIME) ./kore
	go test -run '^$$' -fuzz '^FuzzDecodeJob$$' -fuzztime $(FUZZTIME) ./kore
	go test -run '^$$' -fuzz '^FuzzPublishScrape$$' -fuzztime $(FUZZTIME) ./collector
	go test -run '^$$' -fuzz '^FuzzEndpoints$$' -fuzztime $(FUZZTIME) .

# The benchmarks of docs/performance.md.
bench:
	go test -run '^$$' -bench 'Scrape|Publish|Memory' -benchmem -count 3 ./collector
	go test -run '^$$' -bench DecodeStatusPage -benchmem ./kore
