"""Writers of the report: a self-contained HTML page (PNGs embedded as
base64, SVGs linked) and a Markdown summary whose tables carry the numbers."""
import base64
import html
import os

from .section import Signature  # noqa: F401  (documented type of signatures)


def signature_rows(sections):
    return [[g.phenomenon, g.measured, g.expected, g.verdict()] for s in sections for g in s.signatures]


SIG_HEADER = ["phenomenon", "measured", "expected", "holds"]


def _md_table(header, rows):
    esc = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    out = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(esc(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def markdown(title, sections, outdir):
    """Markdown text: signature table, then each section's text, tables, figures."""
    out = [f"# {title}", "", "## Signatures", "", _md_table(SIG_HEADER, signature_rows(sections)), ""]
    for s in sections:
        out += [f"## {s.title}", "", s.text, ""]
        for t, header, rows in s.tables:
            out += [f"### {t}", "", _md_table(header, rows), ""]
        for f in s.figures:
            rel = os.path.relpath(f.png, outdir)
            out += [f"![{f.caption}]({rel})", "", f"*{f.caption}* ([SVG]({os.path.relpath(f.svg, outdir)}))", ""]
    return "\n".join(out) + "\n"


CSS = """body{font-family:sans-serif;max-width:1150px;margin:1em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:13px}
td,th{border:1px solid #bbb;padding:2px 6px;text-align:right}th{background:#eee}
td:first-child{text-align:left}.yes{background:#cfc}.no{background:#fcc}
figure{margin:1em 0}img{max-width:100%;border:1px solid #ddd}figcaption{font-size:13px;color:#555}"""


def _html_table(header, rows, verdict_col=None):
    h = "".join(f"<th>{html.escape(str(c))}</th>" for c in header)
    body = []
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            cls = f' class="{v}"' if i == verdict_col and v in ("yes", "no") else ""
            cells.append(f"<td{cls}>{html.escape(str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{h}</tr>{''.join(body)}</table>"


def html_page(title, sections, outdir):
    """The HTML page as text; every PNG is embedded as a data: URI."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>", "<ul>"]
    parts += [f"<li><a href='#{s.key}'>{html.escape(s.title)}</a></li>" for s in sections]
    parts += ["</ul><h2>Signatures</h2>", _html_table(SIG_HEADER, signature_rows(sections), 3)]
    for s in sections:
        parts.append(f"<h2 id='{s.key}'>{html.escape(s.title)}</h2><p>{html.escape(s.text)}</p>")
        for f in s.figures:
            with open(f.png, "rb") as fh:
                b64 = base64.b64encode(fh.read()).decode("ascii")
            parts.append(f"<figure><img alt='{html.escape(f.name)}' src='data:image/png;base64,{b64}'>"
                         f"<figcaption>{html.escape(f.caption)} "
                         f"(<a href='{html.escape(os.path.relpath(f.svg, outdir))}'>SVG</a>)</figcaption></figure>")
        for t, header, rows in s.tables:
            parts.append(f"<h3>{html.escape(t)}</h3>" + _html_table(header, rows))
    parts.append("</body></html>")
    return "\n".join(parts)
