# Issue 13's outside tests: IPC namespaces, users and isolation, against the kernel as the
# oracle (tests/ns/run.sh), on the default store (anchored: docs/design.md). Part of
# `make test`. Cases that fail for a documented difference are listed in
# tests/ns/known-differences (reported as KNOWN, with the difference shown).
#
#   make test-ns               build the shim, run every case (PASS/FAIL with differing lines)
#   make test-ns ONLY=users    only the cases whose name contains "users"
#   make test-ns-selftest      show each comparison can fail (native vs a broken native run)
#   tests/ns/run.sh --shared-store   the control: one world-writable MSGQ_STORE for everyone

.PHONY: test-ns test-ns-selftest

TEST_TARGETS += test-ns

test-ns: deps
	$(CARGO) build --release -p libmsg-shim
	@tests/ns/run.sh $(ONLY)

test-ns-selftest: deps
	$(CARGO) build --release -p libmsg-shim
	@tests/ns/run.sh --selftest $(ONLY)
