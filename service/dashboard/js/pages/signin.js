// Sign in with an API key: checked against the API once, then kept in this tab's sessionStorage.

import { ApiError, getJSON, signIn } from "../api.js";
import { h, problemBox, replace } from "../dom.js";

export function render(view) {
  const input = h("input", { id: "api-key", type: "password", name: "api-key", autocomplete: "current-password", required: true,
    placeholder: "your API key", spellcheck: "false" });
  const feedback = h("div.feedback");
  const button = h("button.button.primary", { type: "submit" }, "Sign in");
  const form = h("form.card.signin", { onsubmit: async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    button.disabled = true;
    replace(feedback);
    try {
      await getJSON("/v1/jobs?limit=1", { key }); // a wrong key is a 401 here, before we keep it
      signIn(key);
      window.dispatchEvent(new Event("adamant:signed-in"));
    } catch (error) {
      const problem = error.status === 401
        ? new ApiError(401, { title: "That key was not accepted", detail: "Check the key (serve.sh prints one and saves it in var/local-api-key) and try again." })
        : error;
      replace(feedback, problemBox(problem));
    } finally {
      button.disabled = false;
    }
  } },
  h("h1", {}, "Adamant"),
  h("p.muted", {}, "Training-as-a-service for marketing data teams. Sign in with your API key."),
  h("label", { for: "api-key" }, "API key"),
  input,
  button,
  feedback,
  h("p.muted.small", {}, "The key stays in this browser tab only (sessionStorage) and is sent as a Bearer token. ",
    h("a", { href: "/docs" }, "API reference")));
  view.append(h("section.signin-page", {}, form));
  input.focus();
}
