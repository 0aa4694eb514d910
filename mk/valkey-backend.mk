# Issue 17: the Valkey backend (msgq-valkey; docs/cluster.md), on servers the tests start
# themselves on loopback (tests/valkey/deps.sh unpacks Valkey; no service is installed).
#
#   make test-conformance-valkey  the differential conformance suite against the backend:
#                                 every case must match the kernel, but for the known
#                                 differences the cases declare (the engine's, and the
#                                 backend's own)
#   make test-valkey-clients      Perl, Python and PHP under the shim on the backend, each
#                                 against the same program on the kernel's queues; two
#                                 programs on different seeds of a three-master cluster
TEST_TARGETS += test-conformance-valkey test-valkey-clients
.PHONY: test-conformance-valkey test-valkey-clients
test-conformance-valkey: deps
	@tests/valkey/deps.sh >/dev/null
	$(CARGO) run --release -p msgq-tests --bin conformance -- --backend valkey

test-valkey-clients: deps
	@tests/valkey/deps.sh >/dev/null
	@tests/shim/deps.sh
	$(CARGO) build --release -p libmsg-shim
	$(CARGO) test --release -p msgq-valkey --test clients -- --include-ignored
