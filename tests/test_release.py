"""A release is fit to publish: the sdist and the wheel built from this checkout pass
tools/check_dist.py (what the release workflow runs on a version tag), and the version is
written in one place."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import xlsheets

ROOT = Path(__file__).resolve().parent.parent


def test_the_version_is_written_once():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert f"## {xlsheets.__version__}" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def test_release_workflow_builds_checks_tests_and_publishes():
    text = (ROOT / ".github" / "workflows" / "release.yml").read_text(encoding="utf-8")
    for needed in ('tags: ["v*"]', "python -m build", "tools/check_dist.py dist", "rm -rf xlsheets",
                   "XLSHEETS_WHEEL", "id-token: write", "pypa/gh-action-pypi-publish"):
        assert needed in text, needed


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The release workflow's own dist/ (XLSHEETS_WHEEL names it or the wheel in it: its test job
    runs without the checkout's xlsheets/, so nothing can be built there), else a fresh build."""
    given = os.environ.get("XLSHEETS_WHEEL")
    if given:
        folder = Path(given) if Path(given).is_dir() else Path(given).parent
        assert list(folder.glob("*.tar.gz")) and list(folder.glob("*.whl")), f"no sdist and wheel in {folder}"
        return folder
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return out


def test_built_sdist_and_wheel_pass_the_release_check(dist):
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "check_dist.py"), str(dist),
                           f"v{xlsheets.__version__}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "fit to publish" in done.stdout


def test_the_check_refuses_a_tag_that_is_not_the_version(dist):
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "check_dist.py"), str(dist), "v9.9.9"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "the tag says 9.9.9" in done.stderr


def test_the_check_reads_the_version_from_the_sdist_where_the_checkout_has_no_package(dist, tmp_path):
    """The release workflow's test job removes xlsheets/ from the checkout (the tests must import
    the installed wheel) and still runs this check through the tests above."""
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "check_dist.py", tmp_path / "tools" / "check_dist.py")
    for tag, code in ((f"v{xlsheets.__version__}", 0), ("v9.9.9", 1)):
        done = subprocess.run([sys.executable, str(tmp_path / "tools" / "check_dist.py"), str(dist), tag],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == code, done.stderr
    assert f"the tag says 9.9.9 but xlsheets/__init__.py says {xlsheets.__version__}" in done.stderr


def test_ci_workflow_runs_the_readme_test_command():
    ci = (ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    assert "run: bash .ci/run" in ci and 'CI: "true"' in ci
    assert "bash .ci/run" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_check_refuses_a_wheel_that_would_install_a_compiled_dependency_in_pyodide(dist, tmp_path):
    """xlwings Lite (Pyodide) installs every unmarked dependency: python-calamine, compiled, must
    carry sys_platform != "emscripten"."""
    import zipfile
    wheel = next(dist.glob("*.whl"))
    shutil.copy(next(dist.glob("*.tar.gz")), tmp_path)
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(tmp_path / wheel.name, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".dist-info/METADATA"):
                data = data.replace(b'; sys_platform != "emscripten"', b"")
            dst.writestr(info, data)
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "check_dist.py"), str(tmp_path),
                           f"v{xlsheets.__version__}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "python-calamine, which is compiled, in Pyodide too" in done.stderr
