"""llmpilot.monitoring.svg_charts: well-formed SVG with escaped text, titles, axes, legends, bands;
no style attribute or script (the UI's CSP forbids them); the same input gives the same bytes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from llmpilot.monitoring import svg_charts
from llmpilot.monitoring.svg_charts import Series, bar_chart, line_chart, nice_scale, nice_step

NS = "{http://www.w3.org/2000/svg}"
LABELS = ["08:00", "09:00", "10:00", "11:00"]


def parse(markup: str) -> ET.Element:
    root = ET.fromstring(markup)
    assert root.tag == f"{NS}svg"
    for element in root.iter():
        assert "style" not in element.attrib, element.tag
        assert not element.tag.endswith("script")
        assert not any(name.startswith("on") for name in element.attrib), element.attrib
    return root


def texts(root: ET.Element, tag: str) -> list[str]:
    return [e.text or "" for e in root.iter(f"{NS}{tag}")]


def test_line_chart_draws_each_series_with_points_axis_labels_and_legend() -> None:
    markup = line_chart(
        [
            Series("p95 <retrieve>", [10.0, None, 30.0, 40.0]),
            Series("total & more", [20.0, 25.0, 35.0, 80.0]),
        ],
        chart_id="lat",
        title='Latency "p95"',
        x_labels=LABELS,
        y_label="ms",
        x_label="Time (UTC)",
    )
    root = parse(markup)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "lat-title lat-desc"
    title = root.find(f"{NS}title")
    assert title is not None and title.get("id") == "lat-title" and title.text == 'Latency "p95"'
    desc = root.find(f"{NS}desc")
    assert desc is not None and "p95 <retrieve>: 08:00 10" in (desc.text or "")
    # Escaped in the markup, intact once parsed.
    assert "<retrieve>" not in markup and "&lt;retrieve&gt;" in markup and "total &amp; more" in markup
    series = [g for g in root.iter(f"{NS}g") if g.get("data-series")]
    assert [g.get("data-series") for g in series] == ["p95 <retrieve>", "total & more"]
    # A missing value breaks the line into two runs; every finite value is a point with a tooltip.
    assert len(series[0].findall(f"{NS}polyline")) == 2 and len(series[1].findall(f"{NS}polyline")) == 1
    assert len(series[0].findall(f"{NS}circle")) == 3
    tooltips = [c.find(f"{NS}title") for c in series[1].findall(f"{NS}circle")]
    assert [t.text for t in tooltips if t is not None][-1] == "total & more · 11:00: 80"
    all_text = texts(root, "text")
    assert {"08:00", "11:00", "ms", "Time (UTC)", "p95 <retrieve>", "total & more"} <= set(all_text)
    # Round ticks up to the largest value: 0, 20, 40, 60, 80.
    assert {"0", "20", "40", "60", "80"} <= set(all_text)


def test_higher_values_are_drawn_higher() -> None:
    root = parse(line_chart([Series("s", [1.0, 2.0])], chart_id="c", title="t", x_labels=["a", "b"]))
    circles = list(root.iter(f"{NS}circle"))
    ys = [float(c.get("cy", "nan")) for c in circles]
    xs = [float(c.get("cx", "nan")) for c in circles]
    assert ys[0] > ys[1] and xs[0] < xs[1]  # SVG y grows downwards


def test_a_band_is_shaded_around_its_line() -> None:
    band: list[tuple[float, float] | None] = [(0.4, 0.6), (0.3, 0.55), None, (0.5, 0.7)]
    root = parse(
        line_chart(
            [Series("rougeL", [0.5, 0.45, None, 0.6], band)],
            chart_id="q",
            title="Quality",
            x_labels=LABELS,
            y_max=1.0,
            y_format=svg_charts.percent_format,
        )
    )
    polygons = list(root.iter(f"{NS}polygon"))
    assert len(polygons) == 1 and len(polygons[0].get("points", "").split()) == 4  # two points up, two down
    lone = [line for line in root.iter(f"{NS}line") if line.get("class") == "band"]
    assert len(lone) == 1  # the last interval stands alone: an error bar
    assert "100%" in texts(root, "text") and "50%" in texts(root, "text")


def test_stacked_bars_add_up() -> None:
    root = parse(
        bar_chart(
            [Series("answered", [3, 0, 5, 1]), Series("abstained", [1, 0, 0, 1])],
            chart_id="vol",
            title="Volume",
            x_labels=LABELS,
        )
    )
    rects = [r for r in root.iter(f"{NS}rect") if r.get("class") == "bar"]
    assert len(rects) == 5  # zeros draw nothing
    first_answered, first_abstained = rects[0], rects[3]
    assert first_answered.find(f"{NS}title").text == "answered · 08:00: 3"  # type: ignore[union-attr]
    # The abstained part sits right on top of the answered part of the same bar.
    assert float(first_abstained.get("y", "0")) + float(first_abstained.get("height", "0")) == pytest.approx(
        float(first_answered.get("y", "0")), abs=0.02
    )
    assert float(first_answered.get("height", "0")) == pytest.approx(
        3 * float(first_abstained.get("height", "0")), abs=0.05
    )
    assert {"answered", "abstained"} <= set(texts(root, "text"))


def test_no_data_gives_a_titled_empty_chart() -> None:
    for markup in (
        line_chart(
            [Series("s", [None, None])],
            chart_id="e",
            title="Empty",
            x_labels=["a", "b"],
            empty_text="No data yet",
        ),
        bar_chart(
            [Series("s", [0, 0])], chart_id="e", title="Empty", x_labels=["a", "b"], empty_text="No data yet"
        ),
        line_chart([], chart_id="e", title="Empty", x_labels=[], empty_text="No data yet"),
    ):
        root = parse(markup)
        assert texts(root, "title") == ["Empty"] and "No data yet" in texts(root, "text")
        assert not list(root.iter(f"{NS}polyline")) and not list(root.iter(f"{NS}circle"))


def test_output_is_deterministic() -> None:
    def draw() -> str:
        return line_chart(
            [Series("a", [0.123456, 2.5, None]), Series("b", [1.0, 1.0, 1.0], [(0.5, 1.5)] * 3)],
            chart_id="d",
            title="D",
            x_labels=["x", "y", "z"],
        )

    assert draw() == draw()


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 1.0), (-3, 1.0), (0.07, 0.1), (1, 1.0), (1.2, 2.0), (2.2, 2.5), (3, 5.0), (80, 100.0)],
)
def test_nice_step(value: float, expected: float) -> None:
    assert nice_step(value) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "top", "step"),
    [
        (235, 300, 100),
        (4, 4, 1),
        (5, 6, 2),
        (1, 1, 0.25),
        (80, 80, 20),
        (75, 80, 20),
        (0, 1, 0.25),
        (0.3, 0.3, 0.1),
    ],
)
def test_nice_scale_gives_round_ticks_above_the_data(value: float, top: float, step: float) -> None:
    assert nice_scale(value) == (pytest.approx(top), pytest.approx(step))


@pytest.mark.parametrize(("value", "top", "step"), [(1, 1, 1), (2, 2, 1), (7, 8, 2), (9, 10, 5), (0, 1, 1)])
def test_counts_get_whole_number_ticks(value: float, top: float, step: float) -> None:
    assert nice_scale(value, integer=True) == (pytest.approx(top), pytest.approx(step))


def test_bar_chart_of_counts_has_whole_number_ticks() -> None:
    root = parse(bar_chart([Series("n", [1, 0, 1])], chart_id="b", title="B", x_labels=["a", "b", "c"]))
    ticks = [e.text for e in root.iter(f"{NS}text") if e.get("text-anchor") == "end"]
    assert ticks == ["0", "1"]
