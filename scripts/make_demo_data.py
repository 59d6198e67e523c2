#!/usr/bin/env python
"""Generate the demo data embedded in the package (``fastwig/data/``), deterministically.

    python scripts/make_demo_data.py            # writes fastwig/data/demo.*
    python scripts/make_demo_data.py --out DIR  # somewhere else

A synthetic assembly ("demo") of four chromosomes (1.15 Mb in all) whose signal tracks depend on the
sequence, so that a small convolutional network can learn to predict them:

- sequence: GC content varying in 5-40 kb "isochores" (35-62% GC), about 8% soft-masked (lowercase)
  stretches, one run of N per chromosome, and two planted motifs: ``TGACTCA`` (an AP-1-like site,
  its own reverse complement up to one base) and ``CCGGAAGT`` (an ETS-like site, planted on either
  strand);
- ``demo_ap1.bw``: a peak (Gaussian, sd 60 bp) at every occurrence of TGACTCA/TGAGTCA, planted or
  by chance, its height growing with the number of sites within 150 bp;
- ``demo_ets.bw``: a peak (sd 80 bp) centred 40 bp downstream (on the site's strand) of every
  CCGGAAGT on either strand;
- ``demo_access.bw``: a smooth "accessibility" signal rising with GC content over 500 bp, with smaller
  peaks at both kinds of sites;
- every track carries multiplicative Gamma noise and is stored as 10 bp (peaks) or 20 bp (accessibility)
  bedGraph/fixedStep records with values rounded to 1/32, through :mod:`fastwig.writer`;
- ``demo_peaks.bed``: BED6 peak calls (either TF track above 2.0, merged within 50 bp), named
  ``ap1_*``/``ets_*``, score 0-1000;
- ``demo.json``: what is where, the motifs, the held-out chromosome (``chr4``) and the seed.

Everything is drawn from ``numpy.random.default_rng(SEED)``: the files are identical on every run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fastwig.writer import FixedStep, write_bigwig

SEED = 20240611
CHROMS = {"chr1": 400_000, "chr2": 300_000, "chr3": 250_000, "chr4": 200_000}
HELD_OUT = "chr4"
MOTIF_A = "TGACTCA"
MOTIF_B = "CCGGAAGT"
LINE = 60
_COMP = bytes.maketrans(b"ACGTacgtNn", b"TGCAtgcaNn")


def revcomp(s: str) -> str:
    return s.encode().translate(_COMP)[::-1].decode()


def make_sequence(rng: np.random.Generator, length: int) -> bytearray:
    """Bases with isochore GC content, planted motifs, soft-masked stretches and one N run."""
    # isochores: GC fraction per segment
    gc = np.empty(length)
    pos = 0
    while pos < length:
        seg = int(rng.integers(5_000, 40_000))
        gc[pos:pos + seg] = rng.uniform(0.35, 0.62)
        pos += seg
    u = rng.random(length)
    at = (1 - gc) / 2
    codes = np.where(u < at, 0, np.where(u < 0.5, 1, np.where(u < 0.5 + gc / 2, 2, 3)))
    seq = bytearray(np.frombuffer(b"ATCG", dtype=np.uint8)[codes].tobytes())
    # planted motifs, in clusters of 1-3 sites
    for motif, every in ((MOTIF_A, 3_000), (MOTIF_B, 4_000)):
        n_clusters = length // every
        for c in rng.integers(200, length - 400, size=n_clusters):
            for k in range(int(rng.integers(1, 4))):
                site = motif if rng.random() < 0.5 else revcomp(motif)
                p = int(c) + k * int(rng.integers(15, 60))
                seq[p:p + len(site)] = site.encode()
    # soft-masked repeats (lowercase): bases all the same, as in real assemblies
    n_rep = length // 25_000
    for s in rng.integers(0, length - 2_000, size=n_rep):
        e = int(s) + int(rng.integers(300, 2_000))
        seq[int(s):e] = seq[int(s):e].lower()
    # one assembly gap
    g = int(rng.integers(length // 4, 3 * length // 4))
    seq[g:g + 3_000] = b"N" * 3_000
    return seq


def find_sites(seq: bytes, motif: str) -> tuple[np.ndarray, np.ndarray]:
    """Starts and strands (+1/-1) of a motif on both strands (case-insensitive, overlaps included)."""
    up = seq.upper()
    starts, strands = [], []
    for site, strand in ((motif, 1), (revcomp(motif), -1)):
        i = up.find(site.encode())
        while i >= 0:
            starts.append(i)
            strands.append(strand)
            i = up.find(site.encode(), i + 1)
    order = np.argsort(starts, kind="stable")
    return np.array(starts, dtype=np.int64)[order], np.array(strands, dtype=np.int64)[order]


def peaks(length: int, centres: np.ndarray, heights: np.ndarray, sd: float) -> np.ndarray:
    """Sum of Gaussian bumps, per base."""
    out = np.zeros(length)
    half = int(4 * sd)
    x = np.arange(-half, half + 1)
    bump = np.exp(-0.5 * (x / sd) ** 2)
    for c, h in zip(centres.tolist(), heights.tolist()):
        lo, hi = c - half, c + half + 1
        a, b = max(lo, 0), min(hi, length)
        if b > a:
            out[a:b] += h * bump[a - lo:b - lo]
    return out


def binned(signal: np.ndarray, width: int) -> np.ndarray:
    n = signal.size // width
    return signal[: n * width].reshape(n, width).mean(axis=1)


def quantise(x: np.ndarray) -> np.ndarray:
    return (np.round(x * 32) / 32).astype(np.float32)


def make_tracks(rng, seq: bytes) -> dict[str, np.ndarray]:
    length = len(seq)
    a_st, _ = find_sites(seq, MOTIF_A)
    b_st, b_strand = find_sites(seq, MOTIF_B)
    a_c = a_st + len(MOTIF_A) // 2
    if a_c.size:  # cooperativity: more sites nearby, higher peaks
        near = np.searchsorted(a_c, a_c + 150) - np.searchsorted(a_c, a_c - 150)
    else:
        near = np.zeros(0)
    ap1 = peaks(length, a_c, 6.0 * (1 + 0.5 * (near - 1)), 60.0)
    b_c = b_st + len(MOTIF_B) // 2 + 40 * b_strand
    ets = peaks(length, b_c, np.full(b_c.size, 8.0), 80.0)
    up = np.frombuffer(seq.upper(), dtype=np.uint8)
    is_gc = ((up == ord("G")) | (up == ord("C"))).astype(np.float64)
    kernel = np.ones(500) / 500
    gc500 = np.convolve(is_gc, kernel, mode="same")
    access = np.clip(6.0 * (gc500 - 0.35), 0, None) + 0.3 * ap1 + 0.3 * ets
    is_n = up == ord("N")
    tracks = {"ap1": ap1, "ets": ets, "access": access}
    for t in tracks.values():
        t[is_n] = 0.0
        t *= rng.gamma(20.0, 1 / 20.0, size=t.size)  # multiplicative noise per base
    return tracks


def write_fasta(path: Path, seqs: dict[str, bytes]) -> None:
    with open(path, "wb") as fh:
        for name, s in seqs.items():
            fh.write(b">" + name.encode() + b"\n")
            fh.writelines(s[i:i + LINE] + b"\n" for i in range(0, len(s), LINE))
    # the .fai index, as samtools/pyfaidx write it (written after the FASTA, so it is newer)
    offset = 0
    lines = []
    with open(path, "rb") as fh:
        data = fh.read()
    for name, s in seqs.items():
        offset = data.index(b">" + name.encode() + b"\n", offset) + len(name) + 2
        lines.append(f"{name}\t{len(s)}\t{offset}\t{LINE}\t{LINE + 1}\n")
        offset += len(s) + (len(s) + LINE - 1) // LINE
    fai = path.with_name(path.name + ".fai")
    fai.write_text("".join(lines))
    st = os.stat(path)
    os.utime(fai, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "fastwig" / "data"), help="output folder")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)

    seqs: dict[str, bytes] = {}
    tracks: dict[str, dict[str, np.ndarray]] = {"ap1": {}, "ets": {}, "access": {}}
    for chrom, length in CHROMS.items():
        s = bytes(make_sequence(rng, length))
        seqs[chrom] = s
        for name, t in make_tracks(rng, s).items():
            tracks[name][chrom] = t
    write_fasta(out / "demo.fa", seqs)

    files = {}
    for name, per_chrom in tracks.items():
        width = 20 if name == "access" else 10
        sections = []
        for chrom, t in per_chrom.items():
            v = quantise(binned(t, width))
            if name == "access":
                sections.append(FixedStep(chrom, 0, width, width, v))
            else:  # sparse: only runs of bins above 0.05, as fixedStep sections
                keep = v >= 0.0625
                d = np.diff(keep.astype(np.int8), prepend=0, append=0)
                for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
                    sections.append(FixedStep(chrom, int(a) * width, width, width, v[a:b]))
        path = out / f"demo_{name}.bw"
        write_bigwig(path, CHROMS, sections, compress_level=9, zoom_levels=2)
        files[name] = path.name

    # peak calls: either TF track above 2.0 on 10 bp bins, merged within 50 bp
    rows = []
    for chrom in CHROMS:
        for name, sd in (("ap1", 60), ("ets", 80)):
            v = binned(tracks[name][chrom], 10)
            above = v > 2.0
            d = np.diff(above.astype(np.int8), prepend=0, append=0)
            st, en = np.flatnonzero(d == 1) * 10, np.flatnonzero(d == -1) * 10
            if st.size:
                gap = st[1:] - en[:-1] > 50
                first = np.concatenate(([0], np.flatnonzero(gap) + 1))
                last = np.concatenate((np.flatnonzero(gap), [st.size - 1]))
                for k, (a, b) in enumerate(zip(st[first], en[last])):
                    score = int(min(1000, 100 * v[a // 10:b // 10].max()))
                    rows.append((chrom, int(a), int(b), f"{name}_{chrom}_{k}", score, "."))
    rows.sort(key=lambda r: (list(CHROMS).index(r[0]), r[1], r[2]))
    with open(out / "demo_peaks.bed", "w") as fh:
        fh.writelines("\t".join(map(str, r)) + "\n" for r in rows)

    meta = {
        "description": "fastwig demo data: a synthetic 4-chromosome assembly whose tracks depend on "
                       "sequence motifs (generated by scripts/make_demo_data.py)",
        "seed": SEED,
        "fasta": "demo.fa",
        "chroms": CHROMS,
        "held_out": HELD_OUT,
        "tracks": files,
        "peaks": "demo_peaks.bed",
        "motifs": {"ap1": MOTIF_A, "ets": MOTIF_B},
    }
    (out / "demo.json").write_text(json.dumps(meta, indent=2) + "\n")
    total = sum(p.stat().st_size for p in out.glob("demo*"))
    print(f"wrote {len(list(out.glob('demo*')))} files, {total / 1e6:.2f} MB, {len(rows)} peaks -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
