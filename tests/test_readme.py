"""The README's Python blocks run as written (on the demo data embedded in the package), and its
two fresh-machine commands name things that exist.

A block preceded by ``<!-- readme-test: skip (why) -->`` is not run (it needs torchrun or a GPU).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
_BLOCK = re.compile(r"(<!-- readme-test: skip[^>]*-->\s*\n)?```(\w+)\n(.*?)```", re.DOTALL)


def blocks(lang: str) -> list[tuple[int, str, bool]]:
    """(line number, code, skipped) of every ``lang`` block of the README."""
    out = []
    for m in _BLOCK.finditer(README):
        if m[2] == lang:
            out.append((README[:m.start(2)].count("\n") + 1, m[3], m[1] is not None))
    return out


PYTHON = blocks("python")


def test_readme_has_runnable_python_blocks():
    assert sum(not skip for _, _, skip in PYTHON) >= 4


@pytest.mark.parametrize("line, code, skip", PYTHON, ids=[f"line{n}" for n, _, _ in PYTHON])
def test_readme_python_block_runs(line, code, skip, tmp_path, monkeypatch, capsys):
    if skip:
        compile(code, f"README.md:{line}", "exec")   # still valid Python
        pytest.skip("marked readme-test: skip")
    if "torch" in code:
        pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "__readme__"})  # noqa: S102 - the point of the test


def test_readme_fresh_machine_commands():
    (bash,) = [code for _, code, _ in blocks("bash") if "fresh" in code or "pip install" in code][:1]
    commands = [c for c in bash.splitlines() if c and not c.startswith("#")]
    assert commands == [
        'python -m pip install ".[demo]" -c .ci/constraints.txt && fastwig demo',
        'python -m pip install -e ".[test,torch,cuda]" -c .ci/constraints.txt && python -m pytest -q'
        ' && NUMBA_ENABLE_CUDASIM=1 FASTWIG_GPU_TPB=2 FASTWIG_GPU_MAX_BLOCKS=2 python -m pytest -q -m gpu',
    ]
    assert commands[1] in (REPO / ".ci" / "run").read_text().splitlines()      # CI runs the README's command
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = meta["optional-dependencies"]
    names = {re.split(r"[<>=\[ ]", d)[0].lower() for d in extras["demo"]}
    assert {"torch", "matplotlib"} <= names               # what `fastwig demo` imports
    assert {"test", "torch", "cuda"} <= set(extras)
    assert meta["scripts"]["fastwig"] == "fastwig.__main__:main"
    assert (REPO / ".ci" / "constraints.txt").is_file()


def test_readme_command_line_lists_every_subcommand():
    from fastwig.cli import SUBCOMMANDS

    text = "\n".join(code for _, code, _ in blocks("bash"))
    for name in SUBCOMMANDS:
        assert f"fastwig {name}" in text, name


def test_every_subpackage_is_installed_by_a_non_editable_install():
    """The README's first command installs a wheel: every package under fastwig/ must be listed."""
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "fastwig").rglob("__init__.py")
             if "__pycache__" not in p.parts}
    assert found - listed == set()
    assert "fastwig.kernels" in listed


def test_docs_training_recipes_run_in_order(tmp_path, monkeypatch):
    """docs/training.rst's Python blocks run one after the other in one namespace (all but DDP's)."""
    pytest.importorskip("torch")
    import textwrap

    text = (REPO / "docs" / "training.rst").read_text()
    found = re.findall(r"\.\. code-block:: python\n\n((?:(?:   .*)?\n)+)", text)
    assert len(found) >= 5
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    ran = 0
    for code in found:
        code = textwrap.dedent(code)
        if "init_process_group" in code:       # needs torchrun: examples/train_ddp.py is run instead
            continue
        exec(compile(code, "docs/training.rst", "exec"), namespace)  # noqa: S102 - the point of the test
        ran += 1
    assert ran >= 4 and namespace["batch"]["labels"].shape == (64, 1)
