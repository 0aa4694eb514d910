# libmsg-shim (LD_PRELOAD) and the msgq command: their tests. See docs/shim.md.
#
#   make test-shim        build, install the test programs' packages, run tests/shim/run.sh
#   make test-shim ONLY=perl   run only the cases whose name contains "perl"

.PHONY: test-shim shim-deps shim-build

TEST_TARGETS += test-shim

shim-deps:
	@tests/shim/deps.sh

shim-build:
	$(CARGO) build --release -p libmsg-shim -p msgq-cli

test-shim: shim-build shim-deps
	@tests/shim/run.sh $(ONLY)
