"""Sphinx configuration of fastwig's documentation (build: ``tox -e docs``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("NUMBA_DISABLE_CUDA", "1")   # documenting needs no device

import fastwig

project = "fastwig"
author = "fastwig developers"
copyright = "2026, fastwig developers"
release = version = fastwig.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
templates_path: list[str] = []

autodoc_typehints = "none"            # the numpydoc sections carry types with dtypes and shapes
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
myst_heading_anchors = 3
# profiling/RESULTS.md is a lab notebook included as it is: its heading levels are its own
suppress_warnings = ["myst.header", "myst.xref_missing"]
# no intersphinx: the build runs offline (CI machines, -W) and fetching inventories would warn
html_theme = "alabaster"
html_theme_options = {"description": "bigWig windows and DNA sequence for deep learning", "fixed_sidebar": True}


def _cli_reference(app) -> None:
    """Write every subcommand's --help (with its examples) into _generated/cli_help.rst."""
    from fastwig.cli import SUBCOMMANDS, build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    lines = [".. This file is written by conf.py at build time from ``fastwig COMMAND --help``.", ""]

    def block(title: str, text: str) -> None:
        lines.extend([title, "-" * len(title), "", ".. code-block:: text", ""])
        lines.extend(("   " + line).rstrip() for line in text.splitlines())
        lines.append("")

    block("fastwig", parser.format_help())
    for name in SUBCOMMANDS:
        sub = subparsers.choices[name]
        block(f"fastwig {name}", sub.format_help())
        for action in sub._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for child_name, child in action.choices.items():
                    lines.extend([f"``fastwig {name} {child_name}``", "", ".. code-block:: text", ""])
                    lines.extend(("   " + line).rstrip() for line in child.format_help().splitlines())
                    lines.append("")
    out = HERE / "_generated"
    out.mkdir(exist_ok=True)
    text = "\n".join(lines) + "\n"
    target = out / "cli_help.rst"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


def setup(app):
    os.environ.setdefault("COLUMNS", "100")   # argparse wraps help to the terminal width
    app.connect("builder-inited", _cli_reference)
