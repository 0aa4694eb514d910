# Benchmarks (issue 7): msgq against native System V IPC, side by side. See docs/benchmarks.md.
#
#   make bench         run every benchmark for real: rows 0-6, 8, 9 and 10 (the Valkey backend,
#                      benches/benches/valkey.rs, about a minute) on the host (~5-8 minutes on
#                      2 vCPUs), then row 7 in the test VM (mk/bench-guest.mk; about 4 minutes,
#                      plus the kernel build when not cached), and write bench-report/report.md;
#                      criterion's HTML is target/criterion/report/
#   make bench-smoke   run each benchmark once (criterion --test), for `make test`
#   make bench-report  rewrite bench-report/report.md from the last results
#
# BENCH_ARGS passes criterion options, e.g. make bench BENCH_ARGS='4-typed' to run one group.
# BENCH_GUEST=0 leaves out row 7 (the report keeps the last guest results).

BENCH_ARGS ?=
BENCH_GUEST ?= 1

TEST_TARGETS += bench-smoke

.PHONY: bench bench-smoke bench-report

bench: deps
	$(CARGO) bench -p msgq-benches --bench ipc -- $(BENCH_ARGS)
	@tests/valkey/deps.sh >/dev/null
	$(CARGO) bench -p msgq-benches --bench valkey -- $(BENCH_ARGS)
ifeq ($(BENCH_GUEST),1)
	$(MAKE) --no-print-directory bench-guest-run
endif
	$(MAKE) --no-print-directory bench-report

bench-report:
	$(CARGO) run --release -q -p msgq-benches --bin bench-report

bench-smoke: deps
	$(CARGO) bench -p msgq-benches --bench ipc -- --test
	@tests/valkey/deps.sh >/dev/null
	$(CARGO) bench -p msgq-benches --bench valkey -- --test
