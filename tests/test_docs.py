"""The Sphinx site in docs/ builds with warnings as errors (as ``tox -e docs`` builds it)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from support import REPO


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    for mod in ("sphinx", "numpydoc", "myst_parser"):
        pytest.importorskip(mod, reason=f"{mod} (the docs extra) is not installed")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           str(REPO / "docs"), str(tmp_path / "html")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "html" / "index.html").is_file()
    assert "read_windows" in (tmp_path / "html" / "api.html").read_text()
