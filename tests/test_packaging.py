"""The built wheel, installed into a fresh virtual environment the way `pipx install` or
`uv tool install` would (its own venv, a console script), works away from the checkout:
metadata declares what it runs on, the bundled themes, recordings and sample tickets are
found, and the commands a newcomer tries first work."""

from __future__ import annotations

import email
import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"),
            *("--quiet", "-w", str(dist), str(ROOT)),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = dist.glob("opscopilot-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding the wheel; its dependencies are read from this environment's
    site-packages through a .pth line (no network), which never activates the editable
    install of the checkout (a .pth named by another .pth is not processed)."""
    env_dir = tmp_path_factory.mktemp("tool-venv")
    venv.EnvBuilder(with_pip=False, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python), "install"),
            *("--no-deps", "--no-index", "--quiet", str(wheel)),
        ],
        check=True,
        capture_output=True,
    )
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "dependencies-from-test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir


def tool(env_dir: Path, *args: str, home: Path, **kw) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{env_dir / 'bin'}:/usr/bin:/bin",
        "OPSCOPILOT_HOME": str(home),
        "HOME": str(home),
        "LANG": "C.UTF-8",
    }
    return subprocess.run(
        [str(env_dir / "bin" / "opscopilot"), *args],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def test_the_wheel_carries_themes_recordings_sample_tickets_and_its_metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(metadata_name))
    for folder in ("themes", "recordings"):
        shipped = sorted(p.name for p in (ROOT / folder).iterdir() if p.is_file())
        assert shipped, f"{folder}/ is empty"
        for name in shipped:
            assert f"opscopilot/_bundled/{folder}/{name}" in names
    assert "opscopilot/batch/sample/tickets.jsonl" in names
    classifiers = metadata.get_all("Classifier")
    assert "Operating System :: POSIX :: Linux" in classifiers
    assert metadata["License-Expression"] == "MIT"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    requires = metadata.get_all("Requires-Dist")
    assert "pydantic>=2.10" in requires


def test_installed_in_its_own_venv_the_console_script_finds_everything(
    installed: Path, tmp_path: Path
):
    home = tmp_path / "home"
    home.mkdir()
    version = tool(installed, "--version", home=home)
    assert version.returncode == 0 and version.stdout.startswith("opscopilot, version")

    shown = tool(installed, "paths", "--json", home=home)
    assert shown.returncode == 0, shown.stderr
    where = json.loads(shown.stdout)
    assert where["config"] == str(home / "config.toml")
    for key in ("bundled_themes", "bundled_recordings", "sample_tickets"):
        assert where[key].startswith(str(installed)), (key, where[key])
        assert Path(where[key]).exists(), key

    replayed = tool(
        installed, "replay", "01-disk-and-memory", "--headless", "--speed", "max", home=home
    )
    assert replayed.returncode == 0, replayed.stderr
    assert "turn completed" in replayed.stdout

    probe = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import opscopilot; print(opscopilot.__file__)"],
        cwd=home,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert probe.stdout.startswith(str(installed)), probe.stdout  # the wheel, not the checkout
    assert os.path.isdir(where["bundled_themes"])
