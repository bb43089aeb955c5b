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
    home = "https://github.com/opscopilot/opscopilot"
    assert dict(url.split(", ", 1) for url in metadata.get_all("Project-URL")) == {
        "Homepage": home,
        "Source": home,
        "Issues": f"{home}/issues",
        "Documentation": f"{home}/tree/main/docs",
    }


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


# --- the README's `uv tool install` / `pipx install` line, for real ---------------------

_NO_INDEX = (
    "error sending request",
    "failed to fetch",
    "dns error",
    "connection refused",
    "network is unreachable",
    "temporary failure in name resolution",
    "could not find a version",
    "no matching distribution",
    "connecterror",
    "max retries exceeded",
)


def _base_python() -> str:
    """The interpreter this venv was made from (uv and pipx build their own venvs on it)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidate = Path(sys.base_prefix) / "bin" / version
    return str(candidate if candidate.exists() else Path(sys.executable).resolve())


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.pop("OPSCOPILOT_HOME", None)
    return {**env, **extra}


def _installer(name: str, tmp_path: Path) -> Path:
    """`uv` or `pipx` from PyPI, in a venv of its own; skips when the index cannot be had."""
    env_dir = tmp_path / f"{name}-venv"
    venv.EnvBuilder(with_pip=False, clear=True).create(env_dir)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python")),
            *("install", "--quiet", name),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=_clean_env(),
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"cannot install {name} from PyPI here (is the index reachable?): {last}")
    return env_dir / "bin" / name


def _install_or_skip(argv: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        said = (done.stdout + done.stderr).lower()
        if any(sign in said for sign in _NO_INDEX):
            pytest.skip(f"{what} needs PyPI for the wheel's dependencies, unreachable here")
        raise AssertionError(f"{' '.join(argv[:3])} failed:\n{done.stdout}\n{done.stderr}")


def _works_as_the_readme_says(script: Path, prefix: Path, home: Path) -> None:
    """`paths`, `replay <bundled name>`, `batch --sample`: the README's first lines, run by
    the installed console script with nothing of the checkout or this venv in reach."""
    env = {
        "PATH": f"{script.parent}:/usr/bin:/bin",
        "HOME": str(home),
        "OPSCOPILOT_HOME": str(home),
        "LANG": "C.UTF-8",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(script), *args], cwd=home, env=env, capture_output=True, text=True, timeout=240
        )

    where = run("paths", "--json")
    assert where.returncode == 0, where.stderr
    paths = json.loads(where.stdout)
    for key in ("bundled_themes", "bundled_recordings", "sample_tickets"):
        assert paths[key].startswith(str(prefix)) and Path(paths[key]).exists(), (key, paths)
    replayed = run("replay", "01-disk-and-memory", "--headless", "--speed", "max")
    assert replayed.returncode == 0 and "turn completed" in replayed.stdout, replayed.stderr
    # The sample backlog under a small run cap: a few tickets worked, the rest skipped (the
    # whole 120 take a minute on a busy machine; this proves the sample is reachable).
    report = home / "report.jsonl"
    batch = run(
        *("batch", "--sample", "-o", str(report)),
        *("--max-cost", "0.005", "--concurrency", "1", "--quiet"),
    )
    assert batch.returncode == 4, batch.stderr  # the budget stopped work, as asked
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert len(lines) == 120 and lines[0]["status"] == "completed"
    assert {line["status"] for line in lines} <= {"completed", "cut_off", "skipped"}
    assert lines[-1]["status"] == "skipped"


def test_uv_tool_install_of_the_wheel_gives_a_working_opscopilot(wheel: Path, tmp_path: Path):
    uv = _installer("uv", tmp_path)
    tools, bin_dir = tmp_path / "uv-tools", tmp_path / "uv-bin"
    env = _clean_env(
        UV_TOOL_DIR=str(tools),
        UV_TOOL_BIN_DIR=str(bin_dir),
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
    )
    _install_or_skip(
        [str(uv), "tool", "install", "--python", _base_python(), str(wheel)], env, "uv tool install"
    )
    home = tmp_path / "home"
    home.mkdir()
    _works_as_the_readme_says(bin_dir / "opscopilot", tools / "opscopilot", home)


@pytest.mark.slow  # pipx installs the dependencies with pip: a minute or more
def test_pipx_install_of_the_wheel_gives_a_working_opscopilot(wheel: Path, tmp_path: Path):
    pipx = _installer("pipx", tmp_path)
    pipx_home, bin_dir = tmp_path / "pipx-home", tmp_path / "pipx-bin"
    env = _clean_env(
        PIPX_HOME=str(pipx_home), PIPX_BIN_DIR=str(bin_dir), PIPX_MAN_DIR=str(tmp_path / "pipx-man")
    )
    _install_or_skip(
        [str(pipx), "install", "--python", _base_python(), str(wheel)], env, "pipx install"
    )
    home = tmp_path / "home"
    home.mkdir()
    _works_as_the_readme_says(bin_dir / "opscopilot", pipx_home / "venvs" / "opscopilot", home)
