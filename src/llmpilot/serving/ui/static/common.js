// Shared by every page: UI strings, JSON calls to the API, sign-out. No HTML is ever built
// from strings here: text goes in through textContent / createTextNode only.
"use strict";

window.llmpilot = (() => {
  const node = document.getElementById("ui-messages");
  const messages = node ? JSON.parse(node.textContent || "{}") : {};

  /** The UI string `key` with {name} placeholders filled from `params`. */
  function t(key, params = {}) {
    const text = messages[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  }

  /** The message of an API error body ({"error": {"message": ...}}), or the HTTP status. */
  async function errorMessage(response) {
    try {
      const body = await response.json();
      if (body && body.error && typeof body.error.message === "string") return body.error.message;
    } catch (_) {
      // not JSON: fall through to the status line
    }
    return `HTTP ${response.status}`;
  }

  /** POST JSON; resolves to {ok, status, data, message}. Network failures resolve too (status 0). */
  async function postJson(url, body, options = {}) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
        credentials: "same-origin",
        ...options,
      });
    } catch (err) {
      return { ok: false, status: 0, data: null, message: String(err && err.message ? err.message : err) };
    }
    if (!response.ok) {
      return { ok: false, status: response.status, data: null, message: await errorMessage(response) };
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    return { ok: true, status: response.status, data, message: "" };
  }

  /** Create an element with attributes and children (strings become text nodes). */
  function el(tag, attrs = {}, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === false || value === null || value === undefined) continue;
      if (name === "class") element.className = value;
      else if (name === "text") element.textContent = value;
      else element.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      element.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return element;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const signOut = document.getElementById("sign-out");
    if (signOut) {
      signOut.addEventListener("click", async () => {
        signOut.disabled = true;
        try {
          await fetch("/api/session", { method: "DELETE", credentials: "same-origin" });
        } finally {
          window.location.assign("/login");
        }
      });
    }
  });

  return { t, postJson, errorMessage, el };
})();
