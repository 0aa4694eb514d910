# Issue 13's outside tests: IPC namespaces, users and isolation, against the kernel as the
# oracle (tests/ns/run.sh). Not in `make test` yet: most fail until the store model of
# issue 13 is built (docs/design.md).
#
#   make test-ns               build the shim, run every case (PASS/FAIL with differing lines)
#   make test-ns ONLY=users    only the cases whose name contains "users"
#   make test-ns-selftest      show each comparison can fail (native vs a broken native run)
#   tests/ns/run.sh --shared-store   the control: one world-writable MSGQ_STORE for everyone

.PHONY: test-ns test-ns-selftest

test-ns: deps
	$(CARGO) build --release -p libmsg-shim
	@tests/ns/run.sh $(ONLY)

test-ns-selftest: deps
	$(CARGO) build --release -p libmsg-shim
	@tests/ns/run.sh --selftest $(ONLY)
