#!/usr/bin/env bash
# Boots msgq's test VM (QEMU, TCG) on a freshly packed initramfs and judges the result.
#   vm/run.sh test  KDIR HELPERS_DIR KO BIN[,ARG...]...   run the guest test protocol
#   vm/run.sh run   KDIR HELPERS_DIR KO CMD               load the module, run `sh -c CMD`, stop
# KDIR: built kernel tree (bzImage, usr/gen_init_cpio). HELPERS_DIR: holds the static `runas`.
# KO: msgq.ko. Each test BIN is a host path to an executable (static or dynamic: for dynamic
# ones the loader and the libraries `ldd` lists are packed too), optionally followed by
# comma-separated arguments; it must print a final line `N passed, N failed`. It runs as root and
# as uid $VM_UID, unless the entry starts with `root:` (root only).
# Environment: VM_TIMEOUT (s, default 600), VM_MEM (MiB, 512), VM_SMP (2), VM_UID (1000),
# VM_APPEND (extra kernel args), VM_WORK (scratch dir), VM_KEEP=1 keeps it, VM_PACK (below),
# VM_QEMU_ARGS (extra QEMU arguments, split at blanks; e.g. a TCG plugin, mk/bench-guest.mk).
# VM_PACK: more host paths to pack at the same paths, separated by blanks (for interpreters,
# their modules, scripts, libraries: anything a test runs besides its own binary). Each entry:
#   /a/file     copied with its mode; an ELF file also gets its loader and the libraries `ldd`
#               lists
#   /a/dir      the directory and everything under it, recursively
#   /a/link     the symlink as it is, plus what it points to (packed the same way)
#   dir:/a/dir  only the (empty) directory
#   @/a/list    the entries in that file, one a line (blank lines and # comments skipped)
# Paths must be absolute and free of blanks. Every packed ELF file (test binaries, libraries,
# VM_PACK) that has debug info is packed as a copy without it (objcopy --strip-debug: symbols
# stay; VM_STRIP=0 packs the originals). The packed size is printed (`vm: initramfs ...`).
# Exit status (test): 0 only if every check and every test run passed, every expected result
# line arrived, the guest finished in time, and the guest kernel log has no warning/BUG/Oops.
set -uo pipefail
mode=${1:?mode test|run}; kdir=${2:?KDIR}; helpers=${3:?HELPERS_DIR}; ko=${4:?KO}; shift 4
timeout_s=${VM_TIMEOUT:-600}
uid=${VM_UID:-1000}
bz=$kdir/arch/x86/boot/bzImage
gen=$kdir/usr/gen_init_cpio
for f in "$bz" "$gen" "$ko" "$helpers/runas"; do [ -e "$f" ] || { echo "vm: missing $f" >&2; exit 2; }; done
busybox=$(command -v busybox) || { echo "vm: busybox-static not installed" >&2; exit 2; }
file -L "$busybox" | grep -q 'statically linked' || { echo "vm: $busybox is not static (install busybox-static)" >&2; exit 2; }

work=${VM_WORK:-$(mktemp -d /tmp/msgq-vm.XXXXXX)}
mkdir -p "$work"
[ "${VM_KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
spec=$work/initramfs.list
log=$work/console.log

# --- initramfs spec (gen_init_cpio format: no root or mknod needed) ---
declare -A have
add_dir() { local d=$1; [ -n "${have[$d]:-}" ] && return; have[$d]=1
  local p; p=$(dirname "$d"); [ "$p" != / ] && add_dir "$p"; echo "dir $d 0755 0 0" >> "$spec"; }
add_file() { local dst=$1 src=$2 m=${3:-0755}; [ -n "${have[$dst]:-}" ] && return; have[$dst]=1
  add_dir "$(dirname "$dst")"; src=$(readlink -f "$src")
  if [ "${VM_STRIP:-1}" = 1 ] && is_elf "$src" && readelf -S "$src" 2>/dev/null | grep '\.debug_info' >/dev/null; then
    # Debug info only makes the initramfs bigger and the boot slower; symbols stay.
    mkdir -p "$work/stripped$(dirname "$dst")"
    objcopy --strip-debug "$src" "$work/stripped$dst" || { echo "vm: objcopy $src failed" >&2; exit 2; }
    src=$work/stripped$dst
  fi
  echo "file $dst $src $m 0 0" >> "$spec"; }
is_elf() { local magic; LC_ALL=C read -r -n 4 magic < "$1" 2>/dev/null; [ "$magic" = $'\x7fELF' ]; }
add_libs() { # loader and libraries of a dynamic executable, at the paths ldd names
  local l
  for l in $(ldd "$1" 2>/dev/null | grep -oE '/[^ ]+' ); do [ -e "$l" ] && add_file "$l" "$l"; done
}
add_link() { local dst=$1; [ -n "${have[$dst]:-}" ] && return; have[$dst]=1
  add_dir "$(dirname "$dst")"; echo "slink $dst $(readlink "$dst") 0777 0 0" >> "$spec"; }
# pack_path ENTRY: one VM_PACK entry (see the header). `packed` is separate from `have`, which
# also holds the directories made as parents (their contents still need packing).
declare -A packed
pack_path() {
  local p=$1 c
  case $p in
    @*) [ -f "${p#@}" ] || { echo "vm: VM_PACK: list ${p#@} missing" >&2; exit 2; }
      while read -r c; do case $c in ''|'#'*) ;; *) pack_path "$c" ;; esac; done < "${p#@}"; return ;;
    dir:*) p=${p#dir:}; [ -d "$p" ] || { echo "vm: VM_PACK: $p is not a directory" >&2; exit 2; }
      add_dir "$p"; return ;;
  esac
  case $p in /*) ;; *) echo "vm: VM_PACK: $p is not an absolute path" >&2; exit 2 ;; esac
  p=$(realpath -s -m "$p")  # lexical: /a/./b and /a/b/../c name one entry
  [ -n "${packed[$p]:-}" ] && return; packed[$p]=1
  if [ -L "$p" ]; then
    add_link "$p"
    c=$(readlink "$p"); case $c in /*) ;; *) c=$(dirname "$p")/$c ;; esac
    pack_path "$c"
  elif [ -d "$p" ]; then
    add_dir "$p"
    while IFS= read -r -d '' c; do pack_path "$c"; done < <(find "$p" -mindepth 1 -maxdepth 1 -print0 | sort -z)
  elif [ -f "$p" ]; then
    is_elf "$p" && add_libs "$p"
    add_file "$p" "$p" "$(stat -c %a "$p")"
  else
    echo "vm: VM_PACK: $p does not exist (or is not a file, directory or symlink)" >&2; exit 2
  fi
}
: > "$spec"
for d in /bin /sbin /dev /proc /sys /tmp /etc /tests /lib /lib64 /usr; do add_dir $d; done
echo "nod /dev/console 0600 0 0 c 5 1" >> "$spec"
echo "nod /dev/null 0666 0 0 c 1 3" >> "$spec"
add_file /bin/busybox "$busybox"
add_file /bin/runas "$helpers/runas"
add_file /msgq.ko "$ko" 0644
printf 'root:x:0:0:root:/tmp:/bin/sh\nmsgq:x:%s:%s:msgq:/tmp:/bin/sh\n' "$uid" "$uid" > "$work/passwd"
printf 'root:x:0:\nmsgq:x:%s:\n' "$uid" > "$work/group"
add_file /etc/passwd "$work/passwd" 0644
add_file /etc/group "$work/group" 0644
echo "${VM_SMP:-2}" > "$work/smp"
add_file /smp "$work/smp" 0644

for entry in ${VM_PACK:-}; do pack_path "$entry"; done

tests=()
if [ "$mode" = test ]; then
  for spec_arg in "$@"; do
    who="0 $uid"
    case $spec_arg in root:*) who=0; spec_arg=${spec_arg#root:} ;; esac
    IFS=, read -r -a parts <<< "$spec_arg"
    bin=${parts[0]}
    [ -x "$bin" ] || { echo "vm: test binary $bin missing or not executable" >&2; exit 2; }
    name=$(basename "$bin")
    add_file "/tests/$name" "$bin"
    add_libs "$bin"
    tests+=("$(( ${#tests[@]} + 1 )) ${who// /+} /tests/$name ${parts[*]:1}")
  done
  printf '%s\n' "${tests[@]}" > "$work/tests.list"
  add_file /tests.list "$work/tests.list" 0644
else
  printf '%s\n' "$*" > "$work/cmd"
  add_file /cmd "$work/cmd" 0644
fi

cat > "$work/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin HOME=/tmp
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
# /tmp stays on the (writable) initramfs root: a tmpfs over it would hide files packed
# under /tmp, such as the shim library of a checkout that lives there.
chmod 1777 /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
UID_=$(sed -n 's/^msgq:x:\([0-9]*\):.*/\1/p' /etc/passwd)
check() { if [ "$2" = 0 ]; then echo "@@CHECK ok $1"; else echo "@@CHECK FAIL $1"; fi; }
echo "@@BEGIN"
insmod /msgq.ko; check "insmod msgq.ko" $?
mode=$(stat -c '%F %a' /dev/msgq 2>&1)
[ "$mode" = "character special file 666" ]; check "/dev/msgq exists with mode 0666 ($mode)" $?
cpus=$(grep -c '^processor' /proc/cpuinfo)
[ "$cpus" = "$(cat /smp)" ]; check "the guest runs on $(cat /smp) CPUs (it has $cpus)" $?
if [ -f /cmd ]; then
  echo "@@CMD $(cat /cmd)"
  sh -c "$(cat /cmd)"; echo "@@CMD-EXIT $?"
else
  while read -r n uids bin args; do
    [ -n "$bin" ] || continue
    for who in $(echo "$uids" | tr + ' '); do
      echo "@@RUN-START #$n uid=$who $bin $args"
      cd /tmp
      if [ "$who" = 0 ]; then $bin $args > /tmp/out 2>&1; rc=$?
      else runas "$who" "$who" $bin $args > /tmp/out 2>&1; rc=$?; fi
      cat /tmp/out
      sum=$(grep -E '^([A-Za-z_-]+: )?[0-9]+ passed, [0-9]+ failed' /tmp/out | tail -1)
      echo "@@RUN-END #$n uid=$who rc=$rc $bin summary=${sum:-MISSING}"
    done
  done < /tests.list
  rmmod msgq; check "rmmod msgq" $?
  [ ! -e /dev/msgq ]; check "/dev/msgq gone after rmmod" $?
  insmod /msgq.ko msgmax=4096 msgmnb=2048 msgmni=7; check "insmod with parameters" $?
  dmesg | grep -q 'msgq: loading: msgmax=4096 msgmnb=2048 msgmni=7'; check "parameters reach the module" $?
  rmmod msgq; check "rmmod msgq (2)" $?
  insmod /msgq.ko msgmni=40000 2>/dev/null; [ $? != 0 ]; check "insmod rejects msgmni=40000" $?
  [ ! -e /dev/msgq ]; check "no /dev/msgq after rejected insmod" $?
fi
if [ -w /sys/kernel/debug/kmemleak ]; then
  echo scan > /sys/kernel/debug/kmemleak; sleep 1; echo scan > /sys/kernel/debug/kmemleak
  echo "@@KMEMLEAK-BEGIN"; cat /sys/kernel/debug/kmemleak; echo "@@KMEMLEAK-END"
fi
echo "@@DMESG-BEGIN"; dmesg; echo "@@DMESG-END"
echo "@@DONE"
reboot -f
INIT
add_file /init "$work/init" 0755

"$gen" "$spec" > "$work/initramfs.cpio" || { echo "vm: gen_init_cpio failed" >&2; exit 2; }
printf 'vm: initramfs %.1f MiB, %s files\n' "$(echo "$(stat -c %s "$work/initramfs.cpio") / 1048576" | bc -l)" \
  "$(grep -c '^file ' "$spec")"

# --- boot ---
start=$(date +%s.%N)
# One socket per CPU: the test kernel has no ACPI, and the MP table SeaBIOS builds for QEMU's
# default topology (all CPUs in one socket) lists only the boot CPU.
timeout -k 10 "$timeout_s" qemu-system-x86_64 ${VM_QEMU_ARGS:-} -accel tcg -cpu max -m "${VM_MEM:-512}" -smp "${VM_SMP:-2},sockets=${VM_SMP:-2}" \
  -display none -monitor none -serial stdio -no-reboot -nodefaults \
  -kernel "$bz" -initrd "$work/initramfs.cpio" \
  -append "console=ttyS0 panic=-1 quiet loglevel=4 ${VM_APPEND:-}" < /dev/null 2>&1 \
  | tr -d '\r' | tee "$log" | { if [ "$mode" = test ]; then sed -n '/^@@DMESG-BEGIN/,/^@@DMESG-END/!p'; else cat; fi; }
qrc=${PIPESTATUS[0]}
secs=$(echo "$(date +%s.%N) - $start" | bc)
printf 'vm: guest ran %.1f s (qemu exit %s)\n' "$secs" "$qrc"

# --- verdict ---
fails=0; passed=0; failed=0
bad() { echo "vm: FAIL: $*"; fails=$((fails+1)); }
[ "$qrc" = 124 ] || [ "$qrc" = 137 ] && bad "guest did not finish within ${timeout_s}s"
grep -q '^@@DONE' "$log" || bad "guest did not reach the end of /init (no @@DONE line)"
grep -q '^@@BEGIN' "$log" || bad "guest /init never started"
# Kernel problems anywhere in the console output or the guest's dmesg.
pat='WARNING:|BUG:|BUG |Oops|Kernel panic|general protection fault|Call Trace:|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|INFO: task .* blocked|KASAN:|UBSAN:|kmemleak: [0-9]+ new suspected|unreferenced object|rust_panic|panicked at'
# Test programs' own output (between @@RUN-START and @@RUN-END) is not kernel output.
if awk '/^@@RUN-START /{skip=1} !skip{print} /^@@RUN-END /{skip=0}' "$log" | grep -Ea "$pat" > "$work/splats"; [ -s "$work/splats" ]; then
  bad "kernel log has warnings/errors:"; sed 's/^/    /' "$work/splats" | head -40
fi
grep -A3 '^unreferenced object' "$log" | head -20
while read -r _ st rest; do
  if [ "$st" = ok ]; then passed=$((passed+1)); else failed=$((failed+1)); echo "vm: FAIL: check: $rest"; fi
done < <(grep '^@@CHECK ' "$log")
if [ "$mode" = test ]; then
  grep -q '^@@CHECK ok insmod msgq.ko' "$log" || bad "no result line for insmod"
  grep -q '^@@CHECK .* rmmod msgq$' "$log" || bad "no result line for rmmod"
  while read -r n uids bin args; do
    [ -z "$args" ] || bin="$bin $args"
    for who in ${uids//+/ }; do
      line=$(grep -F "@@RUN-END #$n uid=$who " "$log" | tail -1)
      if [ -z "$line" ]; then bad "no result for $bin as uid $who"; continue; fi
      rc=$(sed -E 's/.* rc=([0-9]+) .*/\1/' <<< "$line")
      sum=${line#*summary=}
      if [[ $sum =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
        passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
        [ "${BASH_REMATCH[2]}" = 0 ] || echo "vm: FAIL: $bin as uid $who: $sum"
        if [ "$rc" != 0 ] && [ "${BASH_REMATCH[2]}" = 0 ]; then bad "$bin as uid $who exited $rc"; fi
      else
        bad "$bin as uid $who printed no 'N passed, N failed' line (rc=$rc)"
      fi
    done
  done < "$work/tests.list"
  failed=$((failed + fails))
  echo "vm-test: $passed passed, $failed failed"
  [ "$failed" = 0 ]
else
  cmdrc=$(sed -n 's/^@@CMD-EXIT //p' "$log" | tail -1)
  [ "${cmdrc:-missing}" = 0 ] || bad "CMD exited ${cmdrc:-without an exit line}"
  [ "$fails" = 0 ] && [ "$failed" = 0 ]
fi
