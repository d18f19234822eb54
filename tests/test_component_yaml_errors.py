"""A bad attribute in a ``defs.yaml`` is one error from ``dg check defs``, before any success line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dg_project import defs_folder, dg_project, run_dg


@pytest.mark.dg
@pytest.mark.parametrize(
    ("attribute", "said"),
    [
        ("page_size: 500", "attributes.page_size 500 is greater than the maximum of 200"),
        ("max_concurrency: 0", "attributes.max_concurrency 0 is less than the minimum of 1"),
        ("timeout: 0", "attributes.timeout 0 is less than or equal to the minimum of 0"),
    ],
)
def test_an_out_of_range_attribute_is_one_error_naming_field_and_bound(
    tmp_path: Path, attribute: str, said: str
) -> None:
    project = dg_project(tmp_path)
    (defs_folder(project) / "blooio").mkdir()
    (defs_folder(project) / "blooio" / "defs.yaml").write_text(
        f"type: blooio_dagster.BlooioComponent\nattributes:\n  {attribute}\n"
    )

    checked = run_dg(project, "check", "defs", succeed=False)

    output = checked.stdout + checked.stderr
    assert checked.returncode != 0, output[-3000:]
    assert said in output, output[-3000:]
    assert "validated successfully" not in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert "Stack Trace" not in output, output[-3000:]
