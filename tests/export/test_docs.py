"""docs/exports.md shows the exact CSV headers the code writes."""

from __future__ import annotations

from support import REPO

from envoylog.export import COLUMNS, ExportKind

DOC = (REPO / "docs" / "exports.md").read_text()


def test_the_docs_show_every_header_line() -> None:
    for kind in (ExportKind.DAILY, ExportKind.INVERTERS):
        header = ",".join(c.name for c in COLUMNS[kind])
        assert f"\n{header}\n" in DOC, kind


def test_the_docs_explain_every_column() -> None:
    for kind in ExportKind:
        for column in COLUMNS[kind]:
            assert f"`{column.name}`" in DOC, column.name
