"""A Markdown document's title, for sources that serve documents as rows (files, GitHub).

The title is the first `# ` heading outside fenced code (where `#` starts a shell comment),
else the file's name without its extension; a plain text file is always titled by its name.
"""

from __future__ import annotations

from pathlib import PurePath

SUFFIXES = (".md", ".markdown")


def title(content: str, path: PurePath, markdown: bool | None = None) -> str:
    """`markdown` is what a declared format says; None lets the file's extension decide."""
    if markdown is None:
        markdown = path.suffix.lower() in SUFFIXES
    if not markdown:
        return path.stem
    fenced = False
    for line in content.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and line.startswith("# "):
            return line[2:].strip().rstrip("#").strip() or path.stem
    return path.stem
