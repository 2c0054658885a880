"""HTML to readable text with the stdlib parser: scripts, styles and navigation dropped,
headings kept as '# Title' lines, links as 'text (url)', one blank line between blocks."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP = frozenset({"script", "style", "nav", "noscript", "template", "svg", "head", "iframe"})
_BLOCK = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "footer", "aside", "ul", "ol",
        "li", "table", "tr", "blockquote", "pre", "form", "br", "hr", "dl", "dt", "dd",
        "figure", "figcaption", "h1", "h2", "h3", "h4", "h5", "h6",
    }
)  # fmt: skip
_HEADINGS = {f"h{n}": "#" * n for n in range(1, 7)}
_VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "wbr"})


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skip_depth = 0
        self._in_title = False
        self._href: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in _SKIP and tag not in _VOID:
            self._skip_depth += 1
        if self._skip_depth:
            return
        if tag in _BLOCK:
            self.parts.append("\n\n")
        if tag in _HEADINGS:
            self.parts.append(_HEADINGS[tag] + " ")
        elif tag == "li":
            self.parts.append("- ")
        elif tag == "a":
            self._href.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if self._skip_depth:
            return
        if tag == "a" and self._href:
            href = self._href.pop()
            if href and href.startswith(("http://", "https://", "/")):
                self.parts.append(f" ({href})")
        if tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skip_depth:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The readable text of an HTML page, its <title> first when it has one."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    blocks = []
    for block in re.split(r"\n\s*\n", "".join(parser.parts)):
        line = " ".join(block.split())
        if line and line not in ("-", "#"):
            blocks.append(line)
    title = " ".join("".join(parser.title).split())
    if title and (not blocks or blocks[0].lstrip("# ") != title):
        blocks.insert(0, f"Title: {title}")
    return "\n\n".join(blocks)
