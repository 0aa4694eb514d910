# IPC namespaces in the kernel module (issue #15, see docs/kmod.md, "Namespaces"): kmod_ns runs
# each case in new IPC namespaces (clone, unshare, setns) against the guest kernel's own
# queues and against /dev/msgq, and compares; plus the module's namespace counters (queues
# freed when a namespace dies). Root only (namespaces need CAP_SYS_ADMIN). Part of
# `make vm-test` (and so of `make test`, which runs it on the debug kernel).

VM_KMOD_NS = $(VM_BUILD)/cargo/x86_64-unknown-linux-gnu/release/kmod_ns
# Recursive (=): mk/vm.mk, included after this file, defines VM_BUILD.
VM_TEST_BINS += root:$(VM_KMOD_NS)
VM_TEST_DEPS += vm-kmod-ns

.PHONY: vm-kmod-ns

# Static, like vm-kmod-diff (--target keeps crt-static away from build scripts).
vm-kmod-ns:
	RUSTFLAGS='-C target-feature=+crt-static' $(CARGO) build --release -p msgq-tests --bin kmod_ns \
	  --target x86_64-unknown-linux-gnu --target-dir $(VM_BUILD)/cargo
