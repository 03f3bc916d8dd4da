// The dashboard's shell: the sign-in gate, hash routes, and one page at a time. Each page's
// render() returns a function that stops its polling when the user leaves it.

import { apiKey, signOut } from "./api.js";
import * as comparisons from "./pages/comparisons.js";
import * as datasets from "./pages/datasets.js";
import * as job from "./pages/job.js";
import * as jobs from "./pages/jobs.js";
import * as models from "./pages/models.js";
import * as signin from "./pages/signin.js";
import * as submit from "./pages/submit.js";
import * as sweeps from "./pages/sweeps.js";

// [pattern of the hash's path (the part before "?"), page, nav section]
const ROUTES = [
  [/^#\/jobs\/([^/]+)$/, job, "jobs"],
  [/^#\/jobs$/, jobs, "jobs"],
  [/^#\/submit$/, submit, "submit"],
  [/^#\/datasets\/([^/]+)$/, datasets, "datasets"],
  [/^#\/datasets$/, datasets, "datasets"],
  [/^#\/sweeps\/([^/]+)$/, sweeps, "sweeps"],
  [/^#\/sweeps$/, sweeps, "sweeps"],
  [/^#\/comparisons\/([^/]+)$/, comparisons, "comparisons"],
  [/^#\/comparisons$/, comparisons, "comparisons"],
  [/^#\/models\/([^/]+)$/, models, "models"],
  [/^#\/models$/, models, "models"],
];

let leave = null;

function route() {
  leave?.();
  leave = null;
  const view = document.getElementById("view");
  view.replaceChildren();
  const key = apiKey();
  document.querySelector(".topbar").hidden = !key;
  if (!key) {
    document.title = "Sign in · Adamant";
    leave = signin.render(view) || null;
    return;
  }
  document.querySelector(".key-hint").textContent = `key …${key.slice(-4)}`;
  const [path, search = ""] = (location.hash || "#/jobs").split("?");
  for (const [pattern, page, section] of ROUTES) {
    const match = pattern.exec(path);
    if (!match) continue;
    for (const link of document.querySelectorAll("[data-nav]")) {
      link.toggleAttribute("aria-current", link.dataset.nav === section);
    }
    leave = page.render(view, { id: match[1] ? decodeURIComponent(match[1]) : null, params: new URLSearchParams(search) }) || null;
    view.focus({ preventScroll: true });
    window.scrollTo(0, 0);
    return;
  }
  location.replace("#/jobs");
}

window.addEventListener("hashchange", route);
window.addEventListener("adamant:signed-in", route);
window.addEventListener("adamant:signed-out", route);
document.getElementById("sign-out").addEventListener("click", () => signOut());
route();
