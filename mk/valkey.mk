# msgq-valkey (the Valkey backend's client layer): its tests against real Valkey servers and a
# three-master cluster that the tests start themselves on loopback ports. tests/valkey/deps.sh
# unpacks the valkey debs (bookworm-backports) into /var/cache/msgq/valkey-<version>/ without
# installing any service.
#
#   make test-valkey

.PHONY: test-valkey valkey-deps

TEST_TARGETS += test-valkey

valkey-deps:
	@tests/valkey/deps.sh >/dev/null

test-valkey: valkey-deps
	MSGQ_VALKEY_BIN=$$(tests/valkey/deps.sh) $(CARGO) test --release -p msgq-valkey
