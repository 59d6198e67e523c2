"""``fastwig convert``: bedGraph to bigWig, read back by pyBigWig; errors name the file and the problem."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from fastwig.cli import main

pyBigWig = pytest.importorskip("pyBigWig")


def _write(path, text, gz=False):
    data = text.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return str(path)


@pytest.mark.parametrize("gz", [False, True])
def test_convert_reads_back_with_pybigwig(tmp_path, gz):
    rng = np.random.default_rng(3)
    lines, want = ["track type=bedGraph", "# a comment"], {}
    for chrom, size in (("chr1", 50_000), ("chr2", 20_000)):
        starts = np.sort(rng.choice(size // 10, 300, replace=False)) * 10
        ends = starts + rng.integers(1, 10, starts.size)
        vals = np.round(rng.normal(size=starts.size), 3).astype(np.float32)
        want[chrom] = (starts, ends, vals)
        lines += [f"{chrom}\t{s}\t{e}\t{v}" for s, e, v in zip(starts, ends, vals)]
    bg = _write(tmp_path / ("in.bedGraph.gz" if gz else "in.bedGraph"), "\n".join(lines) + "\n", gz)
    sizes = _write(tmp_path / "chrom.sizes", "chr1\t50000\nchr2\t20000\nchr3\t1000\n")
    out = str(tmp_path / "out.bw")
    assert main(["convert", bg, sizes, out, "--zoom-levels", "4"]) == 0
    bw = pyBigWig.open(out)
    assert bw.chroms() == {"chr1": 50_000, "chr2": 20_000, "chr3": 1000}
    for chrom, (starts, ends, vals) in want.items():
        got = np.array(bw.intervals(chrom))
        assert np.array_equal(got[:, 0], starts) and np.array_equal(got[:, 1], ends)
        assert np.array_equal(got[:, 2].astype(np.float32), vals)
    assert bw.intervals("chr3") is None


def test_convert_errors(tmp_path, capsys):
    sizes = _write(tmp_path / "chrom.sizes", "chr1\t1000\n")
    unknown = _write(tmp_path / "a.bedGraph", "chrZ\t0\t10\t1.0\n")
    assert main(["convert", unknown, sizes, str(tmp_path / "a.bw")]) == 1
    assert "chrZ" in capsys.readouterr().err
    unsorted = _write(tmp_path / "b.bedGraph", "chr1\t50\t60\t1.0\nchr1\t10\t20\t2.0\n")
    assert main(["convert", unsorted, sizes, str(tmp_path / "b.bw")]) == 1
    err = capsys.readouterr().err
    assert "b.bw" in err or "b.bedGraph" in err
    assert "before" in err
    text = _write(tmp_path / "c.bedGraph", "chr1\t0\t10\tup\n")
    assert main(["convert", text, sizes, str(tmp_path / "c.bw")]) == 1
    assert "numeric 4th column" in capsys.readouterr().err
    assert main(["convert", text]) == 2
