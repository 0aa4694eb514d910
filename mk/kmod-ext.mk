# The kernel module's extensions (issue 14, see docs/kmod.md, "Extensions"): kmod_ext checks
# MSGQ_TIMEDSND (deadlines, urgent, overwrite, broadcast), MSGQ_TIMEDRCV (deadlines, peek),
# MSGQ_PURGE and MSGQ_ABORT on /dev/msgq, with blocked threads, signals, IPC_RMID, the race of
# a timeout with a hand-off, and permissions as uid 1000. Root only (it switches to uid 1000
# itself). Part of `make vm-test` (and so of `make test`, which runs it on the debug kernel).

VM_KMOD_EXT = $(VM_BUILD)/cargo/x86_64-unknown-linux-gnu/release/kmod_ext
# Recursive (=): mk/vm.mk, included after this file, defines VM_BUILD.
VM_TEST_BINS += root:$(VM_KMOD_EXT)
VM_TEST_DEPS += vm-kmod-ext

.PHONY: vm-kmod-ext

# Static, like vm-kmod-ns (--target keeps crt-static away from build scripts).
vm-kmod-ext:
	RUSTFLAGS='-C target-feature=+crt-static' $(CARGO) build --release -p msgq-tests --bin kmod_ext \
	  --target x86_64-unknown-linux-gnu --target-dir $(VM_BUILD)/cargo
