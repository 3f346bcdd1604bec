"""The data profile as one self-contained HTML page: inline SVG charts and tables, no script, no
external files, every piece of document text escaped."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape

from llmpilot.monitoring.svg_charts import Series, bar_chart
from llmpilot.profiling.profile import DataProfile

#: Bars per chart; the rest are summed into one "other" bar.
MAX_BARS = 12
#: Ids listed per list (empty, near-empty, table-like …) before "and N more".
MAX_LISTED = 50

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5rem 0; } td, th { border: 1px solid #ddd; padding: .25rem .5rem;
vertical-align: top; text-align: left; } th { background: #f5f5f5; } td.num { text-align: right; }
pre { margin: 0; white-space: pre-wrap; font-size: .85rem; } code { font-size: .85rem; }
.summary td:first-child { font-weight: 600; } svg { max-width: 100%; height: auto; }
"""


def _esc(text: object) -> str:
    return escape(str(text), quote=True)


def _counts_chart(counts: Mapping[str, int], *, chart_id: str, title: str, label: str) -> str:
    """A bar per label (the largest MAX_BARS; the rest summed as "other")."""
    items = list(counts.items())
    if len(items) > MAX_BARS:
        rest = sum(n for _, n in items[MAX_BARS - 1 :])
        items = [*items[: MAX_BARS - 1], ("other", rest)]
    return bar_chart(
        [Series("documents", [float(n) for _, n in items])],
        chart_id=chart_id,
        title=title,
        x_labels=[_short(name) for name, _ in items],
        x_label=label,
        y_label="documents",
    )


def _short(label: str, limit: int = 24) -> str:
    """A chart label that fits under its bar: the tail of a long path."""
    return label if len(label) <= limit else "…" + label[-(limit - 1) :]


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, css: str = "") -> str:
    """A table from already-escaped cells."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    cls = f' class="{css}"' if css else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _id_list(ids: Sequence[str], total: int | None = None) -> str:
    if not ids:
        return "<p>None.</p>"
    shown = ", ".join(f"<code>{_esc(i)}</code>" for i in ids[:MAX_LISTED])
    more = (total if total is not None else len(ids)) - min(len(ids), MAX_LISTED)
    return f"<p>{shown}{f' … and {more} more' if more > 0 else ''}</p>"


def _counts_table(counts: Mapping[str, int], label: str) -> str:
    return _table([label, "documents"], ([_esc(k), str(n)] for k, n in counts.items()))


def _summary(profile: DataProfile) -> str:
    d = profile.as_dict()
    rows = [
        ("Documents", d["documents"]),
        ("Empty / near empty (< 30 characters)", f"{len(d['empty'])} / {len(d['near_empty'])}"),
        ("Exact / near duplicates", f"{d['duplicates']['exact']} / {d['duplicates']['near']}"),
        ("PII matches", ", ".join(f"{kind} {n}" for kind, n in d["pii"].items())),
        ("Boilerplate entries", len(d["boilerplate"])),
        ("Table-like documents", d["tables"]["documents"]),
        ("Documents with a table of contents", d["sections"]["toc"]),
        (
            "Encoding: replacement chars / mojibake / control chars",
            f"{d['encoding']['replacement_chars']} / {d['encoding']['mojibake']} / "
            f"{d['encoding']['control_chars']}",
        ),
    ]
    return _table(["figure", "value"], ([_esc(k), _esc(v)] for k, v in rows), css="summary")


def _lengths_section(profile: DataProfile) -> str:
    lengths = profile.lengths
    labels = [f"≤{b['upto']:,}" if b["upto"] is not None else "more" for b in lengths.histogram]
    chart = bar_chart(
        [Series("documents", [float(b["count"] or 0) for b in lengths.histogram])],
        chart_id="chart-lengths",
        title="Document lengths (characters)",
        x_labels=labels,
        x_label="characters (stripped text)",
        y_label="documents",
    )
    stats = ", ".join(
        f"{name} {value:,}"
        for name, value in (
            ("min", lengths.min),
            ("p25", lengths.p25),
            ("median", lengths.median),
            ("p75", lengths.p75),
            ("p90", lengths.p90),
            ("max", lengths.max),
        )
    )
    return f"<h2>Lengths</h2>{chart}<p>{_esc(stats)}, mean {lengths.mean:,.1f}</p>"


def _boilerplate_section(profile: DataProfile) -> str:
    rows = [
        [
            f"<pre>{_esc(e.text)}</pre>"
            + (f"<br>pattern <code>{_esc(e.pattern)}</code>" if e.pattern else ""),
            _esc(e.kind) + (f" ({e.lines} lines)" if e.lines > 1 else ""),
            _esc(e.position),
            str(e.count),
            ", ".join(f"<code>{_esc(i)}</code>" for i in e.examples),
        ]
        for e in profile.boilerplate
    ]
    body = (
        _table(["text", "kind", "position", "documents", "examples"], rows) if rows else "<p>None found.</p>"
    )
    return f"<h2>Boilerplate</h2>{body}"


def _duplicates_section(profile: DataProfile) -> str:
    dup = profile.duplicates
    groups = "".join(
        "<li>" + ", ".join(f"<code>{_esc(i)}</code>" for i in group) + "</li>" for group in dup.groups
    )
    return (
        f"<h2>Duplicates</h2><p>{dup.exact} exact and {dup.near} near duplicates "
        "(the first document of each group is kept by deduplication).</p>"
        + (f"<ol>{groups}</ol>" if groups else "")
    )


def _encoding_section(profile: DataProfile) -> str:
    enc = profile.encoding
    rows = [[f"<code>{_esc(e.id)}</code>", _esc(e.problem), _esc(e.snippet)] for e in enc.examples]
    table = _table(["document", "problem", "snippet"], rows) if rows else ""
    return (
        f"<h2>Encoding problems</h2><p>{enc.replacement_chars} with replacement characters (U+FFFD), "
        f"{enc.mojibake} with mojibake, {enc.control_chars} with control characters.</p>{table}"
    )


def _pii_chart(profile: DataProfile) -> str:
    return bar_chart(
        [Series("matches", [float(n) for n in profile.pii.values()])],
        chart_id="chart-pii",
        title="PII by kind",
        x_labels=list(profile.pii),
        x_label="kind",
        y_label="matches",
        empty_text="No PII found",
    )


def render_profile_html(profile: DataProfile, *, title: str = "Data profile") -> str:
    """One HTML page showing every part of the profile."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_esc(title)}</h1>",
        _summary(profile),
        "<h2>Sources and formats</h2>",
        _counts_chart(
            profile.formats, chart_id="chart-formats", title="Documents per format", label="format"
        ),
        _counts_chart(
            profile.sources, chart_id="chart-sources", title="Documents per source", label="source"
        ),
        _counts_table(profile.sources, "source"),
        "<h2>Languages</h2>",
        _counts_chart(
            profile.languages, chart_id="chart-languages", title="Documents per language", label="language"
        ),
        _lengths_section(profile),
        "<h2>PII</h2>",
        _pii_chart(profile),
        _table(
            ["kind", "matches", "documents"],
            ([_esc(k), str(n), str(profile.pii_documents.get(k, 0))] for k, n in profile.pii.items()),
        ),
        _boilerplate_section(profile),
        _duplicates_section(profile),
        _encoding_section(profile),
        f"<h2>Table-like documents ({profile.tables['documents']})</h2>",
        _id_list(profile.tables["examples"], profile.tables["documents"]),
        f"<h2>Tables of contents ({profile.sections['toc']})</h2>",
        _id_list(profile.sections["toc_examples"], profile.sections["toc"]),
        f"<h2>Empty documents ({len(profile.empty)})</h2>",
        _id_list(profile.empty),
        f"<h2>Near-empty documents ({len(profile.near_empty)})</h2>",
        _id_list(profile.near_empty),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
