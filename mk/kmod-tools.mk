# The tools operators use (util-linux's ipcs, ipcmk, ipcrm, lsipc) and PHP's sysvmsg on the
# kernel module in the guest, as root and as uid 1000, each compared with the same run on
# the guest kernel's own queues: tests/kmod/tools_run.sh (docs/kmod.md). The tools, php and
# what it loads (found by running tests/shim/php_msg.php once on the host:
# tests/kmod/tools_pack.sh), the shim and the scripts are packed into the initramfs at their
# host paths through vm/run.sh's VM_PACK. Part of `make vm-test` (docs/test-vm.md).

VM_TOOLS_DIR ?= /usr/bin
VM_TOOLS_PHP ?= /usr/bin/php8.2
VM_TOOLS_SO = $(CURDIR)/target/release/libmsg_shim.so
# Recursive (=): mk/vm.mk, included after this file, defines VM_BUILD.
VM_TOOLS_LIST = $(VM_BUILD)/tools-pack.list
VM_TEST_BINS += $(CURDIR)/tests/kmod/tools_run.sh,$(VM_TOOLS_SO),$(VM_TOOLS_DIR),$(VM_TOOLS_PHP),$(CURDIR)/tests/shim,$(CURDIR)/tests/kmod
VM_TEST_DEPS += vm-tools
# Only for vm-test, as mk/kmod-scripts.mk's list.
vm-test: export VM_PACK += @$(VM_TOOLS_LIST)

.PHONY: vm-tools

# The shim, php8.2-cli and util-linux (tests/shim/deps.sh installs them when missing), then
# the pack list.
vm-tools:
	$(CARGO) build --release -p libmsg-shim
	@tests/shim/deps.sh
	@mkdir -p $(VM_BUILD) && tests/kmod/tools_pack.sh $(VM_TOOLS_LIST) $(VM_TOOLS_SO) $(VM_TOOLS_DIR) $(VM_TOOLS_PHP)
