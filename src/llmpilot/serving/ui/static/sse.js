// Server-sent events parsing for a fetch() body (EventSource cannot POST). Kept apart from the page
// script so it can be tested on its own (tests/unit/test_serving_ui.py runs it under node).
"use strict";

(function (root) {
  /** Split an SSE text buffer into complete events: returns [events, rest], where rest is the
   *  unfinished tail to prepend to the next chunk. Comments, id: and retry: lines are ignored. */
  function parseEvents(buffer) {
    const events = [];
    const blocks = buffer.split(/\r\n\r\n|\n\n|\r\r/);
    const rest = blocks.pop();
    for (const block of blocks) {
      let name = "message";
      const data = [];
      for (const line of block.split(/\r\n|\n|\r/)) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      }
      if (data.length) events.push({ name, data: data.join("\n") });
    }
    return [events, rest];
  }

  const api = { parseEvents };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.llmpilotSse = api;
})(typeof window !== "undefined" ? window : globalThis);
