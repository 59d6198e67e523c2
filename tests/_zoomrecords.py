"""Test-only reader of bigWig zoom (summary) records: ``struct`` + ``zlib``, nothing from fastwig.

pyBigWig does not expose zoom records, and ``fastwig.stats.zoom_stats`` needs them as input, so the
stats tests read them here.  This is deliberately minimal and independent of the fastwig reader (the
reader's ``BigWig._zoom_records(level, chrom, start, end)`` will replace it in the tests later).

Layout read (all fields in the file's byte order, found from the magic):

* header at offset 0 (64 bytes): magic u32, version u16, zoomLevels u16, chromTreeOffset u64,
  fullDataOffset u64, fullIndexOffset u64, fieldCount u16, definedFieldCount u16, autoSqlOffset u64,
  totalSummaryOffset u64, uncompressBufSize u32, reserved u64;
* ``zoomLevels`` zoom headers of 24 bytes after it: reductionLevel u32, reserved u32, dataOffset u64,
  indexOffset u64;
* chromosome B+ tree (32-byte header: magic, blockSize, keySize, valSize u32, itemCount u64,
  reserved u64; nodes: isLeaf u8, reserved u8, count u16, items key[keySize] + chromId u32 + chromSize
  u32 (leaf) or key + childOffset u64 (non-leaf));
* zoom index: cirTree (48-byte header), nodes isLeaf u8, reserved u8, count u16; leaf items
  startChrom, startBase, endChrom, endBase u32 + offset, size u64 (32 bytes); non-leaf items the
  same four u32 + childOffset u64 (24 bytes);
* zoom blocks: zlib streams (raw when uncompressBufSize is 0) of 32-byte records
  chromId, start, end, validCount u32, min, max, sum, sumSquares f32.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

BIGWIG_MAGIC = 0x888FFC26
_ZOOM_RECORD = [("chrom", "u4"), ("start", "u4"), ("end", "u4"), ("valid", "u4"),
                ("min", "f4"), ("max", "f4"), ("sum", "f4"), ("sumsq", "f4")]


class ZoomFile:
    """A bigWig file opened for its zoom records (test helper).

    Parameters
    ----------
    path : str or os.PathLike
        bigWig file.

    Attributes
    ----------
    reductions : list of int
        Reduction level of each zoom level, in header order.
    chrom_ids : dict
        Chromosome name -> chromosome id.
    """

    def __init__(self, path):
        with open(path, "rb") as fh:
            self._buf = fh.read()
        buf = self._buf
        magic_le = struct.unpack_from("<I", buf, 0)[0]
        if magic_le == BIGWIG_MAGIC:
            self._bo = "<"
        elif struct.unpack_from(">I", buf, 0)[0] == BIGWIG_MAGIC:
            self._bo = ">"
        else:
            raise ValueError(f"{path}: not a bigWig file")
        (_, _version, n_zoom, chrom_tree, _full_data, _full_index, _fc, _dfc, _autosql,
         _total, self.uncompress_buf_size, _res) = struct.unpack_from(self._bo + "IHHQQQHHQQIQ", buf, 0)
        self.reductions: list[int] = []
        self._zoom_index: list[int] = []
        for i in range(n_zoom):
            red, _r, _data, index = struct.unpack_from(self._bo + "IIQQ", buf, 64 + 24 * i)
            self.reductions.append(red)
            self._zoom_index.append(index)
        self.chrom_ids: dict[str, int] = {}
        self._read_chrom_tree(chrom_tree)

    # -- chromosome B+ tree ------------------------------------------------------------------------
    def _read_chrom_tree(self, off: int) -> None:
        _magic, _bs, key_size, _val_size, _count, _res = struct.unpack_from(self._bo + "IIIIQQ", self._buf, off)
        self._read_bpt_node(off + 32, key_size)

    def _read_bpt_node(self, off: int, key_size: int) -> None:
        is_leaf, _r, count = struct.unpack_from(self._bo + "BBH", self._buf, off)
        pos = off + 4
        for _ in range(count):
            key = self._buf[pos:pos + key_size].rstrip(b"\0").decode()
            pos += key_size
            if is_leaf:
                cid, _size = struct.unpack_from(self._bo + "II", self._buf, pos)
                self.chrom_ids[key] = cid
                pos += 8
            else:
                (child,) = struct.unpack_from(self._bo + "Q", self._buf, pos)
                pos += 8
                self._read_bpt_node(child, key_size)

    # -- zoom R-tree ---------------------------------------------------------------------------------
    def _blocks(self, node: int, cid: int, start: int, end: int, out: list) -> None:
        is_leaf, _r, count = struct.unpack_from(self._bo + "BBH", self._buf, node)
        pos = node + 4
        for _ in range(count):
            sc, sb, ec, eb = struct.unpack_from(self._bo + "IIII", self._buf, pos)
            overlaps = (sc, sb) < (cid, end) and (ec, eb) > (cid, start)
            if is_leaf:
                off, size = struct.unpack_from(self._bo + "QQ", self._buf, pos + 16)
                pos += 32
                if overlaps:
                    out.append((off, size))
            else:
                (child,) = struct.unpack_from(self._bo + "Q", self._buf, pos + 16)
                pos += 24
                if overlaps:
                    self._blocks(child, cid, start, end, out)

    def records(self, level: int, chrom: str, start: int = 0, end: int = 2**32 - 1):
        """Zoom records of level ``level`` on ``chrom`` that overlap ``[start, end)``, in file order.

        Parameters
        ----------
        level : int
            Index of the zoom level (position in :attr:`reductions`).
        chrom : str
            Chromosome name.
        start, end : int
            Query range, 0-based half-open.

        Returns
        -------
        tuple of numpy.ndarray
            ``(starts uint32, ends uint32, valid_count uint32, min float32, max float32,
            sum float32, sum_squares float32)``, each of shape ``(n,)``.
        """
        cid = self.chrom_ids[chrom]
        blocks: list = []
        self._blocks(self._zoom_index[level] + 48, cid, start, end, blocks)
        parts = []
        for off, size in sorted(set(blocks)):
            raw = self._buf[off:off + size]
            if self.uncompress_buf_size:
                raw = zlib.decompress(raw)
            n = len(raw) // 32
            parts.append(np.frombuffer(raw[:32 * n], dtype=np.dtype(
                [(name, self._bo + t) for name, t in _ZOOM_RECORD])))
        if parts:
            rec = np.concatenate(parts)
        else:
            rec = np.zeros(0, dtype=[(name, "<" + t) for name, t in _ZOOM_RECORD])
        keep = (rec["chrom"] == cid) & (rec["start"] < end) & (rec["end"] > start)
        rec = rec[keep]
        return (rec["start"].astype(np.uint32), rec["end"].astype(np.uint32),
                rec["valid"].astype(np.uint32), rec["min"].astype(np.float32),
                rec["max"].astype(np.float32), rec["sum"].astype(np.float32),
                rec["sumsq"].astype(np.float32))
