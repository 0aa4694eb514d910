# The `msgq` command's kmod backend and the shim's /proc emulation under it (issue #5, see
# docs/kmod.md): tests/kmod/kmod_cli.c runs the real static `msgq` binary (stripped and
# packed into the test program, which runs it from a memfd) against /dev/msgq, cross-checks
# with the shim (the program is linked against libmsg_shim), and reads the emulated
# /proc/sysvipc/msg and /proc/sys/kernel/msg* files. As root and as uid 1000, in `make vm-test`.
# Recursive (=): mk/vm.mk, included after this file, defines VM_BUILD.

VM_KMOD_CLI = $(VM_BUILD)/kmod_cli
VM_MSGQ_STATIC = $(VM_BUILD)/cargo/x86_64-unknown-linux-gnu/release/msgq
VM_MSGQ_PACKED = $(VM_BUILD)/msgq-packed
VM_TEST_BINS += $(VM_KMOD_CLI)
VM_TEST_DEPS += vm-kmod-cli

.PHONY: vm-kmod-cli

# Static like vm-kmod-diff (--target keeps crt-static away from build scripts); the shim
# as in mk/kmod.mk's vm-shim-prog.
vm-kmod-cli:
	RUSTFLAGS='-C target-feature=+crt-static' $(CARGO) build --release -p msgq-cli --bin msgq \
	  --target x86_64-unknown-linux-gnu --target-dir $(VM_BUILD)/cargo
	$(CARGO) build --release -p libmsg-shim
	@mkdir -p $(VM_BUILD) && strip -o $(VM_MSGQ_PACKED) $(VM_MSGQ_STATIC) && \
	  cc -O2 -Wall -Wextra -DMSGQ_BIN='"$(VM_MSGQ_PACKED)"' -o $(VM_KMOD_CLI) tests/kmod/kmod_cli.c \
	  -L$(CURDIR)/target/release -Wl,-rpath,$(CURDIR)/target/release -lmsg_shim
