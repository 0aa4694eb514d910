# Loom model checking of the engine's synchronisation (issue 6): the store lock, waiter
# registration, hand-off, sender wake-ups, removal, interruption and crash recovery, with
# the engine's own code built with --cfg loom. See docs/loom.md for what each model proves.
#
#   make loom        every model, at most LOOM_PREEMPTIONS (default 2) preemptions per
#                    execution: ~1 min of checking on 2 cores, plus ~2 min for the first
#                    build. Part of `make test`.
#   make loom-deep   every model without a preemption bound (exhaustive: hours; see docs/loom.md
#                    for the time it takes).
#
# LOOM_ARGS passes test-harness arguments, e.g. make loom LOOM_ARGS=removal
# The loom build has its own target directory, so it never invalidates the normal build.

LOOM_PREEMPTIONS ?= 2
LOOM_ARGS ?=
LOOM_CARGO = RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=$(CURDIR)/target/loom $(CARGO)

TEST_TARGETS += loom

.PHONY: loom loom-deep

loom: deps
	LOOM_MAX_PREEMPTIONS=$(LOOM_PREEMPTIONS) $(LOOM_CARGO) test -p msgq-user --release --test loom -- $(LOOM_ARGS)

loom-deep: deps
	env -u LOOM_MAX_PREEMPTIONS $(LOOM_CARGO) test -p msgq-user --release --test loom -- $(LOOM_ARGS)
