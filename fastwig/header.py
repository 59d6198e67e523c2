"""The common header, zoom headers, total summary and extension header of a bigWig file."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import spec
from .errors import FormatError
from .io import FileSource


@dataclass(frozen=True)
class Header:
    """The fields of the 64-byte common header, plus the byte order they were read in."""

    byte_order: str            # "<" little-endian or ">" big-endian
    version: int
    zoomLevels: int
    chromTreeOffset: int
    fullDataOffset: int
    fullIndexOffset: int
    fieldCount: int
    definedFieldCount: int
    autoSqlOffset: int
    totalSummaryOffset: int
    uncompressBufSize: int     # 0: blocks are stored uncompressed
    extensionOffset: int

    def __getitem__(self, field: str) -> int | str:
        """Fields by name as well, as in ``bw.header["version"]``."""
        try:
            return getattr(self, field)
        except AttributeError:
            raise KeyError(field) from None


class ZoomLevel(int):
    """One zoom level: an ``int``, its reduction (bases per summary record), that also knows where
    the level's data and index lie, so ``bw.zooms`` compares equal to a list of reductions."""

    data_offset: int
    index_offset: int

    def __new__(cls, reduction: int, data_offset: int, index_offset: int) -> "ZoomLevel":
        level = super().__new__(cls, reduction)
        level.data_offset = data_offset
        level.index_offset = index_offset
        return level

    @property
    def reduction(self) -> int:
        return int(self)

    def __repr__(self) -> str:
        return f"ZoomLevel(reduction={int(self)}, data_offset={self.data_offset}, index_offset={self.index_offset})"


@dataclass(frozen=True)
class Summary:
    """The file's total summary over every base that has data."""

    bases_covered: int
    min: float
    max: float
    sum: float
    sum_squares: float

    @property
    def mean(self) -> float:
        return self.sum / self.bases_covered if self.bases_covered else float("nan")


def read_header(src: FileSource, magic: int = spec.BIGWIG_MAGIC) -> Header:
    """Parse and check the common header of a bigWig (or, with ``magic=spec.BIGBED_MAGIC``, a bigBed);
    refuses the other kind and unknown files."""
    kind, other = ("bigBed", "bigWig") if magic == spec.BIGBED_MAGIC else ("bigWig", "bigBed")
    if src.size < spec.HEADER_SIZE:
        raise FormatError(f"{src.path}: {src.size} bytes is too small for a {kind} header (64 bytes)")
    magic_le = int(src.struct(0, np.dtype("<u4"), "magic")[0])
    if magic_le == magic:
        bo = "<"
    elif magic_le == _swap32(magic):
        bo = ">"
    elif magic_le in (spec.BIGBED_MAGIC, _swap32(spec.BIGBED_MAGIC), spec.BIGWIG_MAGIC, _swap32(spec.BIGWIG_MAGIC)):
        raise FormatError(f"{src.path}: this is a {other} file, not a {kind} (fastwig.open opens either kind)")
    else:
        raise FormatError(f"{src.path}: not a {kind} file (magic 0x{magic_le:08x})")
    raw = src.struct(0, spec.header_dtype(bo), "header")[0]
    hdr = Header(byte_order=bo, **{name: int(raw[name]) for name in raw.dtype.names if name != "magic"})
    if not 1 <= hdr.version <= 4:
        raise FormatError(f"{src.path}: unsupported {kind} version {hdr.version}")
    for name in ("chromTreeOffset", "fullIndexOffset"):
        offset = getattr(hdr, name)
        if name == "fullIndexOffset" and offset == 0 and _no_data_blocks(src, hdr):
            continue  # libBigWig's file with chromosomes and no data (pyBigWig: addHeader, then close)
        if not spec.HEADER_SIZE <= offset < src.size:
            raise FormatError(f"{src.path}: header field {name}={offset} points outside the file "
                              f"({src.size} bytes): truncated or corrupt")
    return hdr


def _no_data_blocks(src: FileSource, hdr: Header) -> bool:
    """Whether the data section counts no blocks (its count is 32 bits for kent, 64 for libBigWig:
    both halves must be 0), so that a zero fullIndexOffset means "no data", not a corrupt header."""
    if not spec.HEADER_SIZE <= hdr.fullDataOffset <= src.size - 4:
        return False
    words = min(2, (src.size - hdr.fullDataOffset) // 4)
    return not src.struct(hdr.fullDataOffset, np.dtype(hdr.byte_order + "u4"), "data count", count=words).any()


def read_zoom_levels(src: FileSource, hdr: Header) -> list[ZoomLevel]:
    """The zoom headers that follow the common header, dropping empty slots (offset 0)."""
    if hdr.zoomLevels == 0:
        return []
    raw = src.struct(spec.HEADER_SIZE, spec.zoom_header_dtype(hdr.byte_order), "zoom headers",
                     count=hdr.zoomLevels)
    levels = []
    for rec in raw:
        reduction, data, index = int(rec["reductionLevel"]), int(rec["dataOffset"]), int(rec["indexOffset"])
        if reduction == 0 or index == 0:
            continue  # writers reserve unused slots
        if not (0 < data < src.size and 0 < index < src.size):
            raise FormatError(f"{src.path}: zoom level {reduction} points outside the file")
        levels.append(ZoomLevel(reduction, data, index))
    return levels


def read_summary(src: FileSource, hdr: Header) -> Summary | None:
    """The total summary, or None where the file has none (version 1, or offset 0)."""
    if hdr.totalSummaryOffset == 0:
        return None
    rec = src.struct(hdr.totalSummaryOffset, spec.total_summary_dtype(hdr.byte_order), "total summary")[0]
    covered = int(rec["basesCovered"])
    if covered == 0:  # no data: libBigWig stores min = DBL_MAX, max = 0
        return Summary(0, float("nan"), float("nan"), 0.0, 0.0)
    return Summary(covered, float(rec["minVal"]), float(rec["maxVal"]), float(rec["sumData"]),
                   float(rec["sumSquares"]))


def read_extension(src: FileSource, hdr: Header) -> dict | None:
    """The extension header's fields (version 4 writers), or None."""
    if hdr.extensionOffset == 0:
        return None
    rec = src.struct(hdr.extensionOffset, spec.extension_header_dtype(hdr.byte_order), "extension header")[0]
    return {name: int(rec[name]) for name in rec.dtype.names}


def _swap32(x: int) -> int:
    return int.from_bytes(x.to_bytes(4, "little"), "big")
