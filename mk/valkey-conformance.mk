# Issue 17: the differential conformance suite against the Valkey backend (msgq-valkey),
# on a server the suite starts itself on loopback (tests/valkey/deps.sh unpacks Valkey; no
# service is installed). Every case must match the kernel, but for the known differences
# the cases declare (the engine's, and the Valkey backend's own: docs/cluster.md).
TEST_TARGETS += test-conformance-valkey
.PHONY: test-conformance-valkey
test-conformance-valkey: deps
	@tests/valkey/deps.sh >/dev/null
	$(CARGO) run --release -p msgq-tests --bin conformance -- --backend valkey
