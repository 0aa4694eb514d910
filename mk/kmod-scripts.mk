# The shim issue's unmodified Perl and Python programs (tests/shim/perl_msg.pl, py_a.py +
# py_b.py) on the kernel module in the guest, as root and as uid 1000, compared with the same
# programs on the guest kernel's own queues: tests/kmod/scripts_run.sh (docs/kmod.md).
# The interpreters, the files the programs load (found by running them once on the host:
# tests/kmod/scripts_pack.sh), the shim and the programs are packed into the initramfs at
# their host paths through vm/run.sh's VM_PACK. Part of `make vm-test` (docs/test-vm.md).

VM_SCRIPTS_PERL ?= /usr/bin/perl
VM_SCRIPTS_PY = $(CURDIR)/target/shim-test/venv/bin/python
VM_SCRIPTS_SO = $(CURDIR)/target/release/libmsg_shim.so
# Recursive (=): mk/vm.mk, included after this file, defines VM_BUILD.
VM_SCRIPTS_LIST = $(VM_BUILD)/scripts-pack.list
VM_TEST_BINS += $(CURDIR)/tests/kmod/scripts_run.sh,$(VM_SCRIPTS_SO),$(CURDIR)/tests/shim,$(CURDIR)/tests/kmod,$(VM_SCRIPTS_PERL),$(VM_SCRIPTS_PY)
VM_TEST_DEPS += vm-scripts
# Only for vm-test (vm-run does not build the list; pass VM_PACK=@target/vm/scripts-pack.list
# to have the interpreters there after a vm-test).
vm-test: export VM_PACK += @$(VM_SCRIPTS_LIST)

.PHONY: vm-scripts

# The shim, the venv with sysv_ipc (tests/shim/deps.sh also installs perl and python3 when
# missing), then the pack list.
vm-scripts:
	$(CARGO) build --release -p libmsg-shim
	@tests/shim/deps.sh
	@mkdir -p $(VM_BUILD) && tests/kmod/scripts_pack.sh $(VM_SCRIPTS_LIST) $(VM_SCRIPTS_PERL) $(VM_SCRIPTS_PY) $(VM_SCRIPTS_SO)
