"""HTML and Markdown building blocks shared by the run report, `texplain compare` and the sections other
packages add to the report (human_eval's ratings): images inlined as data URIs, tables, badges.
Cells given to ``table_html`` are HTML already (escape before); ``table_md`` escapes its own cells.
"""

from __future__ import annotations

import base64
import mimetypes
from html import escape
from pathlib import Path
from typing import Any


def data_uri(path: Path) -> str | None:
    """The file as a base64 data URI (so report.html needs nothing beside it), or None if it is missing."""
    path = Path(path)
    if not path.is_file():
        return None
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def img_html(path: Path | None, alt: str) -> str:
    uri = data_uri(path) if path is not None else None
    if uri is None:
        return f'<div class="missing">image not found:<br>{escape(str(path))}</div>'
    return f'<img src="{uri}" alt="{escape(alt)}" loading="lazy">'


def table_html(header: list[str] | None, rows: list[list[str]], numeric: set[int] = frozenset(), css: str = "", cell_css: dict[int, str] | None = None) -> str:
    """Rows are HTML already (escape before); columns in `numeric` are right-aligned; no header row
    when `header` is None (key-value tables)."""
    cell_css = dict(cell_css or {})
    for i in numeric:
        cell_css[i] = (cell_css.get(i, "") + " num").strip()

    def cell(tag: str, i: int, content: str) -> str:
        return f'<{tag} class="{cell_css[i]}">{content}</{tag}>' if i in cell_css else f"<{tag}>{content}</{tag}>"

    head = "<thead><tr>" + "".join(cell("th", i, h) for i, h in enumerate(header)) + "</tr></thead>" if header else ""
    body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f'<table class="{css}">{head}<tbody>{body}</tbody></table>' if css else f"<table>{head}<tbody>{body}</tbody></table>"


def md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def table_md(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def badge(text: str, title: str = "", ok: bool = False) -> str:
    return f'<span class="badge{" ok" if ok else ""}" title="{escape(title)}">{escape(text)}</span>'
