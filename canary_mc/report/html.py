"""``report.html``: the same report as ``report.md``, as one self-contained page.

The Markdown that :func:`canary_mc.report.report.report_markdown` writes uses a small,
fixed subset (headings, paragraphs, bullet lists, pipe tables, images, ``code``,
``**bold**``, ``_emphasis_``); this module renders exactly that subset, so the two files
never say different things. Plots are inlined as ``data:`` URIs, tables sort on a click
(inline script), the style is inline: the page opens from a file, with no network.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)]+)\)$")
CELL_SPLIT = re.compile(r"(?<!\\)\|")

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 75rem; padding: 0 1rem; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
code { background: #f3f3f3; padding: 0 0.2em; border-radius: 3px; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; display: block;
        overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: left;
         vertical-align: top; }
th { background: #f0f0f0; cursor: pointer; user-select: none; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
figure { margin: 1rem 0; } img { max-width: 100%; height: auto; }
"""

# Click a header to sort by that column; click again to reverse. Cells that start with a
# number sort numerically ("0.50% (0.30-0.82)" by 0.50), others as text.
SCRIPT = """
(function () {
  function key(cell) {
    var text = cell.textContent.trim();
    var match = text.match(/^[<>]?\\s*(-?[0-9][0-9,]*\\.?[0-9]*(?:e-?[0-9]+)?)/i);
    return match ? { num: parseFloat(match[1].replace(/,/g, "")), text: text }
                 : { num: null, text: text };
  }
  function compare(a, b) {
    if (a.num !== null && b.num !== null) { return a.num - b.num; }
    if (a.num !== null) { return -1; }
    if (b.num !== null) { return 1; }
    return a.text.localeCompare(b.text);
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = table.querySelectorAll("thead th");
    headers.forEach(function (th, column) {
      th.setAttribute("tabindex", "0");
      th.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r, s) {
          var order = compare(key(r.cells[column]), key(s.cells[column]));
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
"""


def inline(text: str) -> str:
    """One line of Markdown (the report's subset) as HTML, escaped."""
    out = html.escape(text.replace("\\|", "|"), quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"(?<![\w])_(\S(?:.*?\S)?)_(?![\w])", r"<em>\1</em>", out)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in CELL_SPLIT.split(line.strip().strip("|"))]


def _image(match: re.Match[str], base: Path) -> str:
    path = base / match["src"]
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    alt = html.escape(match["alt"])
    return f'<figure><img alt="{alt}" src="data:image/png;base64,{data}"></figure>'


def markdown_to_html(markdown: str, *, base: Path, title: str) -> str:
    """The report's Markdown as a self-contained HTML page.

    Parameters
    ----------
    markdown : str
        Text of ``report.md``.
    base : Path
        Folder the image paths are relative to (the results folder).
    title : str
        The page title.

    Returns
    -------
    str
        The page: images as ``data:`` URIs, inline style and script, no external link.
    """
    body: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if not line:
            i += 1
        elif line.startswith("## "):
            body.append(f"<h2>{inline(line[3:])}</h2>")
            i += 1
        elif line.startswith("# "):
            body.append(f"<h1>{inline(line[2:])}</h1>")
            i += 1
        elif (image := IMAGE.match(line)) is not None:
            body.append(_image(image, base))
            i += 1
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            head, body_rows = rows[0], rows[2:]
            body.append('<table class="sortable"><thead><tr>')
            body.append("".join(f'<th scope="col">{inline(c)}</th>' for c in head))
            body.append("</tr></thead><tbody>")
            for row in body_rows:
                body.append("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>")
            body.append("</tbody></table>")
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{inline(lines[i][2:])}</li>")
                i += 1
            body.append("<ul>" + "".join(items) + "</ul>")
        else:
            paragraph = []
            while i < len(lines) and lines[i].strip() and not _starts_block(lines[i]):
                paragraph.append(lines[i].strip())
                i += 1
            body.append(f"<p>{inline(' '.join(paragraph))}</p>")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


def _starts_block(line: str) -> bool:
    return line.startswith(("#", "|", "- ")) or IMAGE.match(line.rstrip()) is not None


__all__ = ["markdown_to_html"]
