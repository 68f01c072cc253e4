"""Documents as text with where each part came from: :func:`document_files`, :func:`document_parts`.

Markdown and text are read as written; HTML through the Stack Exchange source's text that keeps
paragraphs and code; PDF with pypdf, one part a page (``{"page": n}``, from 1); DOCX with
python-docx, one part a section that a heading starts (``{"section": n, "paragraph": p}``, the
section's first paragraph, both from 1), since a .docx file has no pages until a word processor
lays it out. pypdf and python-docx are the ``documents`` extra, imported only for such a file;
when one is missing, one line says which package to install.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..errors import DataError
from .stackexchange import html_text

READABLE = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx")


def document_files(paths: Iterable[str]) -> list[Path]:
    """The readable files named, folders searched; one line for a path that is not there."""
    found: list[Path] = []
    for name in paths:
        path = Path(name).expanduser()
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in READABLE and p.is_file())
        elif path.is_file():
            if path.suffix.lower() not in READABLE:
                raise DataError(str(path), None, f"cannot read {path.suffix or 'this'} files",
                                f"give {', '.join(READABLE)} files")
            found.append(path)
        else:
            raise DataError(str(path), None, "no such file or folder")
    if not found:
        raise DataError(None, None, "no documents to read", f"give {', '.join(READABLE)} files or folders")
    return found


def document_parts(path: Path) -> list[tuple[dict, str]]:
    """``path``'s text in parts, each with where it is in the file (``{}`` for a whole file)."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return pdf_pages(path)
    if suffix == ".docx":
        return docx_sections(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    return [({}, html_text(text) if suffix in (".html", ".htm") else text)]


def _library(module: str, package: str, path: Path):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise DataError(str(path), None, f"reading {path.suffix} files needs the {package} package",
                        f"pip install {package}, or ffui[documents]") from None


def pdf_pages(path: Path) -> list[tuple[dict, str]]:
    pypdf = _library("pypdf", "pypdf", path)
    try:
        reader = pypdf.PdfReader(str(path))
        if reader.is_encrypted:
            raise DataError(str(path), None, "the PDF is encrypted", "give a copy without a password")
        return [({"page": n}, page.extract_text() or "") for n, page in enumerate(reader.pages, 1)]
    except pypdf.errors.PyPdfError as e:
        raise DataError(str(path), None, f"not a readable PDF ({e})", "open it in a PDF viewer to check") from None


def docx_sections(path: Path) -> list[tuple[dict, str]]:
    docx = _library("docx", "python-docx", path)
    try:
        paragraphs = docx.Document(str(path)).paragraphs
    except Exception as e:  # python-docx raises zipfile, KeyError or its own errors for a bad file
        raise DataError(str(path), None, f"not a readable .docx file ({type(e).__name__})",
                        "open it in a word processor and save it as .docx again") from None
    parts: list[tuple[dict, list[str]]] = []
    for n, para in enumerate(paragraphs, 1):
        heading = (para.style.name if para.style is not None else "").lower().startswith(("heading", "title"))
        if heading or not parts:
            parts.append(({"section": len(parts) + 1, "paragraph": n}, []))
        parts[-1][1].append(para.text)
    return [(where, "\n".join(lines)) for where, lines in parts]
