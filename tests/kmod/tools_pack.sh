#!/usr/bin/env bash
# Writes the VM_PACK list (vm/run.sh: one host path a line) of what the guest's tools test
# (tests/kmod/tools_run.sh) needs: util-linux's ipcs, ipcmk, ipcrm, lsipc and coreutils' tee
# (vm/run.sh adds the libraries `ldd` names), the php binary and what it loads, the shim, the
# scripts and the expected output. PHP's share is not guessed: tests/shim/php_msg.php runs
# once here, on the host's kernel queues in a new IPC namespace and with the guest's empty
# environment, with an auto_prepend_file hook whose shutdown function records (in each PHP
# process that runs it) the php.ini and the scanned conf.d files (links into
# mods-available: vm/run.sh packs both), the included PHP files, the default time zone's
# file (Debian's PHP reads the system's zoneinfo), the extensions' .so files (PHP dlopen()s
# them, so `ldd php` does not name them; their own libraries come through `ldd`) and the
# other non-ELF files mapped into the process (the C.utf8 locale).
# Usage: tests/kmod/tools_pack.sh OUT SO TOOLS_DIR PHP   (mk/kmod-tools.mk)
set -euo pipefail
out=${1:?OUT}
so=$(realpath -s "${2:?SO}") tools=$(realpath -s "${3:?TOOLS_DIR}") php=$(realpath -s "${4:?PHP}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
files=("$so" "$php" "$ROOT/tests/shim/php_msg.php" "$ROOT/tests/kmod/tools_seq.sh"
  "$ROOT/tests/kmod/php_msg.expected")
for t in ipcs ipcmk ipcrm lsipc tee; do files+=("$tools/$t"); done
for f in "${files[@]}"; do
  [ -e "$f" ] || { echo "tools_pack: missing $f" >&2; exit 2; }
done
work=$(mktemp -d /tmp/msgq-tools-pack.XXXXXX)
trap 'rm -rf "$work"' EXIT
loaded=$work/loaded
: > "$loaded"

UNSHARE="unshare -i"
[ "$(id -u)" = 0 ] || UNSHARE="unshare -r -i"

cat > "$work/hook.php" <<'PHP'
<?php
register_shutdown_function(function () {
    $paths = [];
    if (php_ini_loaded_file()) $paths[] = php_ini_loaded_file();
    foreach (explode(",", (string)php_ini_scanned_files()) as $f) {
        if (trim($f) !== "") $paths[] = trim($f);
    }
    foreach (get_included_files() as $f) $paths[] = $f;
    // Debian's PHP reads the system time zone database: the default zone's file (PHP
    // warns at startup without it, and an empty database is "corrupt").
    $tz = "/usr/share/zoneinfo/" . date_default_timezone_get();
    if (is_file($tz)) $paths[] = $tz;
    // Mapped files: the extensions (dlopen()ed from extension_dir) and the non-ELF ones
    // (locale). Not the other libraries: vm/run.sh packs them at the paths `ldd` names
    // (/lib/...), and a second copy at the mapped path (/usr/lib/...) would double them.
    $ext = rtrim(ini_get("extension_dir"), "/") . "/";
    foreach (file("/proc/self/maps") as $line) {
        if (!preg_match('{ (/\S+)$}', trim($line), $m) || !is_file($m[1])) continue;
        if (str_starts_with($m[1], $ext) || file_get_contents($m[1], false, null, 0, 4) !== "\x7fELF") {
            $paths[] = $m[1];
        }
    }
    $paths = array_filter($paths, fn($p) => $p !== __FILE__);
    file_put_contents(getenv("TOOLS_PACK_OUT"), implode("\n", $paths) . "\n", FILE_APPEND);
});
PHP
env -i PATH=/usr/bin:/bin HOME="$work" TOOLS_PACK_OUT="$loaded" $UNSHARE \
  "$php" -d auto_prepend_file="$work/hook.php" "$ROOT/tests/shim/php_msg.php" > "$work/php.out" 2>&1 ||
  { cat "$work/php.out" >&2; echo "tools_pack: php_msg.php failed on the host" >&2; exit 1; }
grep -q '^done$' "$work/php.out" || { cat "$work/php.out" >&2; echo "tools_pack: php_msg.php did not finish" >&2; exit 1; }

{
  echo "# written by tests/kmod/tools_pack.sh"
  printf '%s\n' "${files[@]}"
  sort -u "$loaded"
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "tools_pack: $(grep -vc '^#' "$out") entries in $out"
