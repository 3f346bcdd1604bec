// The chat page: ask, stream the answer from POST /api/ask (SSE read with fetch + ReadableStream,
// since EventSource cannot POST), then show citations, confidence, the abstain notice, follow-ups
// and the feedback controls. Model output only ever reaches the page through text nodes.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const { t, postJson, el } = window.llmpilot;
  const { parseEvents } = window.llmpilotSse;
  const { highlightNodes } = window.llmpilotHighlight;
  const form = document.getElementById("ask-form");
  const question = document.getElementById("question");
  const askButton = document.getElementById("ask-button");
  const transcript = document.getElementById("transcript");
  const pageStatus = document.getElementById("chat-status");
  const SVG_NS = "http://www.w3.org/2000/svg";
  const ICONS = {
    up: "M7 10v11H3V10h4zm2 11h8.5a2 2 0 0 0 2-1.6l1.4-7A2 2 0 0 0 19 10h-5l.8-4.2a1.6 1.6 0 0 0-2.9-1.2L9 9.5V21z",
    down: "M17 14V3h4v11h-4zm-2-11H6.5a2 2 0 0 0-2 1.6l-1.4 7A2 2 0 0 0 5 14h5l-.8 4.2a1.6 1.6 0 0 0 2.9 1.2L15 14.5V3z",
    copy: "M8 8h11v13H8zM5 3h11v3H7v11H5z",
    again: "M12 5V2L7 6l5 4V7a6 6 0 1 1-6 6H4a8 8 0 1 0 8-8z",
  };

  let turnCounter = 0;
  let current = null; // the turn whose answer is streaming, if any

  function icon(name) {
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.classList.add("icon");
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", ICONS[name]);
    svg.append(path);
    return svg;
  }

  /** "ko" when Hangul dominates the letters of `text`, else "en": screen readers then pick the right voice
   *  for content whose language differs from the UI's. */
  function contentLang(text) {
    const hangul = (text.match(/[\uac00-\ud7a3\u3131-\u318e]/g) || []).length;
    const latin = (text.match(/[A-Za-z]/g) || []).length;
    return hangul * 2 >= latin && hangul > 0 ? "ko" : "en";
  }

  function announce(text) {
    pageStatus.textContent = "";
    window.setTimeout(() => { pageStatus.textContent = text; }, 50);
  }

  function setBusy(busy) {
    askButton.disabled = busy;
    form.setAttribute("aria-busy", busy ? "true" : "false");
  }

  // ---- feedback ----------------------------------------------------------------------------

  async function sendFeedback(turn, signal, extra = {}) {
    if (!turn.traceId) return { ok: false, message: "no trace" };
    return postJson("/api/feedback", { trace_id: turn.traceId, signal, ...extra });
  }

  function showFeedbackResult(turn, result) {
    turn.feedbackStatus.classList.toggle("is-error", !result.ok);
    turn.feedbackStatus.textContent = result.ok
      ? t("thanks")
      : result.status === 401 ? t("session_expired") : t("feedback_failed", { message: result.message });
  }

  /** "copied" is sent once per answer, from the copy button or the browser's own copy. */
  function reportCopied(turn) {
    if (turn.copiedSent || !turn.traceId) return;
    turn.copiedSent = true;
    sendFeedback(turn, "copied");
  }

  // The page is left while an answer streams: tell the server (keepalive outlives the page).
  window.addEventListener("pagehide", () => {
    if (!current || !current.traceId || current.finished || current.abandonSent) return;
    current.abandonSent = true;
    try {
      fetch("/api/feedback", {
        method: "POST",
        keepalive: true,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ trace_id: current.traceId, signal: "abandoned" }),
      }).catch(() => {});
    } catch (_) {
      // keepalive unsupported: nothing else to try while the page unloads
    }
  });

  // ---- rendering an answer ----------------------------------------------------------------

  function newTurn(text) {
    turnCounter += 1;
    const id = `turn-${turnCounter}`;
    const answer = el("div", { class: "answer-text", id: `${id}-answer` });
    const spinner = el("span", { class: "spinner", "aria-hidden": "true" });
    const thinking = el("p", { class: "thinking muted" }, spinner, t("thinking"));
    const extras = el("div", { class: "answer-extras" });
    const bot = el("div", { class: "msg msg-bot streaming", "aria-busy": "true" },
      el("span", { class: "who" }, t("assistant")), thinking, answer, extras);
    const article = el("article", { class: "turn", id },
      el("div", { class: "msg msg-user" }, el("span", { class: "who" }, t("you")),
        el("p", { class: "msg-text", lang: contentLang(text), text })),
      bot);
    const empty = document.getElementById("empty-transcript");
    if (empty) empty.remove();
    transcript.append(article);
    const turn = { id, question: text, article, bot, answer, thinking, extras, traceId: null, sources: [],
      finished: false, copiedSent: false, abandonSent: false, feedbackStatus: null };
    answer.addEventListener("copy", () => reportCopied(turn));
    return turn;
  }

  // Keep the newest text in view while the reader is at the bottom; scrolling up stops that.
  let followBottom = true;
  window.addEventListener("scroll", () => {
    followBottom = window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 80;
  }, { passive: true });

  function followScroll() {
    if (followBottom) window.scrollTo({ top: document.documentElement.scrollHeight });
  }

  // Confidence is a calibrated probability that the answer is correct (llmpilot.calibration):
  // "high" from CONFIDENT_ABOVE, where wrong answers shown as confident were <= 5% in the answers
  // benchmark; "medium" when more likely right than wrong.
  const CONF_HIGH = 0.75;
  const CONF_MEDIUM = 0.5;

  function confidenceLabel(value) {
    if (value >= CONF_HIGH) return t("conf_high");
    if (value >= CONF_MEDIUM) return t("conf_medium");
    return t("conf_low");
  }

  function renderConfidence(turn, value) {
    if (typeof value !== "number" || !Number.isFinite(value)) return null;
    const clamped = Math.min(1, Math.max(0, value));
    const labelId = `${turn.id}-conf`;
    const pct = `${Math.round(clamped * 100)}%`;
    const meter = el("meter", { min: 0, max: 1, low: CONF_MEDIUM, high: CONF_HIGH, optimum: 1, value: clamped,
      "aria-labelledby": labelId });
    const level = clamped >= CONF_HIGH ? "high" : clamped >= CONF_MEDIUM ? "medium" : "low";
    return el("div", { class: `confidence conf-${level}` },
      el("span", { id: labelId, class: "conf-label" }, `${t("confidence")}: `), meter,
      el("span", { class: "conf-value" }, `${pct} · ${confidenceLabel(clamped)}`));
  }

  function renderCitations(turn, citations) {
    if (!Array.isArray(citations) || citations.length === 0) return null;
    const chips = el("div", { class: "chips", role: "list" });
    const panels = el("div", { class: "source-panels" });
    for (const c of citations) {
      const panelId = `${turn.id}-src-${c.n}`;
      const chip = el("button", { type: "button", class: "chip", "aria-expanded": "false", "aria-controls": panelId,
        "data-n": c.n },
        el("span", { class: "chip-n" }, `[${c.n}]`), el("span", { class: "chip-title" }, c.title || c.doc_id || ""));
      const panel = el("div", { class: "source-panel", id: panelId, hidden: true, role: "region",
        "aria-label": `[${c.n}] ${c.title || c.doc_id || ""}` },
        el("dl", { class: "source-meta" },
          el("dt", {}, t("source_title")), el("dd", {}, c.title || ""),
          el("dt", {}, t("source_doc")), el("dd", {}, el("code", {}, c.doc_id || ""))),
        // The query terms the server matched in the snippet are <mark>ed (text nodes, never HTML).
        el("blockquote", { class: "snippet", lang: contentLang(c.snippet || "") },
          ...highlightNodes(c.snippet || "", c.highlights)));
      chip.addEventListener("click", () => {
        const open = chip.getAttribute("aria-expanded") === "true";
        chip.setAttribute("aria-expanded", open ? "false" : "true");
        panel.hidden = open;
      });
      chips.append(el("span", { role: "listitem" }, chip));
      panels.append(panel);
    }
    return el("section", { class: "citations", "aria-label": t("sources") },
      el("h3", { class: "mini-heading" }, t("sources")), chips, panels);
  }

  function renderFollowups(turn, followups) {
    if (!Array.isArray(followups) || followups.length === 0) return null;
    const list = el("ul", { class: "followups" });
    for (const text of followups) {
      if (typeof text !== "string" || !text.trim()) continue;
      const button = el("button", { type: "button", class: "btn btn-soft followup" }, text);
      button.addEventListener("click", () => {
        if (current && !current.finished) return;
        sendFeedback(turn, "followup");
        ask(text);
      });
      list.append(el("li", {}, button));
    }
    return el("section", { class: "followups-wrap", "aria-label": t("followups") },
      el("h3", { class: "mini-heading" }, t("followups")), list);
  }

  async function copyAnswer(turn) {
    const text = turn.answer.textContent || "";
    let copied = false;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch (_) {
      // No clipboard permission (or not a secure context): copy the selected answer instead.
      const selection = window.getSelection();
      const range = document.createRange();
      range.selectNodeContents(turn.answer);
      selection.removeAllRanges();
      selection.addRange(range);
      try {
        copied = document.execCommand("copy");
      } catch (_err) {
        copied = false;
      }
      selection.removeAllRanges();
    }
    if (copied) {
      reportCopied(turn);
      announce(t("copied"));
    }
  }

  function renderActions(turn) {
    const status = el("p", { class: "feedback-status", role: "status" });
    turn.feedbackStatus = status;
    const up = el("button", { type: "button", class: "btn btn-icon thumb", "aria-pressed": "false",
      "aria-label": t("thumbs_up"), title: t("thumbs_up"), "data-signal": "thumbs_up" }, icon("up"));
    const down = el("button", { type: "button", class: "btn btn-icon thumb", "aria-pressed": "false",
      "aria-label": t("thumbs_down"), title: t("thumbs_down"), "data-signal": "thumbs_down" }, icon("down"));
    const copy = el("button", { type: "button", class: "btn btn-ghost copy" }, icon("copy"), t("copy"));
    const again = el("button", { type: "button", class: "btn btn-ghost regenerate" }, icon("again"), t("regenerate"));

    const textareaId = `${turn.id}-correction`;
    const textarea = el("textarea", { id: textareaId, rows: 3, class: "correction-text" });
    const correctionError = el("p", { class: "form-error", id: `${textareaId}-error` });
    textarea.setAttribute("aria-describedby", correctionError.id);
    const correctionForm = el("form", { class: "correction-form", novalidate: true },
      el("label", { for: textareaId }, t("correction_label")), textarea, correctionError,
      el("button", { type: "submit", class: "btn btn-primary" }, t("correction_submit")));
    const details = el("details", { class: "correction" }, el("summary", {}, t("correction")), correctionForm);

    for (const thumb of [up, down]) {
      thumb.addEventListener("click", async () => {
        const signal = thumb.dataset.signal;
        const result = await sendFeedback(turn, signal);
        showFeedbackResult(turn, result);
        if (!result.ok) return;
        up.setAttribute("aria-pressed", String(thumb === up));
        down.setAttribute("aria-pressed", String(thumb === down));
        if (signal === "thumbs_down" && !details.open) {
          // A bad answer: offer the correction box right away.
          details.open = true;
          textarea.focus();
        }
      });
    }
    copy.addEventListener("click", () => copyAnswer(turn));
    again.addEventListener("click", () => {
      if (current && !current.finished) return;
      sendFeedback(turn, "regenerated");
      ask(turn.question, { fresh: true }); // a new answer, not the cached one
    });
    correctionForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = textarea.value.trim();
      correctionError.textContent = "";
      textarea.removeAttribute("aria-invalid");
      if (!text) {
        correctionError.textContent = t("correction_empty");
        textarea.setAttribute("aria-invalid", "true");
        textarea.focus();
        return;
      }
      const submit = correctionForm.querySelector("button[type=submit]");
      submit.disabled = true;
      const result = await sendFeedback(turn, "correction", { correction: text });
      submit.disabled = false;
      showFeedbackResult(turn, result);
      if (result.ok) {
        textarea.value = "";
        details.open = false;
      }
    });

    return el("div", { class: "answer-actions" },
      el("div", { class: "action-row" },
        el("div", { class: "thumbs", role: "group", "aria-label": t("helpful") },
          el("span", { class: "helpful-label", "aria-hidden": "true" }, t("helpful")), up, down),
        copy, again),
      details, status);
  }

  function showError(turn, message) {
    turn.thinking.remove();
    turn.extras.append(el("p", { class: "notice notice-error", role: "alert" }, message));
  }

  function finish(turn) {
    turn.finished = true;
    turn.thinking.remove();
    turn.bot.classList.remove("streaming");
    turn.bot.setAttribute("aria-busy", "false");
    if (current === turn) current = null;
    setBusy(false);
  }

  // Sentences the cited sources do not support (llmpilot.support), or the whole generated text when
  // none was supported and the answer abstained: shown flagged, as text nodes only.
  function unsupportedNotice(data) {
    const sentences = Array.isArray(data.unsupported_sentences)
      ? data.unsupported_sentences.filter((s) => typeof s === "string" && s)
      : [];
    if (data.fallback === "extractive") {
      // The model's answer was unsupported: the answer shown quotes the sources (say so).
      return el("div", { class: "notice notice-warn quoted-answer", role: "note" },
        el("strong", {}, t("quoted")),
        typeof data.unsupported_text === "string" && data.unsupported_text
          ? el("details", {}, el("summary", {}, t("unsupported_answer")),
            el("blockquote", { lang: contentLang(data.unsupported_text) }, data.unsupported_text))
          : null);
    }
    if (data.abstained && typeof data.unsupported_text === "string" && data.unsupported_text) {
      return el("div", { class: "notice notice-warn unsupported-answer", role: "note" },
        el("strong", {}, t("unsupported_answer")),
        el("blockquote", { lang: contentLang(data.unsupported_text) }, data.unsupported_text));
    }
    if (!sentences.length) {
      // A supported answer that needed the strict retry: say so, quietly.
      return data.retried && !data.abstained
        ? el("div", { class: "notice retried-answer", role: "note" }, t("retried"))
        : null;
    }
    return el("div", { class: "notice notice-warn unsupported-sentences", role: "note" },
      el("strong", {}, t("unsupported_sentences")),
      el("ul", {}, ...sentences.map((s) => el("li", { lang: contentLang(s) }, s))));
  }

  // Rails that changed or flagged the exchange without refusing it (redacted PII, warnings).
  function guardrailNotice(data) {
    const decisions = Array.isArray(data.decisions) ? data.decisions : [];
    const rails = decisions.filter((d) => d && d.stage !== "cache");
    const warned = rails.filter((d) => d.outcome === "warn" && typeof d.reason === "string" && d.reason);
    const redacted = rails.some((d) => d.outcome === "redact" && d.name === "pii");
    const neutralised = rails.some((d) => d.name === "indirect_injection" && d.outcome !== "allow");
    if (!warned.length && !redacted && !neutralised) return null;
    return el("div", { class: "notice notice-warn guard-notice", role: "note" },
      redacted ? el("p", {}, t("guard_redacted")) : null,
      neutralised ? el("p", {}, t("guard_neutralised")) : null,
      warned.length ? el("strong", {}, t("guard_warned")) : null,
      warned.length ? el("ul", {}, ...warned.map((d) => el("li", {}, d.reason))) : null);
  }

  function renderDone(turn, data) {
    turn.traceId = data.trace_id || turn.traceId;
    if (turn.traceId) turn.article.dataset.traceId = turn.traceId;
    turn.answer.textContent = typeof data.answer === "string" ? data.answer : turn.answer.textContent;
    turn.answer.setAttribute("lang", contentLang(turn.answer.textContent));
    conversation.push({ role: "user", content: turn.question });
    if (!data.abstained && turn.answer.textContent) {
      conversation.push({ role: "assistant", content: turn.answer.textContent });
    }
    if (data.blocked) {
      // A guardrail refused it: a translated notice with the rail's reason, never a silent blank.
      turn.bot.classList.add("abstained", "blocked");
      turn.extras.append(el("div", { class: "notice notice-abstain guard-blocked", role: "alert" },
        el("strong", {}, t("blocked")),
        data.reason ? el("p", {}, `${t("reason")}: ${data.reason}`) : null));
    } else if (data.abstained) {
      turn.bot.classList.add("abstained");
      turn.extras.append(el("div", { class: "notice notice-abstain", role: "note" },
        el("strong", {}, t("abstained")),
        data.reason ? el("p", {}, `${t("reason")}: ${data.reason}`) : null));
    }
    const guardNotice = guardrailNotice(data);
    if (guardNotice) turn.extras.append(guardNotice);
    if (data.cached === "exact" || data.cached === "semantic") {
      turn.bot.classList.add("cached");
      turn.extras.append(el("div", { class: "notice cache-hit", role: "note" },
        t(data.cached === "exact" ? "cached_exact" : "cached_semantic")));
    }
    if (Array.isArray(data.unsupported_numbers) && data.unsupported_numbers.length) {
      turn.extras.append(el("div", { class: "notice notice-warn", role: "note" },
        el("strong", {}, t("unsupported")), ` ${data.unsupported_numbers.join(", ")}`));
    }
    const flagged = unsupportedNotice(data);
    if (flagged) turn.extras.append(flagged);
    // A refused question has no confidence to show: it was never answered.
    for (const part of [data.blocked ? null : renderConfidence(turn, data.confidence),
      renderCitations(turn, data.citations),
      renderFollowups(turn, data.followups), renderActions(turn)]) {
      if (part) turn.extras.append(part);
    }
  }

  // ---- streaming ----------------------------------------------------------------------------

  function handleEvent(turn, name, payload) {
    if (name === "meta") {
      turn.traceId = payload.trace_id || null;
      if (turn.traceId) turn.article.dataset.traceId = turn.traceId; // for admins and tests: which trace
      turn.sources = Array.isArray(payload.sources) ? payload.sources : [];
    } else if (name === "delta") {
      if (turn.thinking.isConnected) turn.thinking.remove();
      if (typeof payload.text === "string") turn.answer.append(document.createTextNode(payload.text));
      followScroll();
    } else if (name === "done") {
      renderDone(turn, payload);
      return true;
    } else if (name === "error") {
      const message = payload && payload.error && payload.error.message ? payload.error.message : "stream error";
      showError(turn, t("error", { message }));
      return true;
    }
    return false;
  }

  // Finished turns as {role, content}, oldest first: sent with each question.
  const conversation = [];
  const HISTORY_TURNS = 12;

  async function ask(text, options = {}) {
    const turn = newTurn(text);
    current = turn;
    setBusy(true);
    followBottom = true; // a new question: show it and its answer
    followScroll();
    let response;
    try {
      response = await fetch("/api/ask", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        // Earlier turns let the server read a follow-up ("and on Sunday?") with its context.
        body: JSON.stringify({ question: text, stream: true, history: conversation.slice(-HISTORY_TURNS),
          fresh: Boolean(options.fresh) }),
      });
    } catch (err) {
      showError(turn, t("error", { message: String(err && err.message ? err.message : err) }));
      finish(turn);
      return;
    }
    if (!response.ok || !response.body) {
      const message = response.status === 401
        ? t("session_expired")
        : t("error", { message: await window.llmpilot.errorMessage(response) });
      showError(turn, message);
      if (response.status === 401) {
        turn.extras.append(el("p", {}, el("a", { href: "/login?next=/" }, t("sign_in"))));
      }
      finish(turn);
      return;
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let ended = false;
    try {
      while (!ended) {
        const { value, done } = await reader.read();
        if (done) break;
        let events;
        [events, buffer] = parseEvents(buffer + value);
        for (const event of events) {
          let payload;
          try {
            payload = JSON.parse(event.data);
          } catch (_) {
            continue; // a malformed event is skipped, the stream goes on
          }
          if (handleEvent(turn, event.name, payload)) ended = true;
        }
      }
      if (!ended) showError(turn, t("error", { message: "the answer stream ended early" }));
    } catch (err) {
      if (!turn.abandonSent) showError(turn, t("error", { message: String(err && err.message ? err.message : err) }));
    } finally {
      reader.cancel().catch(() => {});
      finish(turn);
      followScroll();
    }
  }

  // ---- the question box ---------------------------------------------------------------------

  question.addEventListener("keydown", (event) => {
    // Enter sends; Shift+Enter is a new line; Enter that ends an IME composition (Hangul) is not a send.
    if (event.key !== "Enter" || event.shiftKey || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    form.requestSubmit();
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = question.value.trim();
    if (!text || (current && !current.finished)) return;
    question.value = "";
    ask(text);
    question.focus();
  });
});
