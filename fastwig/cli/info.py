"""``fastwig info``: what a bigWig (or bigBed) file holds -- chromosomes, zoom levels, summary."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from ._common import file_kind, open_bigbed, open_bigwig

HELP = "describe bigWig and bigBed files (chromosomes, zoom levels, summary)"
DESCRIPTION = ("Print each file's format and version, its chromosomes and their lengths, its zoom levels and the "
               "summary stored in its header (bases covered, min, max, mean, standard deviation).")
EXAMPLES = """
    fastwig info signal.bw
    fastwig info *.bw --json > tracks.json      # every chromosome, machine-readable
    """


def add_arguments(p) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="bigWig or bigBed files")
    p.add_argument("--json", action="store_true", help="one JSON object per file, in a list, on stdout")
    p.add_argument("--chroms", type=int, default=20, metavar="N",
                   help="chromosomes listed in the text output (default 20; --json lists all)")


def _summary(s) -> dict[str, Any]:
    n = int(s.bases_covered)
    mean = s.sum / n if n else math.nan
    var = (s.sum_squares - s.sum * s.sum / n) / (n - 1) if n > 1 else math.nan
    return {"bases_covered": n, "min": float(s.min), "max": float(s.max), "sum": float(s.sum),
            "mean": float(mean), "std": math.sqrt(max(var, 0.0)) if not math.isnan(var) else math.nan}


def describe(path: str) -> dict[str, Any]:
    """A file's description as a dict (what ``--json`` prints for it)."""
    kind = file_kind(path)
    f = open_bigbed(path) if kind == "bigbed" else open_bigwig(path)
    try:
        h = f.header
        out: dict[str, Any] = {"path": path, "format": "bigBed" if kind == "bigbed" else "bigWig",
                               "version": int(h.version), "byte_order": "little" if h.byte_order == "<" else "big",
                               "compressed": bool(h.uncompressBufSize)}
        if kind == "bigbed":
            out["field_count"] = int(h.fieldCount)
            out["defined_field_count"] = int(h.definedFieldCount)
            autosql = getattr(f, "autosql", None)
            if callable(autosql):
                autosql = autosql()
            if autosql:
                out["autosql"] = str(autosql)
        out["zoom_levels"] = [int(z) for z in getattr(f, "zooms", [])]
        out["summary"] = _summary(f.summary)
        out["chroms"] = dict(f.chroms)
        return out
    finally:
        f.close()


def _number(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:g}"


def _print_text(d: dict[str, Any], n_chroms: int, out) -> None:
    chroms = d["chroms"]
    print(f"{d['path']}: {d['format']} v{d['version']}, {len(chroms)} chromosomes, "
          f"{len(d['zoom_levels'])} zoom levels", file=out)
    s = d["summary"]
    print(f"  bases covered {s['bases_covered']:,}, min {_number(s['min'])}, max {_number(s['max'])}, "
          f"mean {_number(s['mean'])}, std {_number(s['std'])}", file=out)
    if d["zoom_levels"]:
        print("  zoom reductions (bp): " + ", ".join(f"{z:,}" for z in d["zoom_levels"]), file=out)
    if "field_count" in d:
        print(f"  BED fields: {d['field_count']} ({d['defined_field_count']} standard)", file=out)
    for name, length in list(chroms.items())[:n_chroms]:
        print(f"  {name}\t{length}", file=out)
    if len(chroms) > n_chroms:
        print(f"  ... {len(chroms) - n_chroms} more", file=out)


def run(args) -> int:
    described = [describe(p) for p in args.files]
    if args.json:
        for d in described:   # JSON has no NaN: null instead (an empty file's min, max, mean)
            d["summary"] = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d["summary"].items()}
        json.dump(described, sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    else:
        for d in described:
            _print_text(d, max(args.chroms, 0), sys.stdout)
    return 0
