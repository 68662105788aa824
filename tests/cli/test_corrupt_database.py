"""A damaged database file is reported, not a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_a_corrupt_sqlite_file_gives_a_clear_message(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "algovisor.db").write_bytes(b"this is not a database" * 100)

    result = subprocess.run(
        [sys.executable, "-m", "algovisor", "--data-dir", str(data_dir), "strategy", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "file is not a database" in result.stderr
    assert "restore it from a backup" in result.stderr
