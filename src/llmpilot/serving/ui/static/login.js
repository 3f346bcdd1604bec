// Sign in: POST the pasted key to /api/session (which sets the HttpOnly cookie), then go on.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const { postJson } = window.llmpilot;
  const form = document.getElementById("login-form");
  const input = document.getElementById("api-key");
  const error = document.getElementById("login-error");
  const button = form.querySelector("button[type=submit]");

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    if (!key) {
      error.textContent = error.dataset.empty;
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    button.disabled = true;
    const result = await postJson("/api/session", { key });
    button.disabled = false;
    if (result.ok) {
      input.value = "";
      window.location.assign(form.dataset.next || "/");
      return;
    }
    error.textContent = result.status === 401 ? error.dataset.failed : result.message;
    input.setAttribute("aria-invalid", "true");
    input.focus();
    input.select();
  });
});
