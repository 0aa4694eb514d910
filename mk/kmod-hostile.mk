# Hostile input and permissions against the kernel module, in the guest (issue #8; see
# docs/kmod.md, "Hostile input"):
#   kmod_fuzz   random ioctls on /dev/msgq from several processes, with signals, SIGKILLs and
#               queue removals, for KMOD_FUZZ_SECS seconds, as root and as uid 1000;
#   kmod_perms  (root only: it switches to other uids itself) the permission rules against the
#               guest kernel's own queues, differentially.
# Both are static guest binaries, built like kmod_diff (mk/kmod.mk), and part of `make vm-test`.

KMOD_FUZZ_SECS ?= 20
VM_KMOD_HOSTILE_DIR = $(VM_BUILD)/cargo/x86_64-unknown-linux-gnu/release
# Recursive (=): mk/vm.mk, included after this file, defines VM_BUILD.
VM_TEST_BINS += $(VM_KMOD_HOSTILE_DIR)/kmod_fuzz,--secs,$(KMOD_FUZZ_SECS)
VM_TEST_BINS += root:$(VM_KMOD_HOSTILE_DIR)/kmod_perms
VM_TEST_DEPS += vm-kmod-hostile

.PHONY: vm-kmod-hostile

vm-kmod-hostile:
	RUSTFLAGS='-C target-feature=+crt-static' $(CARGO) build --release -p msgq-tests \
	  --bin kmod_fuzz --bin kmod_perms --target x86_64-unknown-linux-gnu --target-dir $(VM_BUILD)/cargo
