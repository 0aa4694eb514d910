# msgq's test VM: a Rust-enabled Linux 7.3 kernel (cached outside the work tree), the
# out-of-tree module msgq-kmod, and a QEMU (TCG) guest that runs test binaries. See
# docs/test-vm.md.
#
#   make kernel         build/find the test kernel (base variant)
#   make kernel-debug   the same with lockdep, DEBUG_ATOMIC_SLEEP, KASAN, kmemleak
#   make kmod           build msgq-kmod/msgq.ko against the kernel (KERNEL_VARIANT=base|debug)
#   make vm-test        boot the guest, run $(VM_TEST_BINS) as root and as uid 1000
#   make vm-test-debug  vm-test on the debug kernel (not part of `make test`)
#   make vm-run CMD='cat /proc/sysvipc/msg'   run a command in the guest
#
# Add a guest test program: append its host path (optionally ",arg,arg") to VM_TEST_BINS, e.g.
# in a feature's mk/*.mk file:  VM_TEST_BINS += target/release/conformance,--native
# and make sure it is built by a prerequisite of vm-test (VM_TEST_DEPS += that-target).

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

TEST_TARGETS += vm-test

.PHONY: kernel kernel-debug kmod vm-helpers vm-test vm-test-debug vm-run

kernel:
	@vm/kernel.sh build base >/dev/null

kernel-debug:
	@vm/kernel.sh build debug >/dev/null

# The kernel tree of the chosen variant (builds it when not cached).
vm_kdir = $$(vm/kernel.sh build $(KERNEL_VARIANT))

kmod:
	@set -e; kdir=$(vm_kdir); eval "$$(vm/kernel.sh env)"; \
	  echo "kmod: building msgq-kmod against $$kdir"; \
	  if [ "$$(cat msgq-kmod/.kdir 2>/dev/null)" != "$$kdir" ]; then \
	    $(MAKE) --no-print-directory -s -C "$$kdir" M=$(CURDIR)/msgq-kmod clean; echo "$$kdir" > msgq-kmod/.kdir; fi; \
	  $(MAKE) --no-print-directory -C "$$kdir" M=$(CURDIR)/msgq-kmod modules; \
	  mkdir -p $(VM_BUILD); cp msgq-kmod/msgq.ko $(VM_BUILD)/msgq-$(KERNEL_VARIANT).ko

vm-helpers: $(VM_BUILD)/runas $(VM_SMOKE)

$(VM_BUILD)/runas: vm/runas.rs
	@mkdir -p $(VM_BUILD) && $(VM_HOST_RUSTC) -o $@ $<

$(VM_SMOKE): vm/smoke.rs
	@mkdir -p $(VM_BUILD) && $(VM_HOST_RUSTC) -o $@ $<

vm-test: kmod vm-helpers $(VM_TEST_DEPS)
	@vm/run.sh test "$(vm_kdir)" $(VM_BUILD) $(VM_BUILD)/msgq-$(KERNEL_VARIANT).ko $(VM_TEST_BINS)

vm-test-debug:
	@$(MAKE) --no-print-directory vm-test KERNEL_VARIANT=debug

vm-run: kmod vm-helpers
	@vm/run.sh run "$(vm_kdir)" $(VM_BUILD) $(VM_BUILD)/msgq-$(KERNEL_VARIANT).ko '$(CMD)'
