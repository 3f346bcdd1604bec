// Highlighted snippets: split a citation's snippet at the server's highlight spans and build
// text nodes and <mark> elements from the pieces (never HTML). Kept apart from the page script so
// tests/unit/test_serving_ui.py can run `segments` under node.
"use strict";

(function (root) {
  /** The snippet cut into [{text, mark}] pieces. `highlights` are [start, end] pairs in Unicode
   *  code points (the server's Python string offsets), not UTF-16 units: Array.from splits by
   *  code point, so an emoji or other astral character before a highlight does not shift it.
   *  Spans that are malformed, out of range or overlapping an earlier one are ignored. */
  function segments(text, highlights) {
    const chars = Array.from(typeof text === "string" ? text : "");
    const spans = [];
    if (Array.isArray(highlights)) {
      for (const span of highlights) {
        if (!Array.isArray(span) || span.length !== 2) continue;
        const [start, end] = span;
        if (!Number.isInteger(start) || !Number.isInteger(end)) continue;
        if (start < 0 || end > chars.length || start >= end) continue;
        spans.push([start, end]);
      }
    }
    spans.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    const out = [];
    let at = 0;
    for (const [start, end] of spans) {
      if (start < at) continue; // overlaps the previous span
      if (start > at) out.push({ text: chars.slice(at, start).join(""), mark: false });
      out.push({ text: chars.slice(start, end).join(""), mark: true });
      at = end;
    }
    if (at < chars.length || out.length === 0) out.push({ text: chars.slice(at).join(""), mark: false });
    return out;
  }

  /** DOM nodes for the pieces: text nodes, and <mark> elements holding a text node. */
  function highlightNodes(text, highlights) {
    return segments(text, highlights).map((piece) => {
      if (!piece.mark) return document.createTextNode(piece.text);
      const mark = document.createElement("mark");
      mark.textContent = piece.text;
      return mark;
    });
  }

  const api = { segments, highlightNodes };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.llmpilotHighlight = api;
})(typeof window !== "undefined" ? window : globalThis);
