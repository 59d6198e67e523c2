"""Status codes that kernels return instead of raising (a negative int64 is an error).

Kernels cannot raise on the GPU; each per-item function returns a count (>= 0) or one of these codes,
and the host turns the first non-zero code of a batch into an exception (``fastwig.errors``).
"""

OK = 0
# OR-ed into a non-negative inflate result when inflation stopped early (the section may be cut)
EARLY_STOP = 1 << 40
# inflate (RFC 1950 / 1951)
ERR_ZLIB_HEADER = -1        # bad zlib header (CM != 8, FCHECK, preset dictionary)
ERR_BLOCK_TYPE = -2         # deflate block type 3
ERR_STORED_LEN = -3         # stored block LEN != ~NLEN
ERR_HUFFMAN = -4            # invalid or incomplete code lengths, or an undecodable symbol
ERR_DISTANCE = -5           # distance too far back, or an invalid length/distance symbol
ERR_INPUT_END = -6          # compressed input ended before the final block
ERR_OUTPUT_FULL = -7        # output would exceed the block's uncompressed size (uncompressBufSize)
ERR_ADLER = -8              # Adler-32 of the inflated bytes does not match the stream trailer
# section decode
ERR_SECTION_TYPE = -20      # section type not 1 (bedGraph), 2 (varStep) or 3 (fixedStep)
ERR_SECTION_SHORT = -21     # itemCount records do not fit in the block
ERR_RECORD_RANGE = -22      # a record with end < start
ERR_RECORDS_FULL = -23      # more records than the space the host reserved

MESSAGES = {
    ERR_ZLIB_HEADER: "bad zlib stream header",
    ERR_BLOCK_TYPE: "invalid deflate block type",
    ERR_STORED_LEN: "stored deflate block with inconsistent length",
    ERR_HUFFMAN: "invalid Huffman code in deflate stream",
    ERR_DISTANCE: "invalid back-reference in deflate stream",
    ERR_INPUT_END: "compressed block ends early (truncated or corrupt)",
    ERR_OUTPUT_FULL: "block inflates past the header's uncompressBufSize",
    ERR_ADLER: "Adler-32 checksum mismatch (corrupt block)",
    ERR_SECTION_TYPE: "unknown data section type",
    ERR_SECTION_SHORT: "section item count larger than the block",
    ERR_RECORD_RANGE: "record with end before start",
    ERR_RECORDS_FULL: "block holds more records than its size allows",
}


def message(code: int) -> str:
    """Human-readable text of a status code."""
    return MESSAGES.get(int(code), f"kernel status {int(code)}")
