"""HTML report of benchmarks/answers.py: the table, reliability diagrams and per-answerer charts
(inline SVG, no plotting library, renders offline)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

WIDTH, HEIGHT, PAD = 360, 300, 40


def reliability_svg(bins: list[dict[str, Any]], title: str, ece: float) -> str:
    """Accuracy per confidence bin against the diagonal; bar width is the bin, opacity its count."""
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    total = sum(b["n"] for b in bins) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img">',
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="13">{html.escape(title)} '
        f"(ECE {ece:.3f})</text>",
        f'<rect x="{PAD}" y="{PAD}" width="{inner_w}" height="{inner_h}" fill="none" stroke="#999"/>',
        f'<line x1="{PAD}" y1="{PAD + inner_h}" x2="{PAD + inner_w}" y2="{PAD}" stroke="#bbb" '
        'stroke-dasharray="4 3"/>',
    ]
    for b in bins:
        x = PAD + b["low"] * inner_w
        w = (b["high"] - b["low"]) * inner_w - 2
        h = b["accuracy"] * inner_h
        opacity = 0.35 + 0.65 * b["n"] / total
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{PAD + inner_h - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
            f'fill="#3b6ea8" fill-opacity="{opacity:.2f}"><title>confidence {b["confidence"]:.2f}, '
            f"accuracy {b['accuracy']:.2f}, n={b['n']}</title></rect>"
        )
        cy = PAD + inner_h - b["confidence"] * inner_h
        parts.append(f'<circle cx="{x + w / 2 + 1:.1f}" cy="{cy:.1f}" r="3" fill="#d9534f"/>')
        parts.append(
            f'<text x="{x + w / 2 + 1:.1f}" y="{PAD + inner_h + 12}" text-anchor="middle" '
            f'font-size="9">{b["n"]}</text>'
        )
    for tick in (0.0, 0.5, 1.0):
        parts.append(
            f'<text x="{PAD + tick * inner_w}" y="{HEIGHT - 8}" text-anchor="middle" font-size="10">'
            f"{tick:.1f}</text>"
        )
        parts.append(
            f'<text x="{PAD - 6}" y="{PAD + inner_h - tick * inner_h + 3}" text-anchor="end" '
            f'font-size="10">{tick:.1f}</text>'
        )
    parts.append(
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 20}" text-anchor="middle" font-size="10" fill="#555">'
        "confidence (bars: accuracy; dots: mean confidence; numbers: answers)</text></svg>"
    )
    return "".join(parts)


def bars_svg(
    values: dict[str, float],
    title: str,
    maximum: float = 1.0,
    mark: float | None = None,
    label_w: int = 260,
) -> str:
    """Horizontal bars, one per run; `mark` draws a dashed target line. Bars are clipped at `maximum`
    (one 100% bar would flatten the others); the printed value is exact. Shared by the benchmark
    reports (answers, guardrails)."""
    row = 18
    height = 30 + row * len(values)
    bar_w = 260
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 60}" height="{height}" '
        'role="img">',
        f'<text x="4" y="16" font-size="13">{html.escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(values.items()):
        y = 26 + i * row
        w = bar_w * min(1.0, max(0.0, value) / maximum) if maximum else 0.0
        name = html.escape(label)
        parts.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end" font-size="11">{name}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row - 5}" fill="#5a9e6f"/>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 12}" font-size="11">{value:.3f}</text>')
    if mark is not None:
        x = label_w + bar_w * mark / maximum
        parts.append(
            f'<line x1="{x:.1f}" y1="22" x2="{x:.1f}" y2="{height - 2}" stroke="#d9534f" '
            'stroke-dasharray="4 3"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def fraction(text: str) -> float:
    done, total = text.split("/")
    return int(done) / int(total) if int(total) else 0.0


def write_report(payload: dict[str, Any], path: Path) -> None:
    from answers import table_lines

    cal = payload["calibration"]
    runs = payload["runs"]
    key_facts = {label: fraction(run["key_fact"]) for label, run in runs.items() if "key_fact" in run}
    rouge = {label: run["rougeL"] for label, run in runs.items() if "rougeL" in run}
    wrong = {label: run["wrong_but_confident"] for label, run in runs.items()}
    table = [line for line in table_lines(runs) if line]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    body = [[c.strip() for c in line.strip("|").split("|")] for line in table[2:]]
    rows_html = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>" for cells in body
    )
    sweep_rows = "".join(
        f"<tr><td>{s['threshold']:.2f}</td><td>{s['wrong_but_confident']:.1%}</td>"
        f"<td>{s['confident_share']:.1%}</td><td>{s['precision'] or '—'}</td></tr>"
        for s in payload["confident_sweep"]
    )
    weights = ", ".join(f"{k} {v:+.2f}" for k, v in cal["weights"].items())
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>llmpilot answers benchmark</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px}}
table{{border-collapse:collapse;font-size:12px}}td,th{{border:1px solid #ccc;padding:3px 6px}}
.charts{{display:flex;flex-wrap:wrap;gap:1.5rem}}</style></head><body>
<h1>Answers: every answerer under the answer policy</h1>
<p>Created {html.escape(payload["created"])} on {payload["machine"]["cores"]} cores.
Labels: {html.escape(payload["labels"])}. "Wrong &amp; confident": share of all answers that are wrong
yet shown with calibrated confidence &ge; {payload["confident_threshold"]}.</p>
<table><tr>{"".join(f"<th>{html.escape(h)}</th>" for h in header)}</tr>{rows_html}</table>
<h2>Calibration</h2>
<p>{cal["labelled_answers"]} labelled answers of the shipped policy ({cal["correct"]} correct). Logistic model
over {", ".join(cal["features"])}: intercept {cal["intercept"]:+.2f}, {html.escape(weights)}.
ECE {cal["ece_uncalibrated"]:.3f} for the raw score, {cal["ece_cross_validated"]:.3f} calibrated
(5-fold cross-validated by question).</p>
<div class="charts">
{reliability_svg(cal["bins_uncalibrated"], "Raw confidence", cal["ece_uncalibrated"])}
{reliability_svg(cal["bins_cross_validated"], "Calibrated, cross-validated", cal["ece_cross_validated"])}
</div>
<h2>Shown as confident</h2>
<p>The threshold is the lowest calibrated confidence at which wrong answers shown as confident are
&le; 5% of the shipped policy's answers (out-of-fold confidence, all answerers pooled).</p>
<table><tr><th>threshold</th><th>wrong &amp; confident</th><th>shown as confident</th><th>precision</th></tr>
{sweep_rows}</table>
<h2>Per answerer and policy</h2>
<div class="charts">
{bars_svg(key_facts, "Demo questions: key fact stated (share)")}
{bars_svg(rouge, "autorag-ko ROUGE-L (mean)")}
{bars_svg(wrong, "Wrong but shown as confident (share)", max(0.01, *wrong.values()))}
</div></body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
