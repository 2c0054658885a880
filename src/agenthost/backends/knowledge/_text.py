"""Documents to text, text to chunks.

Readable types: plain text (.txt, .text, .rst, .csv, .log), Markdown (.md, .markdown), HTML
(.html, .htm, the readable text as the web tools extract it) and PDF (.pdf, with pypdf). A
document that cannot be read -- an unsupported type, an empty file, a corrupt PDF -- raises
DocumentError naming the file and the reason; callers ingesting many files go on with the rest.

Chunks are about `size` characters, cut at a paragraph, line, sentence or word boundary when one
is near the end, and each starts `overlap` characters before the previous one ended.
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

from agenthost.backends.common.html_text import html_to_text
from agenthost.core.errors import DocumentError

TEXT_SUFFIXES = frozenset({".txt", ".text", ".rst", ".csv", ".log", ".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
PDF_SUFFIXES = frozenset({".pdf"})
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES
_KINDS = {"text/plain": ".txt", "text/markdown": ".md", "text/html": ".html"}
_KINDS |= {"application/xhtml+xml": ".html", "application/pdf": ".pdf"}


def supported(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES


def suffix_for(content_type: str) -> str | None:
    """The suffix a MIME type is read as (None when it is not readable)."""
    return _KINDS.get(content_type.split(";")[0].strip().lower())


def document_text(source: str, data: bytes, suffix: str) -> str:
    """The text of a document's bytes, read by its suffix; DocumentError when it cannot be."""
    suffix = suffix.lower()
    if suffix not in SUFFIXES:
        known = ", ".join(sorted(SUFFIXES))
        raise DocumentError(
            source, f"unsupported type {suffix or '(no suffix)'!r}; readable: {known}"
        )
    if not data.strip():
        raise DocumentError(source, "the file is empty")
    if suffix in PDF_SUFFIXES:
        text = _pdf_text(source, data)
    else:
        text = data.decode("utf-8", errors="replace")
        if suffix in HTML_SUFFIXES:
            text = html_to_text(text)
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise DocumentError(source, "no text could be read from it")
    return text


def _pdf_text(source: str, data: bytes) -> str:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError
    except ImportError:  # pragma: no cover - pypdf ships with the knowledge extra
        raise DocumentError(
            source, "reading PDF needs pypdf: pip install 'agenthost[knowledge]'"
        ) from None
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentError(source, f"not a readable PDF ({type(exc).__name__}: {exc})") from None
    return "\n\n".join(p.strip() for p in pages if p.strip())


def read_file(path: Path) -> str:
    """The text of one file (DocumentError when it cannot be read)."""
    if not supported(path):
        return document_text(str(path), b"", path.suffix)  # raises: unsupported type
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(str(path), f"cannot be read ({exc.strerror or exc})") from None
    return document_text(str(path), data, path.suffix)


_WORD = re.compile(r"\w+", re.UNICODE)
# words too common to say what a question is about (dropped from full-text queries)
_STOP_TEXT = """
a an and are as at be but by can do does for from had has have he her his how i if in is it
its me my no not of on or she so than that the their them then there they this to was we
were what when where which who whom why will with would you your
"""
STOPWORDS = frozenset(_STOP_TEXT.split())


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS}


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_BREAKS = (re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"[.!?]\s"), re.compile(r"\s"))


def chunk_text(text: str, *, size: int = 800, overlap: int = 100) -> list[str]:
    """Cut `text` into chunks of at most `size` characters overlapping by `overlap`."""
    if size <= 0:
        raise ValueError(f"chunk size must be > 0, got {size}")
    if not 0 <= overlap < size:
        raise ValueError(f"chunk overlap must be >= 0 and < size ({size}), got {overlap}")
    text = text.strip()
    chunks: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            end = _boundary(text, start, end, size)
        piece = text[start:end].strip()
        if piece:
            chunks.append(piece)
        if end >= len(text):
            break
        start = max(end - overlap, start + 1)
        while start < end and not text[start - 1].isspace():  # start on a word
            start += 1
    return chunks


def _boundary(text: str, start: int, end: int, size: int) -> int:
    """The last break in the second half of text[start:end], else `end`."""
    floor = start + size // 2
    window = text[floor:end]
    for pattern in _BREAKS:
        found = None
        for found in pattern.finditer(window):  # noqa: B007 - the last match is wanted
            pass
        if found is not None:
            return floor + found.end()
    return end
