# Row 7 of the benchmarks (issue 7): rows 1, 4 and 5 in the test VM, the guest kernel's native
# queues against the kernel module through the shim's kmod backend code
# (benches/benches/guest.rs). See docs/benchmarks.md.
#
#   make bench-guest       build the guest benchmark (static), boot the base kernel's guest
#                          under QEMU TCG, run it (about 4 minutes), keep its @@BENCH lines in
#                          target/criterion/msgq-guest.txt and rewrite bench-report/report.md
#   make bench-guest-run   the same without rewriting the report (`make bench` uses it)
#
# BENCH_GUEST_ARGS passes criterion arguments to the guest program, comma-separated, e.g.
# make bench-guest BENCH_GUEST_ARGS='1-pair' or BENCH_GUEST_ARGS='--measurement-time,3'.
# `make vm-test` (part of `make test`) runs the program once with --test: every benchmark
# once, each checked for the message it got back.

# Recursive (=): mk/vm.mk, included after this file, defines VM_BUILD.
BENCH_GUEST_BIN = $(VM_BUILD)/bench-guest
BENCH_GUEST_LOG = $(VM_BUILD)/bench-guest.log
BENCH_GUEST_RESULTS = $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/criterion/msgq-guest.txt
BENCH_GUEST_TIMEOUT ?= 1800
BENCH_GUEST_ARGS ?=
# The guest has no HPET and no ACPI PM timer, so its kernel cannot calibrate the TSC and
# falls back to the jiffies clocksource (4 ms resolution at HZ=250): too coarse to time
# microsecond operations. Under TCG the guest's TSC runs at the host's TSC rate, so the
# host's rate is given to the guest kernel (tsc_early_khz) and the TSC trusted (no
# watchdog). The host's "cpu MHz" is its TSC rate on these (virtual, constant-TSC) machines;
# an error there scales every time alike and leaves the ratios unchanged.
BENCH_GUEST_TSC_KHZ ?= $(shell awk '/^cpu MHz/ { printf "%d", $$4 * 1000; exit }' /proc/cpuinfo)
bench_guest_comma := ,

VM_TEST_BINS += root:$(BENCH_GUEST_BIN),--test
VM_TEST_DEPS += vm-bench-guest

.PHONY: bench-guest bench-guest-run vm-bench-guest

# A criterion bench executable (criterion is a dev-dependency), static like vm-kmod-diff;
# cargo names it deps/guest-<hash>, so its path comes from cargo's JSON messages (which also
# name the package's binaries, built for benches: only deps/guest-* is taken). Copied without
# debug info (smaller initramfs).
vm-bench-guest:
	@set -eo pipefail; \
	  exe=$$(RUSTFLAGS='-C target-feature=+crt-static' $(CARGO) bench --no-run -p msgq-benches --bench guest \
	    --target x86_64-unknown-linux-gnu --target-dir $(VM_BUILD)/cargo --message-format=json-render-diagnostics \
	    | sed -n 's/.*"executable":"\([^"]*\/deps\/guest-[^"]*\)".*/\1/p' | tail -1); \
	  [ -x "$$exe" ] || { echo "vm-bench-guest: cargo named no executable" >&2; exit 1; }; \
	  mkdir -p $(VM_BUILD); tmp=$(BENCH_GUEST_BIN).$$$$; \
	  strip -o $$tmp "$$exe" && chmod 755 $$tmp && mv $$tmp $(BENCH_GUEST_BIN)

bench-guest: deps
	@$(MAKE) --no-print-directory bench-guest-run
	@$(MAKE) --no-print-directory bench-report

# Always the base kernel: the debug variants measure their own instrumentation.
bench-guest-run: deps
	@$(MAKE) --no-print-directory kmod vm-helpers vm-bench-guest KERNEL_VARIANT=base
	@set -o pipefail; mkdir -p $(dir $(BENCH_GUEST_RESULTS)); \
	  load0="$$(cut -d' ' -f1-3 /proc/loadavg)"; \
	  VM_TIMEOUT=$(BENCH_GUEST_TIMEOUT) VM_APPEND="$${VM_APPEND:-} tsc_early_khz=$(BENCH_GUEST_TSC_KHZ) tsc=reliable" \
	  vm/run.sh test "$$(vm/kernel.sh build base)" $(VM_BUILD) \
	    $(VM_BUILD)/msgq-base.ko root:$(BENCH_GUEST_BIN),--bench$(if $(BENCH_GUEST_ARGS),$(bench_guest_comma)$(BENCH_GUEST_ARGS)) \
	    | tee $(BENCH_GUEST_LOG) || { echo "bench-guest: the guest run failed (log: $(BENCH_GUEST_LOG))" >&2; exit 1; }; \
	  { echo "meta measured $$(date -u '+%Y-%m-%d %H:%M UTC')"; \
	    echo "meta variant base"; echo "meta mem_mib $${VM_MEM:-512}"; echo "meta tsc_khz $(BENCH_GUEST_TSC_KHZ)"; \
	    echo "meta commit $$(git rev-parse --short HEAD 2>/dev/null)"; \
	    echo "meta host_loadavg_start $$load0"; echo "meta host_loadavg_end $$(cut -d' ' -f1-3 /proc/loadavg)"; \
	    echo "meta guest_seconds $$(sed -n 's/^vm: guest ran \([0-9.]*\) s.*/\1/p' $(BENCH_GUEST_LOG))"; \
	    sed -n 's/^@@BENCH //p' $(BENCH_GUEST_LOG); } > $(BENCH_GUEST_RESULTS).tmp; \
	  grep -q '^bench ' $(BENCH_GUEST_RESULTS).tmp || { echo "bench-guest: no @@BENCH lines in $(BENCH_GUEST_LOG)" >&2; exit 1; }; \
	  mv $(BENCH_GUEST_RESULTS).tmp $(BENCH_GUEST_RESULTS); \
	  echo "bench-guest: $$(grep -c '^bench ' $(BENCH_GUEST_RESULTS)) results in $(BENCH_GUEST_RESULTS)"

# Issue 15's probe of the 8-byte pair (benches/src/bin/kmod-probe.rs; docs/kmod.md, "Where
# the 8-byte pair's time goes"): small loops that peel the module's call apart, against
# native, in the guest. Not part of `make test` or `make bench`. PROBE_VARIANT=debug runs it
# on the debug kernel (lockdep and kmemleak switched off at boot) when the base kernel is not
# built; the ratios then carry the debug build's costs.
PROBE_VARIANT ?= base
BENCH_PROBE_BIN = $(VM_BUILD)/kmod-probe
.PHONY: bench-guest-probe vm-kmod-probe
vm-kmod-probe:
	RUSTFLAGS='-C target-feature=+crt-static' $(CARGO) build --release -p msgq-benches --bin kmod-probe \
	  --target x86_64-unknown-linux-gnu --target-dir $(VM_BUILD)/cargo
	@mkdir -p $(VM_BUILD) && strip -o $(BENCH_PROBE_BIN) $(VM_BUILD)/cargo/x86_64-unknown-linux-gnu/release/kmod-probe

bench-guest-probe: vm-kmod-probe
	@$(MAKE) --no-print-directory kmod vm-helpers KERNEL_VARIANT=$(PROBE_VARIANT)
	@VM_APPEND="$${VM_APPEND:-} tsc_early_khz=$(BENCH_GUEST_TSC_KHZ) tsc=reliable$(if $(filter debug,$(PROBE_VARIANT)), lockdep.prove_locking=0 kmemleak=off)" \
	  vm/run.sh test "$$(vm/kernel.sh build $(PROBE_VARIANT))" $(VM_BUILD) $(VM_BUILD)/msgq-$(PROBE_VARIANT).ko root:$(BENCH_PROBE_BIN)

# An instruction profile of the 8-byte pair, module against native, taken outside the guest
# with a QEMU TCG plugin (vm/tbcount.c counts how often each guest kernel block runs): three
# boots of the base kernel, the probe's pair loop at 0 and PROFILE_ITERS iterations, and
# vm/tbprofile.py's table of instructions per pair by what they do. Not part of `make test`.
PROFILE_ITERS ?= 100000
PROFILE_DIR = $(VM_BUILD)/profile
.PHONY: bench-guest-profile
bench-guest-profile: vm-kmod-probe
	@$(MAKE) --no-print-directory kmod vm-helpers KERNEL_VARIANT=base
	@mkdir -p $(PROFILE_DIR) && gcc -shared -fPIC -O2 -Wall -Wextra -o $(PROFILE_DIR)/tbcount.so vm/tbcount.c
	@set -e; kdir=$$(vm/kernel.sh build base); \
	  for run in base:module_pair_8_B,--iters,0 module:module_pair_8_B,--iters,$(PROFILE_ITERS) native:native_pair_8_B,--iters,$(PROFILE_ITERS); do \
	    name=$${run%%:*}; rm -f $(PROFILE_DIR)/$$name.out; \
	    VM_QEMU_ARGS="-plugin $(PROFILE_DIR)/tbcount.so,out=$(PROFILE_DIR)/$$name.out" \
	      vm/run.sh test "$$kdir" $(VM_BUILD) $(VM_BUILD)/msgq-base.ko \
	      root:$(BENCH_PROBE_BIN),--ksyms,--rounds,1,--only,$${run#*:} > $(PROFILE_DIR)/$$name.log 2>&1 || \
	      { tail -20 $(PROFILE_DIR)/$$name.log; exit 1; }; \
	    grep -h '@@PROBE' $(PROFILE_DIR)/$$name.log || true; \
	  done; \
	  vm/tbprofile.py "$$kdir" $(PROFILE_ITERS) $(foreach r,base module native,$(PROFILE_DIR)/$(r).out $(PROFILE_DIR)/$(r).log)
