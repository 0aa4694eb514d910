#!/usr/bin/env bash
# Writes the VM_PACK list (vm/run.sh: one host path a line) of what the guest's Perl and
# Python test (tests/kmod/scripts_run.sh) needs: the interpreters, the files their programs
# load, the shim, the programs and their expected outputs. Nothing is guessed: the programs
# (tests/shim/perl_msg.pl, py_a.py + py_b.py) run once here, on the host's kernel queues in a
# new IPC namespace and with the guest's empty environment, with hooks that record every
# file they load:
#   both:   every non-ELF file mapped into the process at its end (/proc/self/maps: the
#           C.UTF-8 locale Python switches to in the C locale; the ELF files come through
#           the lists below and `ldd`, which vm/run.sh runs on each);
#   Perl:   %INC (the .pm files) and @DynaLoader::dl_shared_objects (XS .so files, e.g.
#           IPC::SysV's), from an END block (in the forked child too);
#   Python: the __file__ and __cached__ (.pyc) of every module in sys.modules, from an atexit
#           hook in a sitecustomize.py on PYTHONPATH; plus pyvenv.cfg, the .pth files of the
#           site directories (site runs them at startup) and every sys.path directory as an
#           empty directory (lib-dynload is the landmark by which Python finds exec_prefix).
# Usage: tests/kmod/scripts_pack.sh OUT PERL PYTHON SO   (mk/kmod-scripts.mk)
set -euo pipefail
out=${1:?OUT}
perl=$(realpath -s "${2:?PERL}") py=$(realpath -s "${3:?PYTHON}") so=$(realpath -s "${4:?SO}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHIM=$ROOT/tests/shim
for f in "$perl" "$py" "$so" "$SHIM/perl_msg.pl" "$SHIM/py_a.py" "$SHIM/py_b.py"; do
  [ -e "$f" ] || { echo "scripts_pack: missing $f" >&2; exit 2; }
done
work=$(mktemp -d /tmp/msgq-scripts-pack.XXXXXX)
trap 'rm -rf "$work"' EXIT
loaded=$work/loaded
: > "$loaded"

UNSHARE="unshare -i"
[ "$(id -u)" = 0 ] || UNSHARE="unshare -r -i"
# The guest's environment: no locale variables (Python then loads the same encodings).
clean_env() { env -i PATH=/usr/bin:/bin HOME="$work" "$@"; }

# Perl: the program runs through `do`, so its own `use` lines load as usual.
clean_env $UNSHARE "$perl" -e 'my $out = shift; my $prog = shift;
  END { open(my $f, ">>", $out) or die "$out: $!";
        my @maps = grep { !elf($_) } map { m{ (/\S+)$} ? $1 : () }
            do { open(my $m, "<", "/proc/self/maps"); <$m> };
        print $f "$_\n" for grep { defined && -f } values(%INC), @DynaLoader::dl_shared_objects, @maps }
  sub elf { open(my $f, "<", shift) or return 0; read($f, my $b, 4); $b eq "\x7fELF" }
  do $prog; die $@ if $@;' "$loaded" "$SHIM/perl_msg.pl" > "$work/perl.out" 2>&1 ||
  { cat "$work/perl.out" >&2; echo "scripts_pack: perl_msg.pl failed on the host" >&2; exit 1; }

mkdir "$work/hook"
cat > "$work/hook/sitecustomize.py" <<'PY'
import atexit, os, site, sys

def _elf(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def _record():
    hook = os.path.dirname(os.path.abspath(__file__))
    paths = set()
    for m in list(sys.modules.values()):
        for attr in ("__file__", "__cached__"):
            p = getattr(m, attr, None)
            if isinstance(p, str) and os.path.isfile(p):
                paths.add(os.path.abspath(p))
    with open("/proc/self/maps") as maps:
        paths.update(p for p in (line.split(None, 5)[-1].strip() for line in maps)
                     if p.startswith("/") and os.path.isfile(p) and not _elf(p))
    cfg = os.path.join(sys.prefix, "pyvenv.cfg")
    if os.path.isfile(cfg):
        paths.add(cfg)
    for d in site.getsitepackages():
        if os.path.isdir(d):
            paths.update(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".pth"))
    # Not the hook's own directory (the guest has no hook).
    paths.update("dir:" + d for d in sys.path if os.path.isdir(d) and d != hook)
    with open(os.environ["SCRIPTS_PACK_OUT"], "a") as f:
        f.writelines(p + "\n" for p in sorted(paths) if not p.startswith(hook))

atexit.register(_record)
PY
clean_env SCRIPTS_PACK_OUT="$loaded" PYTHONPATH="$work/hook" PY="$py" SHIM="$SHIM" $UNSHARE sh -c '
  cd "$HOME" || exit 1
  "$PY" "$SHIM/py_a.py" > a.out 2>&1 & a=$!; "$PY" "$SHIM/py_b.py" 2>&1; rc=$?
  wait $a || rc=1; cat a.out; exit $rc' > "$work/py.out" 2>&1 ||
  { cat "$work/py.out" >&2; echo "scripts_pack: py_a.py/py_b.py failed on the host" >&2; exit 1; }

{
  echo "# written by tests/kmod/scripts_pack.sh"
  printf '%s\n' "$perl" "$py" "$so" "$SHIM/perl_msg.pl" "$SHIM/py_a.py" "$SHIM/py_b.py" \
    "$ROOT/tests/kmod/perl_msg.expected" "$ROOT/tests/kmod/py_ab.expected"
  sort -u "$loaded"
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "scripts_pack: $(grep -vc '^#' "$out") entries in $out"
