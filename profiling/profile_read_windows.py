"""Line profile of fastwig.read_windows' host-side pipeline on the sparse workload.

    python profiling/profile_read_windows.py                       # cold, threads=1, 10 batches
    python profiling/profile_read_windows.py --mode warm --rounds 20
    python profiling/profile_read_windows.py --out read_windows.lprof   # then: python -m line_profiler read_windows.lprof
    kernprof -l profiling/profile_read_windows.py                  # also works: uses kernprof's profiler

Every plain-Python function and method defined in fastwig/batch.py, fastwig/blocks.py and
fastwig/backend.py (the list can be changed with --modules) is added to the profiler by walking the
modules, so the script keeps working as functions are renamed or added. Numba-compiled functions
(dispatchers) are listed as skipped: line_profiler cannot see inside compiled kernels (DESIGN.md: use
NUMBA_DISABLE_JIT=1 for hit counts there, or time stages).

Workload (profiling/workload.py): 8 tracks, sparse batches of 256 x 1,000 bp windows, each window in its
own 100 kb stretch. cold: every round opens fresh fastwig.open objects and reads a batch of genome parts
never read before; warm: the same readers and the same batch each round. The JIT is compiled before
profiling on windows no profiled batch touches. Line timings are per thread: with --threads > 1, work
done on pool threads is not traced, so threads=1 is the default.
"""

from __future__ import annotations

import argparse
import builtins
import importlib
import inspect
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload as wl

DEFAULT_MODULES = ["fastwig.batch", "fastwig.blocks", "fastwig.backend"]


def functions_of(module):
    """(qualified name, function) for every plain function and method defined in the module itself."""
    found = []

    def add(name, obj):
        obj = inspect.unwrap(obj) if inspect.isfunction(obj) else obj
        if inspect.isfunction(obj) and obj.__module__ == module.__name__:
            found.append((name, obj))
            return True
        return False

    skipped = []
    for name, obj in vars(module).items():
        if inspect.isclass(obj) and obj.__module__ == module.__name__:
            for attr, member in vars(obj).items():
                qual = f"{name}.{attr}"
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if isinstance(member, property):
                    for part, fn in (("fget", member.fget), ("fset", member.fset)):
                        if fn is not None:
                            add(f"{qual}.{part}", fn)
                    continue
                add(qual, member)
        elif inspect.isfunction(obj):
            add(name, obj)
        elif getattr(obj, "py_func", None) is not None and getattr(obj.py_func, "__module__", None) == module.__name__:
            skipped.append(name)                  # numba dispatcher: compiled, not line-profilable
    return found, skipped


def make_profiler(modules):
    from line_profiler import LineProfiler

    prof = getattr(builtins, "profile", None)      # kernprof -l installs one
    if not isinstance(prof, LineProfiler):
        prof = LineProfiler()
    added = []
    for name in modules:
        mod = importlib.import_module(name)
        fns, skipped = functions_of(mod)
        for qual, fn in fns:
            prof.add_function(fn)
            added.append(f"{name}.{qual}")
        if skipped:
            print(f"{name}: compiled (not line-profiled): {', '.join(skipped)}")
    return prof, added


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=["cold", "warm"], default="cold")
    ap.add_argument("--rounds", type=int, default=10, help="batches (cold: at most 11)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--modules", nargs="+", default=DEFAULT_MODULES)
    ap.add_argument("--out", help="also dump the stats to this .lprof file")
    ap.add_argument("--unit", type=float, default=1e-3, help="output unit in seconds (default ms)")
    ap.add_argument("--data", default=None, help="workload folder (default $FASTWIG_BENCH_DATA or ~/.cache/fastwig-bench)")
    args = ap.parse_args(argv)

    try:
        import fastwig
    except ImportError:
        sys.path.append(str(Path(__file__).resolve().parent.parent))   # run from a source checkout
    try:
        import fastwig
        read_windows = fastwig.read_windows
    except (ImportError, AttributeError) as e:
        sys.exit(f"fastwig.read_windows is not available yet: {e}")

    work = wl.ensure_workload(args.data, verbose=True)
    paths = work.paths
    n_cold = wl.max_sparse_batches(work.chrom_sizes)
    batches = wl.sparse_batches(work.chrom_sizes, n_cold, seed=1)
    if args.mode == "cold" and args.rounds > n_cold - 1:
        sys.exit(f"cold mode has at most {n_cold - 1} fresh batches")
    warm_batch = batches[-1]

    def read(bws, w, out):
        return read_windows(bws, w.chroms, w.starts, w.width, threads=args.threads, out=out)

    def round_(i, bws=None):
        w = batches[i] if args.mode == "cold" else warm_batch
        out = np.empty((len(w), len(paths), w.width), dtype=np.float32)
        if bws is not None:
            return read(bws, w, out)
        opened = [fastwig.open(p) for p in paths]
        try:
            return read(opened, w, out)
        finally:
            for b in opened:
                getattr(b, "close", lambda: None)()

    # JIT compile on windows no profiled batch reads (a dense stretch).
    warm = wl.dense_batch(work.chrom_sizes, n=64, seed=99)
    read([fastwig.open(p) for p in paths], warm, None)

    prof, added = make_profiler(args.modules)
    print(f"profiling {len(added)} functions: {', '.join(a.split('.', 1)[1] for a in added)}")

    keep = None
    if args.mode == "warm":
        keep = [fastwig.open(p) for p in paths]
        round_(0, keep)                           # epoch 1, not profiled

    times = []
    prof.enable_by_count()
    try:
        for i in range(args.rounds):
            t0 = time.perf_counter()
            round_(i, keep)
            times.append(time.perf_counter() - t0)
    finally:
        prof.disable_by_count()

    n_tw = len(warm_batch) * len(paths)
    mean = float(np.mean(times))
    print(f"\n{args.mode}, threads={args.threads}, {args.rounds} rounds of {len(warm_batch)} windows x "
          f"{len(paths)} tracks: {mean * 1e3:.1f} ms/batch under the profiler "
          f"({n_tw / mean:,.0f} track-windows/s; unprofiled runs are faster)\n")
    prof.print_stats(output_unit=args.unit, stripzeros=True)
    if args.out:
        prof.dump_stats(args.out)
        print(f"stats written to {args.out} (python -m line_profiler {args.out})")


if __name__ == "__main__":
    main()
