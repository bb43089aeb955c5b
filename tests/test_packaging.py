"""themes/ and recordings/ sit at the top of the repository and must ship inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_built_wheel_carries_themes_and_recordings_and_finds_them(tmp_path: Path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("opscopilot-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    for folder in ("themes", "recordings"):
        shipped = sorted(p.name for p in (ROOT / folder).iterdir() if p.is_file())
        assert shipped, f"{folder}/ is empty"
        for name in shipped:
            assert f"opscopilot/_bundled/{folder}/{name}" in names

    code = (
        "from opscopilot.config import bundled_dir\n"
        "print(bundled_dir('themes')); print(bundled_dir('recordings'))\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(tmp_path / 'site')!r})\n" + code,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    themes, recordings = result.stdout.split()
    assert themes.startswith(str(tmp_path / "site"))
    assert recordings.startswith(str(tmp_path / "site"))
    assert any(Path(themes).iterdir())
