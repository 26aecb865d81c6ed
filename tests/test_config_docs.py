"""docs/configuration.md's reference is the one scripts/gen_config_docs.py writes from the
settings: a setting added, renamed or given another default without regenerating fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.settings import SETTINGS
from scripts import gen_config_docs

DOC = gen_config_docs.DOC


def test_the_committed_reference_is_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    code = gen_config_docs.main(["--check"])
    assert code == 0, capsys.readouterr().err


def test_every_setting_is_in_the_reference() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [s.variable for s in SETTINGS if f"| `{s.path}` | `{s.variable}` |" not in text]
    assert not missing


def test_a_drifted_reference_fails_the_check_and_says_what_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drifted = tmp_path / "configuration.md"
    text = DOC.read_text(encoding="utf-8")
    drifted.write_text(text.replace("`1000`", "`999`", 1), encoding="utf-8")
    assert gen_config_docs.main(["--check", "--path", str(drifted)]) == 1
    err = capsys.readouterr().err
    assert "out of date" in err and "python scripts/gen_config_docs.py" in err
    assert gen_config_docs.main(["--path", str(drifted)]) == 0
    assert drifted.read_text(encoding="utf-8") == text


def test_hand_written_prose_is_kept_and_missing_markers_are_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "configuration.md"
    doc.write_text(
        f"# Mine\n\nbefore\n{gen_config_docs.BEGIN}\nstale\n{gen_config_docs.END}\nafter\n",
        encoding="utf-8",
    )
    assert gen_config_docs.main(["--path", str(doc)]) == 0
    written = doc.read_text(encoding="utf-8")
    assert written.startswith("# Mine\n\nbefore\n") and written.endswith("after\n")
    assert "stale" not in written and "`DHGW_LISTEN`" in written
    doc.write_text("# no markers\n", encoding="utf-8")
    assert gen_config_docs.main(["--check", "--path", str(doc)]) == 1
    assert "markers are missing" in capsys.readouterr().err
