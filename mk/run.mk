# `msgq run` (seccomp user notification, for static and raw-syscall programs): its tests.
# See docs/run.md.
#
#   make test-run            build, install the test programs' packages, run tests/run/run.sh
#   make test-run ONLY=go    run only the cases whose name contains "go"

.PHONY: test-run run-deps run-build

TEST_TARGETS += test-run

run-build:
	$(CARGO) build --release -p libmsg-shim -p msgq-cli

run-deps:
	@tests/run/deps.sh

test-run: run-build run-deps
	@tests/run/run.sh $(ONLY)
