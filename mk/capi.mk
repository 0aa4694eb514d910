# msgq's C API: `make install` puts the library (the same one LD_PRELOAD uses), msgq.h, the
# pkg-config file and the man page under $(DESTDIR)$(PREFIX); `make test-capi` installs into
# target/capi/root, builds tests/capi/scenarios.c with pkg-config as a user would, and runs
# it on the userspace backend (default store and a store file) and on native (EOPNOTSUPP).
#   make install PREFIX=/usr/local DESTDIR=
#   make test-capi
.PHONY: install test-capi
PREFIX ?= /usr/local
MSGQ_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

install: deps
	$(CARGO) build --release -p libmsg-shim
	install -D -m 0755 target/release/libmsg_shim.so $(DESTDIR)$(PREFIX)/lib/libmsgq.so
	install -D -m 0644 libmsg-shim/include/msgq.h $(DESTDIR)$(PREFIX)/include/msgq.h
	install -D -m 0644 docs/man/msgq.3 $(DESTDIR)$(PREFIX)/share/man/man3/msgq.3
	mkdir -p $(DESTDIR)$(PREFIX)/lib/pkgconfig
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(MSGQ_VERSION)|' libmsg-shim/msgq.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/msgq.pc

test-capi: deps
	@$(MAKE) --no-print-directory install PREFIX=$(CURDIR)/target/capi/root DESTDIR= >/dev/null
	@tests/capi/run.sh $(CURDIR)/target/capi/root

TEST_TARGETS += test-capi

# The same scenarios on the kernel module, in the guest (tests/capi/guest_run.sh).
VM_CAPI_OUT = $(CURDIR)/target/capi/out
VM_TEST_BINS += $(CURDIR)/tests/capi/guest_run.sh,$(VM_CAPI_OUT)/scenarios,$(CURDIR)/tests/capi/scenarios.expected
VM_TEST_DEPS += capi-build
# The program (its library comes along: ldd names it through the rpath) and the transcript.
vm-test: export VM_PACK += $(VM_CAPI_OUT)/scenarios $(CURDIR)/tests/capi/scenarios.expected

.PHONY: capi-build
capi-build: deps
	@$(MAKE) --no-print-directory install PREFIX=$(CURDIR)/target/capi/root DESTDIR= >/dev/null
	@tests/capi/run.sh $(CURDIR)/target/capi/root build
