# msgq-kmod's guest test (docs/kmod.md): `kmod_diff` runs every case against the guest
# kernel's native queues and against /dev/msgq through the shim's kmod backend code, and
# compares the results. It runs as root and as uid 1000 inside `make vm-test` (already in
# TEST_TARGETS through mk/vm.mk).

VM_KMOD_DIFF = $(VM_BUILD)/cargo/x86_64-unknown-linux-gnu/release/kmod_diff
# Recursive (=): mk/vm.mk, included after this file, defines VM_BUILD.
VM_TEST_BINS += $(VM_KMOD_DIFF)
VM_TEST_DEPS += vm-kmod-diff

.PHONY: vm-kmod-diff

# Static, like vm-conformance (--target keeps crt-static away from build scripts).
vm-kmod-diff:
	RUSTFLAGS='-C target-feature=+crt-static' $(CARGO) build --release -p msgq-tests --bin kmod_diff \
	  --target x86_64-unknown-linux-gnu --target-dir $(VM_BUILD)/cargo

# The differential conformance suite with the module as the second backend: every case runs
# against the guest kernel (in a new IPC namespace) and against /dev/msgq (emptied with
# MSGQ_RESET first), and the traces must be equal. Root only (unshare and MSGQ_RESET).
# The per-case timeouts are scaled: `make test` runs this on the debug kernel under TCG.
VM_TEST_BINS += root:$(VM_CONFORMANCE_BIN),--backend,kmod,--timeout-scale,4
VM_TEST_DEPS += vm-conformance

# An ordinary C program using msgget/msgsnd/msgrcv/msgctl, linked against libmsg_shim (the
# guest copies it and its libraries; the shim picks the kmod backend because /dev/msgq
# exists), as root and as uid 1000.
VM_SHIM_PROG = $(VM_BUILD)/shim_prog
VM_TEST_BINS += $(VM_SHIM_PROG)
VM_TEST_DEPS += vm-shim-prog

.PHONY: vm-shim-prog

vm-shim-prog:
	$(CARGO) build --release -p libmsg-shim
	@mkdir -p $(VM_BUILD) && cc -O2 -Wall -o $(VM_SHIM_PROG) tests/kmod/shim_prog.c \
	  -L$(CURDIR)/target/release -Wl,-rpath,$(CURDIR)/target/release -lmsg_shim
