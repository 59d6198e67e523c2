"""The layer rules of DESIGN.md, read from the code.

Every ``import`` statement of the package (and every ``importlib.import_module("...")`` /
``__import__("...")`` with a literal name) is parsed with :mod:`ast`, wherever it sits -- deferred
imports inside functions count as much as top-level ones:

- ``kernels/`` (installed as ``fastwig.kernels``) imports nothing from fastwig;
- torch only in the dataset layer and the demo / plotting front ends; pyfaidx only in ``genome``;
  matplotlib only in plotting code; ``numba.cuda`` only behind the GPU drivers and the backend;
- nothing imports a top-level ``kernels`` package: the kernels are ``fastwig.kernels``.

What the rules are for is checked too, in fresh interpreters: ``import fastwig`` and a CPU read load
none of torch, pyfaidx, matplotlib and ``numba.cuda``, and the kernels they run are ``fastwig.kernels``
(no top-level ``kernels`` is installed, so a user's own ``kernels`` package cannot shadow them).
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# heavy or device-bound packages -> the modules allowed to import them (a module or a package prefix)
ALLOWED = {
    "torch": ("fastwig.dataset", "fastwig.demo", "fastwig.cli.demo", "fastwig.cli.plot"),
    "pyfaidx": ("fastwig.genome",),
    "matplotlib": ("fastwig.demo", "fastwig.cli.plot"),
    "numba.cuda": ("fastwig.kernels.cuda", "fastwig.kernels._twin", "fastwig.backend"),
}
HEAVY_AT_IMPORT = ("torch", "pyfaidx", "matplotlib", "numba.cuda")


def _module_name(path: Path) -> str:
    """Dotted name of a package file as installed (``kernels/x.py`` is ``fastwig.kernels.x``)."""
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "kernels":
        parts = ["fastwig", *parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_files() -> list[Path]:
    return sorted((REPO / "fastwig").rglob("*.py")) + sorted((REPO / "kernels").rglob("*.py"))


def imports_of(path: Path) -> list[tuple[int, str]]:
    """``(line, absolute dotted name)`` of every module ``path`` imports, relative imports resolved
    against its installed name, ``from a import b`` giving both ``a`` and ``a.b``."""
    name = _module_name(path)
    is_pkg = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.append((node.lineno, mod))
            found += [(node.lineno, f"{mod}.{alias.name}") for alias in node.names if alias.name != "*"]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and (getattr(node.func, "attr", None) == "import_module"
                   or getattr(node.func, "id", None) in ("__import__", "import_module"))):
            found.append((node.lineno, node.args[0].value))
    return found


def _is_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _violations(rule):
    """``path:line imports name`` for every import of the package that breaks ``rule(module, imported)``."""
    out = []
    for path in _package_files():
        module = _module_name(path)
        for line, imported in imports_of(path):
            if rule(module, imported):
                out.append(f"{path.relative_to(REPO)}:{line} imports {imported}")
    return out


def test_the_rules_read_real_imports():
    """The parser sees deferred, relative and importlib imports (so the rules below can fail)."""
    found = {name for _, name in imports_of(REPO / "fastwig" / "genome.py")}
    assert "pyfaidx" in found                              # deferred, inside a method
    assert "fastwig.kernels.onehot" in {n for _, n in imports_of(REPO / "fastwig" / "_kernels.py")}
    assert any(_is_under(n, "numba.cuda") for _, n in imports_of(REPO / "kernels" / "cuda.py"))


def test_kernels_import_nothing_from_fastwig():
    def breaks(module, imported):
        return (_is_under(module, "fastwig.kernels") and _is_under(imported, "fastwig")
                and not _is_under(imported, "fastwig.kernels"))

    bad = _violations(breaks)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("package", list(ALLOWED))
def test_heavy_imports_stay_in_their_layer(package):
    def breaks(module, imported):
        return _is_under(imported, package) and not any(_is_under(module, p) for p in ALLOWED[package])

    bad = _violations(breaks)
    assert not bad, f"{package} is for {', '.join(ALLOWED[package])} only:\n" + "\n".join(bad)


def _python_files_outside_the_package() -> list[Path]:
    return [p for d in ("tests", "profiling", "scripts", "examples", "docs") for p in sorted((REPO / d).rglob("*.py"))]


def test_nothing_imports_a_top_level_kernels_package():
    """The kernels are ``fastwig.kernels``; a top-level ``kernels`` would be whatever a user's path holds."""
    bad = []
    for path in _package_files() + _python_files_outside_the_package():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            bad += [f"{path.relative_to(REPO)}:{node.lineno} imports {n}" for n in names if _is_under(n, "kernels")]
    assert not bad, "\n".join(bad)


def _fresh_python(code: str, cwd: Path) -> dict:
    """Run ``code`` in a new interpreter (no simulator, no source tree on the path); return its JSON."""
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_ENABLE_CUDASIM", "PYTHONPATH")}
    proc = subprocess.run([sys.executable, "-c", code], check=False, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-6000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


_HYGIENE = """
import json, sys
heavy = {heavy!r}
def loaded():
    return sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy))
import fastwig
report = {{"after_import": loaded()}}
import importlib.resources
bw = importlib.resources.files("fastwig") / "data" / "demo_access.bw"
with fastwig.open(str(bw)) as f:
    chrom = next(iter(f.chroms))
    f.values(chrom, 0, 500)
    f.stats(chrom, 0, 1000, exact=True)
fastwig.read_windows([str(bw)], chrom, [0, 900], 200)
fastwig.read_windows([str(bw)], chrom, [0, 900], 200, bin_size=10, stat="max")
report["after_cpu_read"] = loaded()
import fastwig._kernels as k
report["kernels"] = k.inflate.__name__
report["kernels_file"] = k.inflate.__file__
report["top_level_kernels"] = "kernels" in sys.modules
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def fresh_import(tmp_path_factory):
    """What a fresh interpreter loads for ``import fastwig`` and a few CPU reads of a packaged file."""
    return _fresh_python(_HYGIENE.format(heavy=HEAVY_AT_IMPORT), tmp_path_factory.mktemp("elsewhere"))


def test_import_fastwig_loads_no_torch_pyfaidx_matplotlib_or_cuda(fresh_import):
    assert fresh_import["after_import"] == []


def test_cpu_reads_load_no_torch_pyfaidx_matplotlib_or_cuda(fresh_import):
    """A process that initialised CUDA cannot fork DataLoader workers safely: CPU reads never touch it."""
    assert fresh_import["after_cpu_read"] == []


def test_the_kernels_in_use_are_fastwig_kernels(fresh_import):
    assert fresh_import["kernels"] == "fastwig.kernels.inflate"
    assert Path(fresh_import["kernels_file"]).resolve() == (REPO / "kernels" / "inflate.py").resolve()
    assert not fresh_import["top_level_kernels"]


def test_no_top_level_kernels_is_installed(tmp_path):
    """Outside the source tree ``kernels`` is not importable, and fastwig's metadata names one top-level
    package; the wheel maps the ``kernels/`` folder to ``fastwig.kernels``."""
    got = _fresh_python("import importlib.util, json; print(json.dumps(importlib.util.find_spec('kernels') is None))",
                        tmp_path)
    assert got is True
    top = importlib.metadata.distribution("fastwig").read_text("top_level.txt")
    if top is not None:
        assert top.split() == ["fastwig"]
    assert "fastwig" not in importlib.metadata.packages_distributions().get("kernels", [])


def test_the_wheel_maps_the_kernels_folder_to_fastwig_kernels():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+")
    setup = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setup["package-dir"].get("fastwig.kernels") == "kernels"
    assert "fastwig.kernels" in setup["packages"] and not any(_is_under(p, "kernels") for p in setup["packages"])


def test_the_ci_simulator_run_selects_tests():
    """The CI command's second run, ``pytest -m gpu``, exits 5 if no test carries the marker."""
    marked = []
    for path in sorted((REPO / "tests").glob("test_*.py")):
        text = path.read_text()
        if "pytestmark = pytest.mark.gpu" in text or "@pytest.mark.gpu" in text:
            marked.append(path.name)
    assert {"test_gpu_kernels.py", "test_gpu_cudasim.py", "test_inflate_cudasim.py"} <= set(marked), marked
