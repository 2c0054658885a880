from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from tests.unit.backends.knowledge.pdfs import text_pdf

from agenthost.backends.knowledge._text import chunk_text, document_text, read_file
from agenthost.core.errors import DocumentError


def test_chunks_respect_size_and_overlap() -> None:
    text = " ".join(f"word{i}" for i in range(400))
    chunks = chunk_text(text, size=200, overlap=50)
    assert all(len(c) <= 200 for c in chunks)
    assert len(chunks) > 10
    for left, right in itertools.pairwise(chunks):
        head = right.split()[0]
        assert head in left  # each chunk starts inside its predecessor (the overlap)
    words = {w for c in chunks for w in c.split()}
    assert words == set(text.split())  # nothing lost


def test_chunks_cut_at_paragraphs_when_they_can() -> None:
    text = ("A" * 120 + ".\n\n") + ("B" * 120 + ".\n\n") + "C" * 100
    chunks = chunk_text(text, size=200, overlap=0)
    assert chunks[0] == "A" * 120 + "."


def test_bad_chunk_options_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        chunk_text("x", size=100, overlap=100)


def test_markdown_html_and_pdf_are_read(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Title\n\nSome *markdown*.")
    (tmp_path / "b.html").write_text(
        "<html><head><script>var x</script></head><body><h1>Hi</h1><p>Body text</p></body></html>"
    )
    (tmp_path / "c.pdf").write_bytes(text_pdf("Refunds take five working days."))
    assert "Some *markdown*." in read_file(tmp_path / "a.md")
    html = read_file(tmp_path / "b.html")
    assert "# Hi" in html and "Body text" in html and "var x" not in html
    assert "Refunds take five working days." in read_file(tmp_path / "c.pdf")


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.md", b"  \n\n ", "empty"),
        ("broken.pdf", b"%PDF-1.4\nthis is not a pdf body", "not a readable PDF"),
        ("picture.png", b"\x89PNG....", "unsupported type '.png'"),
    ],
)
def test_unreadable_documents_name_the_file_and_reason(
    tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DocumentError, match=reason) as info:
        read_file(path)
    assert info.value.source == str(path)


def test_document_text_by_type() -> None:
    assert document_text("x", b"<p>hi</p>", ".html") == "hi"
