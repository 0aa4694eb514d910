#!/usr/bin/env bash
# Builds (or finds in the cache) msgq's Rust-enabled test kernel.
#   vm/kernel.sh build base|debug   ensure deps, build if not cached; last stdout line = tree dir
#   vm/kernel.sh build kasan        debug + KASAN, built with clang (LLVM=-19)
#   vm/kernel.sh makeargs VARIANT   print the extra make arguments of a variant (LLVM=-19)
#   vm/kernel.sh env                print the environment (export lines) Kbuild needs here
# The tree dir holds the built, configured kernel source tree (KDIR for out-of-tree modules)
# with arch/x86/boot/bzImage. It lives outside the work tree, under $MSGQ_CACHE
# (default /var/cache/msgq), as kernel-<variant>-<key>, key = sha256 over the linux-source
# package version, the config fragments, rustc/bindgen versions and KEY_EPOCH.
set -euo pipefail
KEY_EPOCH=1                # bump when a change to this script must invalidate cached kernels
here=$(cd "$(dirname "$0")" && pwd)
cache=${MSGQ_CACHE:-/var/cache/msgq}
log() { echo "kernel: $*" >&2; }

kernel_env() {
  export LIBCLANG_PATH=/usr/lib/llvm-19/lib
  export RUST_LIB_SRC=/usr/lib/rustlib/src/rust/library
  export PATH="$cache/cargo/bin:$PATH"
}

cmd=${1:?usage: kernel.sh build base|debug | env}
if [ "$cmd" = env ]; then
  echo "export LIBCLANG_PATH=/usr/lib/llvm-19/lib RUST_LIB_SRC=/usr/lib/rustlib/src/rust/library PATH=$cache/cargo/bin:\$PATH"
  exit 0
fi
case $cmd in build|makeargs) ;; *) log "unknown command $cmd"; exit 2 ;; esac
variant=${2:?variant base|debug|kasan}
margs=()
case $variant in
  base) frags=("$here/config-base") ;;
  debug) frags=("$here/config-base" "$here/config-debug") ;;
  kasan) frags=("$here/config-base" "$here/config-debug" "$here/config-kasan"); margs=(LLVM=-19) ;;
  *) log "unknown variant $variant"; exit 2 ;;
esac
if [ "$cmd" = makeargs ]; then echo "${margs[*]}"; exit 0; fi

mkdir -p "$cache"
KERNEL_DEPS_LLVM=$([ ${#margs[@]} = 0 ] && echo 0 || echo 1) "$here/kernel-deps.sh" "$cache"
kernel_env

# Source package: downloaded once into $cache/src. Its version is that of the .deb already
# there (apt-cache is slow on these machines: no pkgcache.bin, several seconds per call), or,
# when there is none or MSGQ_KERNEL_REFRESH=1, the candidate in the (pinned) apt lists.
mkdir -p "$cache/src"
srcver=
if [ "${MSGQ_KERNEL_REFRESH:-0}" != 1 ]; then
  deb=$(ls "$cache/src"/linux-source-7.3_*_all.deb 2>/dev/null | sort -V | tail -1 || true)
  [ -z "$deb" ] || srcver=$(dpkg-deb -f "$deb" Version)
fi
if [ -z "$srcver" ]; then
  srcver=$(apt-cache policy linux-source-7.3 | awk '/Candidate:/ {print $2}')
  [ -n "$srcver" ] && [ "$srcver" != "(none)" ] || { log "linux-source-7.3 not found in apt lists"; exit 1; }
fi
deb=$(ls "$cache/src"/linux-source-7.3_"${srcver//:/%3a}"_all.deb 2>/dev/null | head -1 || true)
if [ -z "$deb" ]; then
  log "downloading linux-source-7.3 $srcver"
  (cd "$cache/src" && apt-get download -q "linux-source-7.3=$srcver" 2>&1 | grep -v 'unsandboxed' >&2 || true)
  deb=$(ls "$cache/src"/linux-source-7.3_*"${srcver##*:}"_all.deb | head -1)
fi

rustv=$(rustc --version)
bgv=$(bindgen --version 2>/dev/null | head -1)
key=$( { echo "epoch $KEY_EPOCH"; echo "linux-source-7.3 $srcver"; echo "$rustv"; echo "$bgv";
         echo "gcc $(gcc -dumpfullversion)"; cat "${frags[@]}";
         [ ${#margs[@]} = 0 ] || { echo "${margs[*]}"; clang-19 --version | head -1; }; } | sha256sum | cut -c1-16)
dir="$cache/kernel-$variant-$key"
tree="$dir/linux"

exec 9>"$cache/.lock-$variant"
flock 9
if [ -f "$dir/complete" ]; then
  log "cached: $dir ($variant, built in $(cat "$dir/build-seconds" 2>/dev/null || echo ?) s)"
  echo "$tree"
  exit 0
fi

log "building $variant kernel into $dir (key $key; takes ~10 min on 2 cores)"
rm -rf "$dir"
mkdir -p "$dir"
start=$(date +%s)
tmp=$(mktemp -d "$dir/unpack.XXXX")
dpkg-deb -x "$deb" "$tmp"
tar -C "$dir" -xf "$tmp"/usr/src/linux-source-7.3.tar.xz
rm -rf "$tmp"
mv "$dir"/linux-source-7.3 "$tree"

cd "$tree"
make -s "${margs[@]}" rustavailable >&2 || { log "Rust is not available to Kbuild (see above)"; exit 1; }
make -s "${margs[@]}" tinyconfig >&2
args=()
for f in "${frags[@]}"; do
  while IFS='=' read -r name val; do
    case $name in ''|\#*) continue ;; esac
    case $val in y) args+=(--enable "$name") ;; n) args+=(--disable "$name") ;; *) args+=(--set-val "$name" "$val") ;; esac
  done < "$f"
done
scripts/config "${args[@]}"
make -s "${margs[@]}" olddefconfig >&2
# Check that every requested option stuck.
: > "$dir/dropped-options"
fatal=0
for f in "${frags[@]}"; do
  while IFS='=' read -r name val; do
    case $name in ''|\#*) continue ;; esac
    got=$(grep -E "^(CONFIG_$name=|# CONFIG_$name is not set)" .config || true)
    case $val in
      n) [ -z "$got" ] || [[ $got == "# "* ]] || echo "$name=n (got: $got)" >> "$dir/dropped-options" ;;
      *) [ "$got" = "CONFIG_$name=$val" ] || echo "$name=$val (got: ${got:-absent})" >> "$dir/dropped-options" ;;
    esac
  done < "$f"
  # Everything config-base asks for is required in every variant.
  { [ "$f" = "$here/config-base" ] || [ "$f" = "$here/config-kasan" ]; } && [ -s "$dir/dropped-options" ] && fatal=1
done
if [ -s "$dir/dropped-options" ]; then
  log "options that did not stick after olddefconfig ($(basename "${frags[-1]}")):"
  sed 's/^/  /' "$dir/dropped-options" >&2
  [ $fatal = 0 ] || { log "config-base (and, for kasan, config-kasan) options are required; giving up"; exit 1; }
fi
jobs=$(( $(nproc) + 1 ))
log "make ${margs[*]} -j$jobs bzImage modules"
make "${margs[@]}" -j"$jobs" bzImage modules > "$dir/build.log" 2>&1 || { tail -40 "$dir/build.log" >&2; log "kernel build failed; log in $dir/build.log"; exit 1; }
echo $(( $(date +%s) - start )) > "$dir/build-seconds"
{ echo "linux-source-7.3 $srcver"; echo "$rustv"; echo "$bgv"; echo "variant $variant"; } > "$dir/info"
touch "$dir/complete"
log "built in $(cat "$dir/build-seconds") s: $tree/arch/x86/boot/bzImage"
# Older trees of this variant (other keys) are stale: remove them (~2 GB each).
for old in "$cache"/kernel-"$variant"-*; do
  [ "$old" = "$dir" ] || [ ! -d "$old" ] || { log "removing stale $old"; rm -rf "$old"; }
done
echo "$tree"
