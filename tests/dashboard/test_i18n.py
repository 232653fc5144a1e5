"""Every string a person reads goes through the catalogs, and Simplified Chinese has them all.

The templates are read with Jinja's own lexer: text outside ``{% trans %}`` blocks and outside
``{{ ... }}`` is parsed as HTML, and no text node (and no ``title``, ``aria-label``, ``alt`` or
``placeholder``) may hold a word; code samples inside ``<code>`` are exempt.
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from aidmp.dashboard.i18n import CATALOGS, Formats, translations
from aidmp.dashboard.web import TEMPLATES, environment

WORD = re.compile(r"[A-Za-z]{2,}|[\u4e00-\u9fff]")
CHECKED_ATTRS = {"title", "aria-label", "alt", "placeholder"}
ALLOWED = {"aidmp"}  # the product's name, written the same in every language
PO = CATALOGS / "zh_Hans" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")


class _Text(HTMLParser):
    """Collects text nodes and checked attributes outside <code>, <script> and <style>."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("code", "script", "style"):
            self.skip += 1
        for name, value in attrs:
            if name in CHECKED_ATTRS and value:
                self.found.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("code", "script", "style") and self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.found.append(data)


def untranslated(source: str) -> list[str]:
    """Words a template shows that no gettext call wraps."""
    env = environment("en")
    plain: list[str] = []
    in_trans = 0
    block: list[str] = []
    for _, kind, value in env.lex(source):
        if kind in ("block_begin", "variable_begin", "comment_begin"):
            block = [kind]
        elif kind == "name" and block == ["block_begin"]:
            if value == "trans":
                in_trans += 1
            elif value == "endtrans":
                in_trans -= 1
            block.append(value)
        elif kind == "variable_begin":
            pass
        elif kind == "data" and not in_trans:
            plain.append(value)
        elif kind == "variable_end":
            plain.append("\x00")  # an expression's value: never literal text
    parser = _Text()
    parser.feed("".join(plain))
    parser.close()
    texts = [t.replace("\x00", " ").strip() for t in parser.found]
    return [t for t in texts if WORD.search(t) and t not in ALLOWED]


@pytest.mark.parametrize("template", sorted(p.relative_to(TEMPLATES).as_posix()
                                            for p in TEMPLATES.rglob("*.html")))
def test_template_has_no_untranslated_text(template: str) -> None:
    source = (TEMPLATES / template).read_text()
    assert untranslated(source) == []


def test_the_check_finds_untranslated_text() -> None:
    assert untranslated("<p>Hello {{ _('World') }}</p>") == ["Hello"]
    assert untranslated('<input aria-label="Search">') == ["Search"]
    assert untranslated("<p>{{ _('Hello') }} <code>age > 3</code> {{ n }} \u00b7 \u2013</p>") == []
    assert untranslated("{% trans %}Hello{% endtrans %}") == []


def _msgids() -> set[str]:
    """Every msgid in the dashboard's Python code and templates, extracted as pybabel does."""
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n",
                                        "trim_blocks": "true", "lstrip_blocks": "true"}}
    root = Path(__file__).parents[2] / "src" / "aidmp" / "dashboard"
    ids = set()
    for _, _, message, _, _ in extract_from_dir(str(root), method_map, options):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def test_every_msgid_has_a_chinese_translation() -> None:
    catalog = read_po(PO.open("rb"), locale="zh_Hans")
    translated = {m.id: m.string for m in catalog if m.id and not m.fuzzy}
    ids = _msgids()
    assert len(ids) > 250
    missing = sorted(i for i in ids if not translated.get(i))
    assert missing == []
    # placeholders survive translation (a lost %(n)s would raise at render time)
    for msgid in ids:
        assert sorted(re.findall(r"%\(\w+\)s", msgid)) == sorted(
            re.findall(r"%\(\w+\)s", translated[msgid])), msgid


def test_the_compiled_catalog_matches_the_po_file() -> None:
    po = {m.id: m.string for m in read_po(PO.open("rb"), locale="zh_Hans") if m.id}
    mo = {m.id: m.string for m in read_mo(io.BytesIO(MO.read_bytes())) if m.id}
    assert mo == po
    assert translations("zh_Hans").gettext("Overview") == "概览"


def test_pages_render_in_chinese_with_chinese_numbers_and_dates() -> None:
    html = environment("zh_Hans").get_template("login.html").render(
        viewer=None, path="/login", nav=[], next="/", csrf="t", error="refused")
    assert "登录" in html and "此密钥未知或已被吊销。" in html
    assert '<html lang="zh-Hans">' in html
    assert Formats("zh_Hans").compact(123456) == "12.3万"
    assert Formats("en").compact(123456) == "123.5K"
    from datetime import date
    assert Formats("zh_Hans").date(date(2026, 12, 7)) == "2026年12月7日"
    assert Formats("en").date(date(2026, 12, 7)) == "Dec 7, 2026"
