"""A bulletin's blocks (layout.py) as Markdown and as PDF, per language, with the charts as
PNG files beside the Markdown and inside the PDF.

Files in `out`: `bulletin_<daily|monthly>_<label>_<lang>.md` and `.pdf`, the charts in
`charts/<file name without .md>/<station>_<what>.png` (one folder per language: the charts'
titles are in the bulletin's language). The PDF uses a TrueType font with the Vietnamese
letters (DejaVu Sans, Debian's fonts-dejavu-core, which scripts/setup installs).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from fpdf.errors import FPDFException

from collector.report import charts, layout
from quantrac_common.files import write_atomic

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}


class ReportError(RuntimeError):
    """A bulletin could not be written (no font, a folder that cannot be written)."""


def stem(doc: dict[str, Any], lang: str) -> str:
    return f"bulletin_{doc['kind']}_{doc['label']}_{lang}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


Draw = Callable[[str], bytes]


def markdown(blocks: list[layout.Block], draw: Draw, chart_dir: Path, rel: str) -> str:
    lines: list[str] = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            lines += ["#" * int(b.kind[1]) + " " + b.text, ""]
        elif b.kind == "p":
            lines += [b.text, ""]
        elif b.kind == "table":
            assert b.head is not None and b.rows is not None
            lines.append("| " + " | ".join(_cell(h) for h in b.head) + " |")
            lines.append("|" + "---|" * len(b.head))
            lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in b.rows]
            lines.append("")
        elif b.kind == "chart":
            name = b.chart.replace("/", "_") + ".png"
            write_atomic(chart_dir / name, draw(b.chart))
            lines += [f"![{b.chart}]({rel}/{name})", ""]
    return "\n".join(lines)


def widths(rows: list[list[str]]) -> tuple[float, ...]:
    """Columns as wide as their longest word or text (within bounds; fpdf2 scales them to the
    page): a rule id or a time is never broken, a long text wraps at its spaces."""
    out = []
    for col in zip(*rows, strict=True):
        word = max((len(w) for c in col for w in c.split()), default=1)
        out.append(float(min(max(word + 1, max(len(c) for c in col) * 0.6, 4), 60)))
    return tuple(out)


def pdf(blocks: list[layout.Block], draw: Draw) -> bytes:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    for f in FONTS.values():
        if not (FONT_DIR / f).is_file():
            raise ReportError(f"{FONT_DIR / f}: missing; the PDF needs a font with the "
                              "Vietnamese letters (Debian package fonts-dejavu-core; "
                              "scripts/setup installs it)")
    p = FPDF(orientation="L", format="A4")
    p.set_auto_page_break(True, margin=12)
    for style, f in FONTS.items():
        p.add_font("DejaVu", style, str(FONT_DIR / f))
    p.set_title(blocks[0].text if blocks else "bulletin")
    p.add_page()
    sizes = {"h1": 15, "h2": 12, "h3": 10}
    for b in blocks:
        if b.kind in sizes:
            p.set_font("DejaVu", "B", sizes[b.kind])
            p.ln(2)
            p.multi_cell(0, sizes[b.kind] * 0.55, b.text, new_x="LMARGIN", new_y="NEXT")
        elif b.kind == "p":
            p.set_font("DejaVu", "", 8.5)
            p.multi_cell(0, 4.5, b.text, new_x="LMARGIN", new_y="NEXT")
        elif b.kind == "table":
            assert b.head is not None and b.rows is not None
            p.set_font("DejaVu", "", 7.5)
            with p.table(headings_style=FontFace(emphasis="BOLD", fill_color=(225, 230, 240)),
                         line_height=4, text_align="LEFT", first_row_as_headings=True,
                         col_widths=widths([b.head, *b.rows])) as tab:
                for r in [b.head, *b.rows]:
                    row = tab.row()
                    for c in r:
                        row.cell(c)
        elif b.kind == "chart":
            png = draw(b.chart)
            if p.get_y() > p.h - 80:
                p.add_page()
            p.image(io.BytesIO(png), w=190)
        p.ln(1)
    return bytes(p.output())


def write(doc: dict[str, Any], out: Path, langs: tuple[str, ...] = layout.LANGS) -> list[Path]:
    """Markdown and PDF of `doc` in each language; the paths written."""
    written = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for lang in langs:
            blocks = layout.blocks(doc, lang)
            name = stem(doc, lang)
            rel = f"charts/{name}"
            # each chart drawn once per language, for the Markdown file and the PDF
            draw = cache(lambda key, lang=lang: charts.draw(doc, key, lang))
            md = markdown(blocks, draw, out / rel, rel)
            path = out / f"{name}.md"
            write_atomic(path, md.encode("utf-8"))
            written.append(path)
            path = out / f"{name}.pdf"
            write_atomic(path, pdf(blocks, draw))
            written.append(path)
    except OSError as e:
        raise ReportError(f"{out}: cannot write the bulletin ({e})") from None
    except FPDFException as e:  # a table the page cannot hold: say which bulletin
        raise ReportError(f"{out}: the PDF of the {doc['kind']} bulletin {doc['label']} "
                          f"could not be laid out ({e})") from None
    return written
