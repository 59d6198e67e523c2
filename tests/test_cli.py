"""The ``fastwig`` command: every subcommand's output against an oracle (pyBigWig, numpy, the Regions
API), exit statuses (0 ok, 1 error, 2 usage) and one-line error messages without a traceback.

Most calls go through ``fastwig.cli.main(argv)`` in this process (the numba kernels compile once);
a few run the real entry point in a subprocess.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from support import REPO, SHARED_REASON, VOLVOX_DIR

import fastwig
from fastwig.cli import SUBCOMMANDS, main
from fastwig.demo import demo_files

pyBigWig = pytest.importorskip("pyBigWig")

DEMO = demo_files()
AP1, ETS, ACCESS = DEMO["tracks"]["ap1"], DEMO["tracks"]["ets"], DEMO["tracks"]["access"]
PEAKS = DEMO["peaks"]
needs_volvox = pytest.mark.skipif(not VOLVOX_DIR.is_dir(), reason=SHARED_REASON)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_tsv(text: str) -> tuple[list[str], list[list[str]]]:
    lines = [line.split("\t") for line in text.rstrip("\n").split("\n")]
    return lines[0], lines[1:]


# --- help, usage, errors ------------------------------------------------------------------------

@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help_with_examples(capsys, name):
    code, out, err = run(capsys, name, "--help")
    assert code == 0 and err == ""
    assert f"usage: fastwig {name}" in out and "examples:" in out
    assert f"fastwig {name}" in out.split("examples:")[1]


@pytest.mark.parametrize("action", ["threshold", "tile", "split"])
def test_regions_actions_have_help_with_examples(capsys, action):
    code, out, _ = run(capsys, "regions", action, "--help")
    assert code == 0 and f"fastwig regions {action}" in out.split("examples:")[1]


def test_top_level_help_lists_every_subcommand(capsys):
    code, out, _ = run(capsys)
    assert code == 0
    for name in SUBCOMMANDS:
        assert name in out
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"fastwig {fastwig.__version__}"


@pytest.mark.parametrize("argv, message", [
    (["frobnicate"], "invalid choice"),
    (["values", AP1], "required: REGION"),
    (["values", AP1, "chr1:0-10"], "1-based coordinates start at 1"),
    (["values", AP1, "chr1:200-100"], "empty or inverted"),
    (["values", AP1, "chr1:100"], "is not CHROM:START-END"),
    (["values", AP1, "chr1:1-100", "--bin-size", "0"], "--bin-size must be >= 1"),
    (["values", AP1, "chr1:1-100", "-o", "x.csv"], "expected a .tsv or .npy"),
    (["values", AP1, "chr1:1-100", "--stat", "median"], "invalid choice"),
    (["stats", AP1], "--bed"),
    (["regions", "tile", "--sizes", AP1, "--width", "0", "-o", "-"], "--width and --stride must be >= 1"),
    (["regions", "split", PEAKS, "-o", "x.bed"], "at least one --val or --test"),
    (["bench", AP1, "--width", "1000", "--bin-size", "3"], "must divide"),
    (["bench", AP1, "--peers", "figlet"], "unknown peer"),
])
def test_usage_errors_exit_2_with_one_line_on_stderr(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2, err
    assert out == "" and message in err and "Traceback" not in err
    assert err.startswith("fastwig")


@pytest.mark.parametrize("argv, message", [
    (["values", "no/such.bw", "chr1:1-10"], "no/such.bw: no such file"),
    (["values", AP1, "chrZ:1-10"], "no chromosome 'chrZ'"),
    (["values", AP1, "chr1:1-500,000"], "outside"),
    (["values", PEAKS, "chr1:1-10"], "not a bigWig"),
    (["info", PEAKS], "not a bigWig"),
    (["stats", AP1, "--bed", "no/such.bed"], "no/such.bed"),
    (["stats", AP1, "--bed", AP1], "not a text BED file"),
    (["regions", "tile", "--sizes", "no/such.sizes", "--width", "10", "-o", "-"], "no such file"),
])
def test_runtime_errors_exit_1_and_name_the_file(capsys, argv, message):
    code, _out, err = run(capsys, *argv)
    assert code == 1, err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_entry_point_in_a_subprocess(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))

    def call(*argv):
        return subprocess.run([sys.executable, "-m", "fastwig", *argv], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=300, check=False)

    ok = call("values", AP1, "chr1:1,001-1,010")
    assert ok.returncode == 0 and ok.stdout.startswith("chrom\tstart\tend\tdemo_ap1\n"), ok.stderr
    usage = call("values", AP1)
    assert usage.returncode == 2 and "Traceback" not in usage.stderr and "REGION" in usage.stderr
    bad = call("values", str(tmp_path / "missing.bw"), "chr1:1-2")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "missing.bw" in bad.stderr


# --- info -----------------------------------------------------------------------------------------

def test_info_json_against_pybigwig(capsys):
    code, out, _ = run(capsys, "info", AP1, ETS, "--json")
    assert code == 0
    got = json.loads(out)
    for d, path in zip(got, (AP1, ETS)):
        bw = pyBigWig.open(path)
        assert d["format"] == "bigWig" and d["path"] == path
        assert d["chroms"] == bw.chroms()
        h = bw.header()
        assert d["version"] == h["version"] and len(d["zoom_levels"]) == h["nLevels"]
        # the summary from every record (pyBigWig's header() rounds min and max to integers)
        recs = np.array([iv for c in bw.chroms() for iv in (bw.intervals(c) or [])], dtype=np.float64)
        w, v = recs[:, 1] - recs[:, 0], recs[:, 2]
        assert d["summary"]["bases_covered"] == h["nBasesCovered"] == int(w.sum())
        assert d["summary"]["min"] == v.min() and d["summary"]["max"] == v.max()
        assert d["summary"]["sum"] == pytest.approx((w * v).sum(), rel=1e-6)
        assert d["summary"]["mean"] == pytest.approx((w * v).sum() / w.sum(), rel=1e-6)
        std = np.sqrt(((w * v * v).sum() - (w * v).sum() ** 2 / w.sum()) / (w.sum() - 1))
        assert d["summary"]["std"] == pytest.approx(std, rel=1e-4)
        bw.close()


def test_info_text_keeps_todays_lines(capsys):
    code, out, _ = run(capsys, "info", AP1)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"{AP1}: bigWig v4, 4 chromosomes, 2 zoom levels"
    assert lines[1].startswith("  bases covered ")
    assert "  chr1\t400000" in lines and "  chr4\t200000" in lines


@needs_volvox
def test_info_bigbed(capsys):
    path = str(VOLVOX_DIR / "volvox.bb")
    code, out, _ = run(capsys, "info", path, "--json")
    assert code == 0
    (d,) = json.loads(out)
    bb = pyBigWig.open(path)
    assert d["format"] == "bigBed" and d["chroms"] == bb.chroms() and d["field_count"] >= 12
    bb.close()


# --- values ---------------------------------------------------------------------------------------

def _busy_region(path: str) -> tuple[str, int, int]:
    """A 3 kb stretch of chr1 around the first peak (covered and uncovered bases both)."""
    first = fastwig.Regions.from_bed(PEAKS)
    s = int(first.start[first.chrom == "chr1"][0])
    return "chr1", max(s - 1500, 0), max(s - 1500, 0) + 3000


def test_values_per_base_against_pybigwig(capsys, tmp_path):
    chrom, s, e = _busy_region(AP1)
    code, out, _ = run(capsys, "values", AP1, ETS, f"{chrom}:{s + 1:,}-{e:,}")
    assert code == 0
    header, rows = read_tsv(out)
    assert header == ["chrom", "start", "end", "demo_ap1", "demo_ets"]
    assert len(rows) == e - s
    assert [int(r[1]) for r in rows] == list(range(s, e)) and [int(r[2]) for r in rows] == list(range(s + 1, e + 1))
    for col, path in ((3, AP1), (4, ETS)):
        expected = pyBigWig.open(path).values(chrom, s, e, numpy=True).astype(np.float32)
        got = np.array([float(r[col]) for r in rows], dtype=np.float32)
        assert np.array_equal(got, expected, equal_nan=True)
        assert np.isnan(expected).any() and not np.isnan(expected).all()
    # the same bases in 0-based half-open coordinates, and as .npy
    code, out0, _ = run(capsys, "values", AP1, ETS, f"{chrom}:{s}-{e}", "--zero-based")
    assert code == 0 and out0 == out
    code, _, _ = run(capsys, "values", AP1, ETS, f"{chrom}:{s}-{e}", "--zero-based", "-o", tmp_path / "v.npy")
    arr = np.load(tmp_path / "v.npy")
    assert arr.dtype == np.float32 and arr.shape == (2, e - s)
    assert np.array_equal(arr[1], pyBigWig.open(ETS).values(chrom, s, e, numpy=True).astype(np.float32),
                          equal_nan=True)


@pytest.mark.parametrize("stat", ["mean", "max", "min", "sum", "coverage"])
def test_values_bins_against_numpy(capsys, tmp_path, stat):
    chrom, s, e = _busy_region(AP1)
    e -= 7                       # a last bin cut short
    out = tmp_path / "b.tsv"
    code, _, err = run(capsys, "values", AP1, f"{chrom}:{s}-{e}", "--zero-based", "--bin-size", "100",
                       "--stat", stat, "-o", out)
    assert code == 0, err
    _header, rows = read_tsv(out.read_text())
    vals = pyBigWig.open(AP1).values(chrom, s, e, numpy=True).astype(np.float64)
    edges = list(range(s, e, 100)) + [e]
    assert [(int(r[1]), int(r[2])) for r in rows] == list(itertools.pairwise(edges))
    for r, lo, hi in zip(rows, edges[:-1], edges[1:]):
        chunk = vals[lo - s:hi - s]
        ok = chunk[~np.isnan(chunk)]
        if stat == "coverage":
            expected = ok.size / chunk.size
        elif ok.size == 0:
            expected = np.nan
        else:
            expected = {"mean": ok.mean, "max": ok.max, "min": ok.min, "sum": ok.sum}[stat]()
        assert float(r[3]) == pytest.approx(expected, rel=1e-6, nan_ok=True), (lo, hi)


def test_values_fill_and_whole_chromosome(capsys, tmp_path):
    code, _, _ = run(capsys, "values", ACCESS, "chr4", "--fill", "0", "-o", tmp_path / "c.npy")
    arr = np.load(tmp_path / "c.npy")
    expected = np.nan_to_num(pyBigWig.open(ACCESS).values("chr4", 0, 200_000, numpy=True)).astype(np.float32)
    assert code == 0 and arr.shape == (200_000,) and np.array_equal(arr, expected)


# --- stats (bigWigAverageOverBed) -----------------------------------------------------------------

def _bed_rows(path) -> list[list[str]]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        return [line.rstrip("\n").split("\t") for line in fh if line.strip() and not line.startswith(("#", "track"))]


def average_over_bed_reference(bw_path, bed_path) -> list[tuple]:
    """bigWigAverageOverBed's definitions, from pyBigWig's per-base values: size = bases of the
    region (its blocks for BED12), covered = bases with data, sum over them, mean0 = sum / size,
    mean = sum / covered or 0."""
    bw = pyBigWig.open(str(bw_path))
    chroms = bw.chroms()
    out = []
    for f in _bed_rows(bed_path):
        chrom, start, end = f[0], int(f[1]), int(f[2])
        if len(f) >= 12:
            sizes = [int(x) for x in f[10].split(",") if x]
            offs = [int(x) for x in f[11].split(",") if x]
            pieces = [(start + o, start + o + n) for o, n in zip(offs, sizes)]
        else:
            pieces = [(start, end)]
        size = covered = 0
        total = 0.0
        for a, b in pieces:
            size += b - a
            if chrom in chroms and min(b, chroms[chrom]) > max(a, 0):
                v = np.asarray(bw.values(chrom, max(a, 0), min(b, chroms[chrom])), dtype=np.float64)
                covered += int((~np.isnan(v)).sum())
                total += float(np.nansum(v))
        name = f[3] if len(f) > 3 else f"{chrom}:{start}-{end}"
        out.append((name, size, covered, total, total / size if size else np.nan, total / covered if covered else 0.0))
    bw.close()
    return out


def _check_stats(rows, expected):
    assert len(rows) == len(expected)
    for got, exp in zip(rows, expected):
        assert got[0] == exp[0] and int(got[1]) == exp[1] and int(got[2]) == exp[2], (got, exp)
        for g, x in zip(got[3:6], exp[3:6]):
            assert float(g) == pytest.approx(x, rel=1e-5, abs=1e-12), (got, exp)   # %g keeps 6 digits


@pytest.mark.parametrize("span_read", [1, 10**9], ids=["one-span-read", "region-by-region"])
def test_stats_against_bigwigaverageoverbed_definitions(capsys, monkeypatch, span_read):
    import fastwig.cli.stats

    monkeypatch.setattr(fastwig.cli.stats, "SPAN_READ", span_read)
    code, out, _ = run(capsys, "stats", AP1, "--bed", PEAKS, "--quiet")
    assert code == 0
    header, rows = read_tsv(out)
    assert header == ["name", "size", "covered", "sum", "mean0", "mean"]
    expected = average_over_bed_reference(AP1, PEAKS)
    _check_stats(rows, expected)
    assert any(r[2] == 0 for r in expected) and any(0 < r[2] < r[1] for r in expected)


@pytest.mark.parametrize("span_read", [1, 10**9], ids=["one-span-read", "region-by-region"])
@pytest.mark.parametrize("case", ["overlapping", "fixedstep_overlapping", "bedgraph", "big_endian"])
def test_stats_overlapping_records_last_wins(capsys, monkeypatch, tmp_path, span_read, case):
    from edgecases import dense_expected, make_edge_files

    import fastwig.cli.stats

    files = make_edge_files(tmp_path)
    if case not in files:
        pytest.skip(f"no edge case {case!r}")
    path, records = files[case]
    chrom = records[0][0]
    hi = max(e for c, _, e, _ in records if c == chrom) + 5
    bed = tmp_path / "tiles.bed"
    bed.write_text("".join(f"{chrom}\t{s}\t{min(s + 7, hi)}\tr{s}\n" for s in range(0, hi, 5)))
    monkeypatch.setattr(fastwig.cli.stats, "SPAN_READ", span_read)
    code, out, _ = run(capsys, "stats", path, "--bed", bed, "--quiet", "--no-header")
    assert code == 0
    for line, s in zip(out.splitlines(), range(0, hi, 5)):
        e = min(s + 7, hi, fastwig.open(path).chroms[chrom])
        v = dense_expected(records, chrom, s, e).astype(np.float64)
        ok = v[~np.isnan(v)]
        f = line.split("\t")
        assert int(f[2]) == ok.size and float(f[3]) == pytest.approx(ok.sum(), rel=1e-5, abs=1e-9), (s, line)


def test_stats_few_regions_outside_chromosomes_and_several_tracks(capsys, tmp_path):
    bed = tmp_path / "few.bed"
    bed.write_text("chr1\t1000\t5000\n"          # no name: chrom:start-end
                   "chr4\t199000\t201000\tpast_end\n"
                   "chrUn\t0\t100\tnot_in_file\n"
                   "chr2\t100\t100\tempty\n")
    code, out, _ = run(capsys, "stats", AP1, ETS, "--bed", bed, "--quiet", "-o", tmp_path / "s.tsv")
    assert code == 0 and out == ""
    header, rows = read_tsv((tmp_path / "s.tsv").read_text())
    assert header == ["track", "name", "size", "covered", "sum", "mean0", "mean"]
    assert [r[0] for r in rows] == ["demo_ap1"] * 4 + ["demo_ets"] * 4
    for i, path in enumerate((AP1, ETS)):
        expected = average_over_bed_reference(path, bed)
        good = [r[1:] for r in rows[4 * i:4 * i + 3]]
        _check_stats(good, expected[:3])
    assert rows[2][1:] == ["not_in_file", "100", "0", "0", "0", "0"]
    assert rows[3][1:4] == ["empty", "0", "0"]


@needs_volvox
def test_stats_bed12_blocks_and_min_max(capsys, tmp_path):
    bw = VOLVOX_DIR / "volvox-sorted.bam.coverage.bw"
    bed = VOLVOX_DIR / "volvox-bed12.bed.gz"
    code, out, _ = run(capsys, "stats", bw, "--bed", bed, "--quiet", "--min-max", "--no-header")
    assert code == 0
    rows = [line.split("\t") for line in out.rstrip("\n").split("\n")]
    _check_stats(rows, average_over_bed_reference(bw, bed))
    ref = pyBigWig.open(str(bw))
    for row, f in zip(rows, _bed_rows(bed)):
        start = int(f[1])
        vals = np.concatenate([ref.values(f[0], start + int(o), start + int(o) + int(n), numpy=True)
                               for o, n in zip(f[11].split(",")[:int(f[9])], f[10].split(",")[:int(f[9])])])
        ok = vals[~np.isnan(vals)]
        lo, hi = (ok.min(), ok.max()) if ok.size else (0.0, 0.0)
        assert float(row[6]) == pytest.approx(lo, rel=1e-5) and float(row[7]) == pytest.approx(hi, rel=1e-5)


# --- regions --------------------------------------------------------------------------------------

def _bed_tuples(path) -> list[tuple]:
    return [(f[0], int(f[1]), int(f[2])) for f in _bed_rows(path)]


def _tuples(regions) -> list[tuple]:
    return list(zip(regions.chrom.tolist(), regions.start.tolist(), regions.end.tolist()))


def test_regions_threshold_against_numpy(capsys, tmp_path):
    out = tmp_path / "t.bed"
    code, _, err = run(capsys, "regions", "threshold", AP1, ETS, "--above", "20", "--merge-gap", "30",
                       "--min-length", "10", "--quiet", "-o", out)
    assert code == 0 and "wrote" in err
    got = _bed_tuples(out)
    # reference: per-base mask over both tracks from pyBigWig, runs merged across gaps <= 30
    expected = []
    bws = [pyBigWig.open(p) for p in (AP1, ETS)]
    for chrom, n in bws[0].chroms().items():
        mask = np.zeros(n, bool)
        for bw in bws:
            with np.errstate(invalid="ignore"):
                mask |= bw.values(chrom, 0, n, numpy=True) > 20
        edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
        runs = list(zip(edges[::2].tolist(), edges[1::2].tolist()))
        merged = []
        for s, e in runs:
            if merged and s - merged[-1][1] <= 30:
                merged[-1][1] = e
            else:
                merged.append([s, e])
        expected += [(chrom, s, e) for s, e in merged if e - s >= 10]
    assert got == expected and len(got) > 10


def test_regions_tile_exclude_where_and_split(capsys, tmp_path):
    code, _, _ = run(capsys, "regions", "tile", "--sizes", DEMO["fasta"], "--width", "50000", "--stride",
                     "25000", "--exclude", PEAKS, "--where", "chrom != 'chr2'", "-o", tmp_path / "tiles.bed")
    assert code == 0
    sizes = DEMO["chroms"]
    peaks = fastwig.Regions.from_bed(PEAKS)
    expected = fastwig.Regions.tile(sizes, 50000, 25000).exclude(peaks).where("chrom != 'chr2'")
    assert _bed_tuples(tmp_path / "tiles.bed") == _tuples(expected)
    # the same sizes from a bigWig's header
    code, out, _ = run(capsys, "regions", "tile", "--sizes", AP1, "--width", "100000", "-o", "-")
    assert code == 0
    assert [tuple(x.split("\t")[:3]) for x in out.splitlines()] == [
        (c, str(s), str(s + 100000)) for c, n in sizes.items() for s in range(0, n - 100000 + 1, 100000)]
    # split: every row in exactly one table, by chromosome; extra columns kept
    code, _, _ = run(capsys, "regions", "split", PEAKS, "--val", "chr3", "--test", "chr4", "-o",
                       tmp_path / "peaks.bed")
    assert code == 0
    parts = {k: _bed_rows(tmp_path / f"peaks.{k}.bed") for k in ("train", "val", "test")}
    assert {r[0] for r in parts["val"]} == {"chr3"} and {r[0] for r in parts["test"]} == {"chr4"}
    assert {r[0] for r in parts["train"]} == {"chr1", "chr2"}
    assert sorted(tuple(r) for rows in parts.values() for r in rows) == sorted(map(tuple, _bed_rows(PEAKS)))


# --- plot and bench -------------------------------------------------------------------------------

def test_plot_writes_an_image_with_tracks_and_peaks(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    chrom, s, e = _busy_region(AP1)
    out = tmp_path / "locus.svg"
    code, _, err = run(capsys, "plot", AP1, ETS, f"{chrom}:{s + 1}-{e}", "--bed", PEAKS, "-o", out)
    assert code == 0 and "wrote" in err
    svg = out.read_text()
    for text in ("demo_ap1", "demo_ets", "demo_peaks", f"{chrom} position"):
        assert text in svg, text
    png = tmp_path / "wide.png"
    code, _, _ = run(capsys, "plot", AP1, "chr1", "--points", "300", "-o", png)
    from matplotlib.image import imread

    img = imread(png)
    assert code == 0 and img.shape[0] > 100 and img.shape[1] > 100
    assert len(np.unique(img[..., :3].reshape(-1, 3), axis=0)) > 10


def test_bench_reports_fastwig_and_peers(capsys, tmp_path):
    res = tmp_path / "bench.json"
    code, out, _ = run(capsys, "bench", AP1, ETS, "--width", "1000", "--batch", "16", "--batches", "2",
                       "--threads", "1", "--peers", "pyBigWig", "--peer-seconds", "5", "--quiet", "--json", res)
    assert code == 0
    assert "fastwig" in out and "pyBigWig" in out and "windows/s" in out
    d = json.loads(res.read_text())
    assert d["threads"] == 1 and d["width"] == 1000 and d["batch"] == 16
    tools = {r["tool"]: r for r in d["results"]}
    assert tools["fastwig"]["cold_windows_per_s"] > 0 and tools["fastwig"]["warm_windows_per_s"] > 0
    assert tools["pyBigWig"]["windows"] > 0
    code, out, _ = run(capsys, "bench", AP1, "--width", "512", "--bin-size", "128", "--batch", "4", "--batches", "1",
                       "--peers", "none", "--quiet")
    assert code == 0 and "in 128 bp bins" in out and "pyBigWig" not in out


def test_bench_windows_lie_inside_common_chromosomes():
    from fastwig.cli.bench import make_batches

    sizes = {"a": 5000, "b": 1500, "c": 900}
    for chroms, starts in make_batches(sizes, 1000, 64, 3, seed=1):
        assert set(chroms) <= {"a", "b"}
        ends = starts + 1000
        assert (starts >= 0).all() and all(e <= sizes[c] for c, e in zip(chroms, ends))


@needs_volvox
def test_stats_and_plot_take_a_bigbed_of_regions(capsys, tmp_path):
    bw = VOLVOX_DIR / "volvox-sorted.bam.coverage.bw"
    code, from_bb, _ = run(capsys, "stats", bw, "--bed", VOLVOX_DIR / "volvox.bb", "--quiet")
    assert code == 0
    _header, rows = read_tsv(from_bb)
    bb = pyBigWig.open(str(VOLVOX_DIR / "volvox.bb"))
    bed = tmp_path / "from_bb.bed"
    bed.write_text("".join(f"ctgA\t{s}\t{e}\t{rest}\n" for s, e, rest in bb.entries("ctgA", 0, bb.chroms("ctgA"))))
    _check_stats(rows, average_over_bed_reference(bw, bed))
    code, _, _ = run(capsys, "plot", bw, "ctgA:1-20,000", "--bed", VOLVOX_DIR / "volvox.bb", "-o", tmp_path / "p.svg")
    assert code == 0 and "volvox" in (tmp_path / "p.svg").read_text()


def test_import_fastwig_cli_loads_no_heavy_library():
    code = ("import sys, fastwig, fastwig.cli; fastwig.cli.build_parser(); "
            "print(sorted(m for m in ('matplotlib', 'tqdm', 'torch', 'pyfaidx') if m in sys.modules))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                         check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("stat", ["mean0", "covered", "max"])
def test_stats_matrix_of_one_statistic(capsys, stat):
    code, long, _ = run(capsys, "stats", AP1, ETS, "--bed", PEAKS, "--quiet", "--min-max")
    assert code == 0
    header, rows = read_tsv(long)
    col = header.index(stat)
    code, wide, _ = run(capsys, "stats", AP1, ETS, "--bed", PEAKS, "--quiet", "--stat", stat)
    assert code == 0
    wheader, wrows = read_tsv(wide)
    assert wheader == ["name", "demo_ap1", "demo_ets"] and len(wrows) == len(rows) // 2
    by_track = {(r[0], i % len(wrows)): r[col] for i, r in enumerate(rows)}
    for i, r in enumerate(wrows):
        assert r[1:] == [by_track["demo_ap1", i], by_track["demo_ets", i]]


# --- every real file of shared/data ---------------------------------------------------------------

def _real_files():
    from support import file_id, real_bigwigs

    files = real_bigwigs()
    return [pytest.param(p, id=file_id(p)) for p in files] or [
        pytest.param(None, marks=pytest.mark.skip(reason=SHARED_REASON))]


@pytest.mark.parametrize("path", _real_files())
def test_info_values_and_stats_on_every_real_file(capsys, tmp_path, path):
    ref = pyBigWig.open(str(path))
    chroms = ref.chroms()
    code, out, err = run(capsys, "info", path, "--json")
    assert code == 0, err
    (d,) = json.loads(out)
    assert d["chroms"] == chroms
    with_data = [(c, ref.intervals(c)) for c in chroms]
    with_data = [(c, iv) for c, iv in with_data if iv]
    if not with_data:
        return
    chrom, iv = with_data[0]
    mid = iv[len(iv) // 2][0]
    s, e = max(mid - 1000, 0), min(mid + 1000, chroms[chrom])
    code, out, err = run(capsys, "values", path, f"{chrom}:{s}-{e}", "--zero-based", "-o", tmp_path / "v.npy")
    assert code == 0, err
    got = np.load(tmp_path / "v.npy")
    assert np.array_equal(got, np.asarray(ref.values(chrom, s, e), dtype=np.float32), equal_nan=True)
    bed = tmp_path / "r.bed"
    n = chroms[chrom]
    bed.write_text(f"{chrom}\t{s}\t{e}\ta\n{chrom}\t0\t{min(n, 5000)}\tb\n{chrom}\t{max(n - 777, 0)}\t{n}\tc\n")
    code, out, err = run(capsys, "stats", path, "--bed", bed, "--quiet", "--no-header")
    assert code == 0, err
    _check_stats([line.split("\t") for line in out.splitlines()], average_over_bed_reference(path, bed))


@pytest.mark.parametrize("argv, extra", [(["plot", AP1, "chr1:1-1000"], "fastwig[plot]"),
                                         (["demo", "--steps", "1"], "fastwig[demo]")])
def test_missing_optional_library_names_the_extra(capsys, monkeypatch, argv, extra):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    code, _, err = run(capsys, *argv)
    assert code == 1 and "matplotlib" in err and extra in err and "Traceback" not in err
