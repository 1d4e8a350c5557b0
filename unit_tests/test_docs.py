"""README.md and docs/*.md: every relative link and anchor resolves, the README links every docs page,
and the connector's documentation page (docs/harvest.md) agrees with the catalog, CHANGELOG.md, spec and metadata.

Links and headings come from markdown-it-py (CommonMark), so a code span or a fenced block is never
taken for a link; anchors follow GitHub's rule for heading ids, the ones its Markdown view links to.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from source_harvest.catalog import STREAMS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = (README, *sorted(DOCS.glob("*.md")))
CONNECTOR_DOC = DOCS / "harvest.md"
CONNECTOR_DOC_URL = "https://github.com/source-harvest/source-harvest/blob/main/docs/harvest.md"
# Airbyte's connector pages, in this order (docs.airbyte.com/integrations/sources/<name>).
CONNECTOR_DOC_SECTIONS = ["Prerequisites", "Setup guide", "Supported sync modes", "Supported Streams",
                          "Limitations", "Changelog"]
MARKDOWN = MarkdownIt("commonmark").enable("table")


@cache
def tokens(path: Path) -> tuple[Token, ...]:
    return tuple(MARKDOWN.parse(path.read_text(encoding="utf-8")))


def inline_text(inline: Token) -> str:
    """What an inline run shows: its words and code spans, without the markup around them."""
    return "".join(child.content for child in inline.children or () if child.type in ("text", "code_inline"))


def github_anchor(heading: str) -> str:
    """GitHub's id for a heading: lower case, every character but letters, digits, _, - and space dropped,
    spaces turned into hyphens (so `Seed → Airbyte names` is `seed--airbyte-names`)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings(path: Path, level: str | None = None) -> list[str]:
    """The text of a page's headings, of one level (`h2`) or of all."""
    page = tokens(path)
    return [inline_text(inline) for opening, inline in zip(page, page[1:], strict=False)
            if opening.type == "heading_open" and level in (None, opening.tag)]


def anchors(path: Path) -> set[str]:
    """The heading ids of a page; a repeated heading gets -1, -2, … as on GitHub."""
    seen: Counter[str] = Counter()
    found = set()
    for anchor in map(github_anchor, headings(path)):
        found.add(f"{anchor}-{seen[anchor]}" if seen[anchor] else anchor)
        seen[anchor] += 1
    return found


def inline_links(inline: Token) -> list[str]:
    """The targets of the links and images of one inline run."""
    return [str(child.attrGet("href" if child.type == "link_open" else "src"))
            for child in inline.children or () if child.type in ("link_open", "image")]


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every link and image of a page."""
    return [(block.map[0] + 1 if block.map else 0, target)
            for block in tokens(path) if block.type == "inline" for target in inline_links(block)]


def resolve(path: Path, target: str) -> tuple[Path, str] | None:
    """The file and anchor a relative link points to; None for an absolute URL (https:, mailto:)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    file = (path.parent / unquote(parts.path)).resolve() if parts.path else path.resolve()
    return file, unquote(parts.fragment)


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """One line per relative link of `path` that names no file of the tree, or no heading of its page."""
    problems = []
    for line, target in links(path):
        resolved = resolve(path, target)
        if resolved is None:
            continue
        file, anchor = resolved
        where = f"{path.name}:{line}: ({target})"
        if not file.is_relative_to(root.resolve()) or not file.exists():
            problems.append(f"{where}: no such file in the repository")
        elif anchor and file.suffix != ".md":
            problems.append(f"{where}: an anchor on a file that is not Markdown")
        elif anchor and anchor not in anchors(file):
            problems.append(f"{where}: {file.name} has no heading with the id {anchor!r}")
    return problems


def table_rows(path: Path, section: str) -> list[list[str]]:
    """The body rows of the tables under the heading `section`, each cell as it shows."""
    rows: list[list[str]] = []
    heading, in_body = "", False
    page = tokens(path)
    for index, token in enumerate(page):
        if token.type == "heading_open":
            heading = inline_text(page[index + 1])
        elif heading != section:
            continue
        elif token.type in ("tbody_open", "tbody_close"):
            in_body = token.type == "tbody_open"
        elif in_body and token.type == "tr_open":
            rows.append([])
        elif in_body and token.type == "inline" and page[index - 1].type == "td_open":
            rows[-1].append(inline_text(token))
    return rows


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(page: Path) -> None:
    assert broken_links(page) == []


def test_readme_links_every_docs_page() -> None:
    linked = {resolved[0] for _, target in links(README) if (resolved := resolve(README, target))}
    unlinked = [page.name for page in DOCS.glob("*.md") if page.resolve() not in linked]
    assert unlinked == [], "add these pages to the README's Documentation list"


@pytest.mark.parametrize("page", PAGES[1:], ids=lambda page: page.name)
def test_docs_page_opens_with_a_title_then_a_summary_linking_back_to_the_readme(page: Path) -> None:
    opening = [token for token in tokens(page) if token.type in ("heading_open", "inline")][:3]
    assert [token.type for token in opening[:2]] == ["heading_open", "inline"] and opening[0].tag == "h1"
    summary = opening[2]
    assert summary.map is not None and summary.map[1] - summary.map[0] == 1, "the summary is one line"
    assert (README, "") in [resolve(page, target) for target in inline_links(summary)], "the summary links to ../README.md"


def test_checker_finds_missing_files_and_anchors_and_ignores_code(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\n## Seed → Airbyte names\n\n## `check`\n\n## Notes\n\n## Notes\n", encoding="utf-8")
    (tmp_path / "b.md").write_text(
        "# B\n\n"
        "[ok](a.md#seed--airbyte-names) [ok](a.md#check) [ok](a.md#notes-1) [ok](a.md) [ok](#b) [ok](https://x.test/#y)\n"
        "[bad](a.md#notes-2) [bad](a.md#Check) [bad](missing.md) [bad](#nowhere) [bad](../outside.md)\n"
        "`[code](nowhere.md)`\n\n```\n[fenced](nowhere.md)\n```\n",
        encoding="utf-8",
    )
    (tmp_path.parent / "outside.md").write_text("# outside\n", encoding="utf-8")
    problems = broken_links(tmp_path / "b.md", root=tmp_path)
    assert [problem.split(": ")[1] for problem in problems] == [
        "(a.md#notes-2)", "(a.md#Check)", "(missing.md)", "(#nowhere)", "(../outside.md)"]


def test_connector_doc_has_the_sections_of_airbytes_connector_pages() -> None:
    assert headings(CONNECTOR_DOC, "h2") == CONNECTOR_DOC_SECTIONS


def test_spec_and_metadata_point_at_the_connector_doc() -> None:
    spec = yaml.safe_load((ROOT / "source_harvest" / "spec.yaml").read_text(encoding="utf-8"))
    metadata = yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))["data"]
    assert spec["documentationUrl"] == metadata["documentationUrl"] == CONNECTOR_DOC_URL
    assert ROOT / CONNECTOR_DOC_URL.split("/blob/main/", 1)[1] == CONNECTOR_DOC


def test_connector_doc_lists_every_stream_with_its_cursor() -> None:
    listed = [(row[0], row[2]) for row in table_rows(CONNECTOR_DOC, "Supported Streams")]
    assert [name for name, _ in listed] == [spec.name for spec in STREAMS]
    for (name, cursor), spec in zip(listed, STREAMS, strict=True):
        assert cursor == spec.cursor if spec.cursor else cursor.startswith("— (full refresh"), name


def test_streams_page_lists_every_stream_with_its_primary_key() -> None:
    listed = [(row[0], row[1]) for row in table_rows(DOCS / "streams.md", "Streams")]
    assert listed == [(spec.name, ", ".join(spec.primary_key)) for spec in STREAMS]


def test_connector_doc_changelog_has_every_version_of_changelog_md() -> None:
    versions = [heading.partition(" — ") for heading in headings(ROOT / "CHANGELOG.md", "h2")]
    listed = [(row[0], row[1]) for row in table_rows(CONNECTOR_DOC, "Changelog")]
    assert listed == [(version, date or "—") for version, _, date in versions]
