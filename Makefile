# msgq: documented entry points. Each feature area adds its own targets in mk/*.mk.
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: all deps build test test-unit test-conformance demo lint fmt clean
all: build

# Install what the build needs on a fresh machine (idempotent, quiet when present).
deps:
	@scripts/ensure-deps.sh

build: deps
	$(CARGO) build --workspace --release

# The whole test suite. Feature areas append to TEST_TARGETS in mk/*.mk.
TEST_TARGETS := lint test-unit test-conformance
-include mk/*.mk

test: deps
	@set -o pipefail; failed=0; for t in $(TEST_TARGETS); do \
	  echo "=== make $$t"; $(MAKE) --no-print-directory $$t || { echo "*** $$t FAILED"; failed=1; }; \
	done; exit $$failed

test-unit: deps
	$(CARGO) test --workspace --exclude msgq-tests --release
	$(CARGO) test -p msgq-user --features fault-injection --release --test crash_points --test crash_points_waiters --test signal_phases --test regressions -- --nocapture

test-conformance: deps
	$(CARGO) run --release -p msgq-tests --bin conformance

# The main job: two processes exchanging messages through the userspace engine.
demo: build
	@scripts/demo.sh

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --release -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
