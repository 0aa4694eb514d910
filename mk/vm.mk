# msgq's test VM: a Rust-enabled Linux 7.3 kernel (cached outside the work tree), the
# out-of-tree module msgq-kmod, and a QEMU (TCG) guest that runs test binaries. See
# docs/test-vm.md.
#
#   make kernel         build/find the test kernel (base variant)
#   make kernel-debug   the same with lockdep, DEBUG_ATOMIC_SLEEP, kmemleak
#   make kernel-kasan   debug + KASAN, built with clang (LLVM=-19; gcc cannot have Rust and KASAN)
#   make kmod           build target/vm/msgq-$(KERNEL_VARIANT).ko against the kernel (KERNEL_VARIANT=base|debug|kasan)
#   make vm-test        boot the guest, run $(VM_TEST_BINS) as root and as uid 1000
#   make vm-test-debug  vm-test on the debug kernel (this is what `make test` runs)
#   make vm-test-kasan  vm-test on the KASAN kernel (not part of `make test`)
#   make vm-run CMD='cat /proc/sysvipc/msg'   run a command in the guest
#
# Add a guest test program: append its host path to VM_TEST_BINS, optionally followed by
# ",arg,arg" and optionally prefixed "root:" (run only as root; default: as root and as uid
# 1000), e.g. in a feature's mk/*.mk file:
#   VM_TEST_BINS += root:$(CURDIR)/target/vm/cargo/x86_64-unknown-linux-gnu/release/conformance,--backend,native
#   VM_TEST_DEPS += vm-conformance        # a target that builds it (static: crt-static)
# Each program prints lines and finally `N passed, N failed`; exit status non-zero = failure.

MSGQ_CACHE ?= /var/cache/msgq
export MSGQ_CACHE
KERNEL_VARIANT ?= base
VM_BUILD := $(CURDIR)/target/vm
VM_HOST_RUSTC := rustc --edition 2021 -O -C target-feature=+crt-static
VM_SMOKE := $(VM_BUILD)/msgq-vm-smoke
VM_TEST_BINS += $(VM_SMOKE)
VM_TEST_DEPS +=
VM_TIMEOUT ?= 600
export VM_TIMEOUT

# `make test` runs the guest tests on the debug kernel (lockdep, DEBUG_ATOMIC_SLEEP,
# kmemleak): every run is a full pass with the kernel's own checkers, and a fresh machine
# builds one kernel, not two. The base kernel serves `make vm-test` and the benchmarks.
TEST_TARGETS += vm-test-debug

# Opt-in for now: `make vm-test VM_CONFORMANCE=1` also runs the differential conformance suite
# against the guest kernel's native queues (static build in its own target dir). To make it
# the default, set VM_CONFORMANCE ?= 1 here.
VM_CONFORMANCE ?= 0
VM_CONFORMANCE_BIN := $(VM_BUILD)/cargo/x86_64-unknown-linux-gnu/release/conformance
ifeq ($(VM_CONFORMANCE),1)
VM_TEST_BINS += root:$(VM_CONFORMANCE_BIN),--backend,native
VM_TEST_DEPS += vm-conformance
endif

.PHONY: kernel kernel-debug kernel-kasan kmod vm-helpers vm-conformance vm-test vm-test-debug vm-test-kasan vm-run

kernel:
	@vm/kernel.sh build base >/dev/null

kernel-debug:
	@vm/kernel.sh build debug >/dev/null

kernel-kasan:
	@vm/kernel.sh build kasan >/dev/null

# The kernel tree of the chosen variant (builds it when not cached).
vm_kdir = $$(vm/kernel.sh build $(KERNEL_VARIANT))

# Each variant builds in its own directory, target/vm/kmod-$(KERNEL_VARIANT)/msgq-kmod: links to
# the sources (and ../msgq-core, which msgq_main.rs includes with #[path]), so builds against two
# kernels can run at once and never clean each other's objects.
KMOD_DIR = $(VM_BUILD)/kmod-$(KERNEL_VARIANT)

kmod:
	@set -e; kdir=$(vm_kdir); eval "$$(vm/kernel.sh env)"; \
	  echo "kmod: building msgq-kmod against $$kdir in $(KMOD_DIR)"; \
	  mkdir -p $(KMOD_DIR)/msgq-kmod; ln -sfn $(CURDIR)/msgq-core $(KMOD_DIR)/msgq-core; \
	  find $(KMOD_DIR)/msgq-kmod -maxdepth 1 -type l -delete; \
	  for f in msgq-kmod/*.rs msgq-kmod/*.c msgq-kmod/*.h msgq-kmod/Kbuild msgq-kmod/Makefile; do ln -sf $(CURDIR)/$$f $(KMOD_DIR)/msgq-kmod/; done; \
	  if [ "$$(cat $(KMOD_DIR)/.kdir 2>/dev/null)" != "$$kdir" ]; then \
	    $(MAKE) --no-print-directory -s -C "$$kdir" M=$(KMOD_DIR)/msgq-kmod clean; echo "$$kdir" > $(KMOD_DIR)/.kdir; fi; \
	  $(MAKE) --no-print-directory -C "$$kdir" M=$(KMOD_DIR)/msgq-kmod $$(vm/kernel.sh makeargs $(KERNEL_VARIANT)) modules; \
	  cp $(KMOD_DIR)/msgq-kmod/msgq.ko $(VM_BUILD)/msgq-$(KERNEL_VARIANT).ko

vm-helpers: $(VM_BUILD)/runas $(VM_SMOKE)

$(VM_BUILD)/runas: vm/runas.rs
	@mkdir -p $(VM_BUILD) && $(VM_HOST_RUSTC) -o $@ $<

$(VM_SMOKE): vm/smoke.rs
	@mkdir -p $(VM_BUILD) && $(VM_HOST_RUSTC) -o $@ $<

# --target keeps crt-static away from build scripts and proc macros.
vm-conformance:
	RUSTFLAGS='-C target-feature=+crt-static' $(CARGO) build --release -p msgq-tests --bin conformance \
	  --target x86_64-unknown-linux-gnu --target-dir $(VM_BUILD)/cargo

vm-test: kmod vm-helpers $(VM_TEST_DEPS)
	@vm/run.sh test "$(vm_kdir)" $(VM_BUILD) $(VM_BUILD)/msgq-$(KERNEL_VARIANT).ko $(VM_TEST_BINS)

vm-test-debug:
	@$(MAKE) --no-print-directory vm-test KERNEL_VARIANT=debug

vm-test-kasan:
	@$(MAKE) --no-print-directory vm-test KERNEL_VARIANT=kasan VM_MEM=1024

vm-run: kmod vm-helpers
	@vm/run.sh run "$(vm_kdir)" $(VM_BUILD) $(VM_BUILD)/msgq-$(KERNEL_VARIANT).ko '$(CMD)'
