"""The four layer folders install as ``hexkernel.*`` and nothing else lands in site-packages."""

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {
    "hexkernel.core": "core",
    "hexkernel.adapters": "adapters",
    "hexkernel.application": "application",
    "hexkernel.interfaces": "interfaces",
}


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _subpackages():
    found = set()
    for dotted, folder in LAYERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([dotted, *relative.parts]))
    return found


def test_every_subpackage_is_listed_for_the_wheel():
    assert set(_pyproject()["tool"]["setuptools"]["packages"]) == _subpackages()


def test_layer_folders_map_to_the_hexkernel_namespace():
    assert _pyproject()["tool"]["setuptools"]["package-dir"] == LAYERS


def test_each_layer_is_typed():
    for folder in LAYERS.values():
        assert (ROOT / folder / "py.typed").is_file(), folder


def test_bare_layer_names_are_not_importable():
    probe = "import importlib.util as u; print([n for n in LAYERS if u.find_spec(n)])"
    script = probe.replace("LAYERS", repr(list(LAYERS.values())))
    out = subprocess.run(
        [sys.executable, "-P", "-c", script], capture_output=True, text=True, check=True, cwd="/"
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_built_wheel_holds_only_the_hexkernel_namespace(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("hexkernel-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"hexkernel", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    assert "hexkernel/__init__.py" not in names, "hexkernel is a namespace package"
    for dotted in _subpackages():
        assert f"{dotted.replace('.', '/')}/__init__.py" in names, dotted
    for folder in LAYERS.values():
        assert f"hexkernel/{folder}/py.typed" in names
    assert not [n for n in names if "/tests/" in n or n.startswith(("core/", "tests/"))]
    check = subprocess.run(
        [sys.executable, "-m", "check_wheel_contents", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
