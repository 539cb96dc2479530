"""The documentation: a README short enough to read first, and pages that hold together.

Covered: README.md is at most 300 lines; every relative link in README.md and docs/ points
at a file of the repository that exists, and a link to a heading (`page.md#heading`, or
`#heading` on the same page) at a heading that page has; no page cites a specification or
a folder outside the repository.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[2]
README: Final = ROOT / "README.md"
PAGES: Final = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES: Final = 300
FORBIDDEN: Final = ("SPEC §", "../shared")

_FENCED = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[ \t]*$", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _prose(text: str) -> str:
    """The page without its code: code blocks, then inline code, blanked out."""
    return _INLINE_CODE.sub("", _FENCED.sub("", text))


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text, lowercased, punctuation dropped."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of a Markdown page; repeated headings get -1, -2, … as on GitHub."""
    seen: Counter[str] = Counter()
    found = set()
    for heading in _HEADING.findall(_FENCED.sub("", page.read_text(encoding="utf-8"))):
        slug = _slug(heading)
        found.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return found


def relative_links(page: Path) -> list[str]:
    """The link targets of a page that are not URLs (http:, mailto: …)."""
    targets = _LINK.findall(_prose(page.read_text(encoding="utf-8")))
    return [target for target in targets if not _SCHEME.match(target)]


def broken(page: Path, target: str) -> str | None:
    """Why `target`, linked from `page`, leads nowhere; None when it resolves."""
    path, _, anchor = target.partition("#")
    file = (page.parent / path).resolve() if path else page
    if not file.is_relative_to(ROOT):
        return f"{target}: outside the repository"
    if not file.exists():
        return f"{target}: no such file"
    if anchor and file.suffix == ".md" and anchor not in anchors(file):
        return f"{target}: {file.relative_to(ROOT)} has no heading #{anchor}"
    return None


def test_the_readme_is_at_most_300_lines() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines; keep it at {README_MAX_LINES} or fewer and move the "
        "rest into docs/"
    )


def test_the_readme_links_every_page_of_docs() -> None:
    linked = {
        (README.parent / target.partition("#")[0]).resolve() for target in relative_links(README)
    }
    assert [page.name for page in PAGES[1:] if page not in linked] == []


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page: Path) -> None:
    problems = [problem for target in relative_links(page) if (problem := broken(page, target))]
    assert problems == [], f"{page.relative_to(ROOT)}: " + "; ".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_no_page_cites_anything_outside_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert [word for word in FORBIDDEN if word in text] == []


def test_the_link_check_finds_a_broken_file_and_a_broken_heading(tmp_path: Path) -> None:
    page = ROOT / "docs" / "configuration.md"
    assert broken(page, "operations.md#leader-election") is None
    assert broken(page, "#value-mapping") is None
    assert broken(page, "nowhere.md") == "nowhere.md: no such file"
    assert broken(page, "operations.md#nowhere") == (
        "operations.md#nowhere: docs/operations.md has no heading #nowhere"
    )
    assert broken(page, "../../outside.md") == "../../outside.md: outside the repository"
    sample = tmp_path / "sample.md"
    sample.write_text(
        "# Use `mqtt-kube rbac`: least RBAC\n## Twice\n## Twice\n```sh\n# not a heading\n```\n"
        "See [a](#twice-1), `[b](c.md)` and [d](https://example.com).\n",
        encoding="utf-8",
    )
    assert anchors(sample) == {"use-mqtt-kube-rbac-least-rbac", "twice", "twice-1"}
    assert relative_links(sample) == ["#twice-1"]
