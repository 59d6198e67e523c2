"""Region tables: intervals with any extra columns, read from BED, filtered with SQL, tiled, derived
from signal, split by chromosome.

Rooms of this package:

- :mod:`.table` -- :class:`Regions`, the table itself (construction, columns and rows, queries);
- :mod:`.columns` -- coercion of user input to the table's arrays, columns of rows and tiles;
- :mod:`.io` -- readers of region files (BED; chromosome sizes); BED-like readers go here or beside it,
  as :mod:`.bigbed` (bigBed files through :class:`fastwig.BigBed`) does;
- :mod:`.threshold` -- regions where tracks exceed a threshold (the one room that reads signal);
- :mod:`.sql` -- ``WHERE`` filters through sqlite3;
- :mod:`.overlap` -- :class:`OverlapIndex`, the one interval-overlap index (tables and the dataset).
"""

from __future__ import annotations

from .columns import BED_COLUMNS
from .io import read_chrom_sizes
from .overlap import OverlapIndex
from .table import Regions

__all__ = ["BED_COLUMNS", "OverlapIndex", "Regions", "read_chrom_sizes"]
