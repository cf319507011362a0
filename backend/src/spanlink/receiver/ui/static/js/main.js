// Entry point: sign-in, hash routing (so filters and the selected span live in the URL and
// a view can be shared), and the top navigation.

import { AuthError, clearKey, get, getKey, setKey } from "./api.js";
import { renderCompare } from "./compare.js";
import { renderDiff } from "./diff.js";
import { h, mount, notice } from "./dom.js";
import { renderMetrics } from "./metrics.js";
import { renderRun, renderRuns } from "./runs.js";
import { renderTrace } from "./trace.js";
import { currentRoute } from "./router.js";
import { renderTraces } from "./traces.js";

const view = document.getElementById("view");
const nav = document.getElementById("nav");
const signout = document.getElementById("signout");
let cleanup = null;
let generation = 0;

function showSignIn(message) {
  nav.hidden = true;
  signout.hidden = true;
  const input = h("input", {
    attrs: {
      id: "api-key",
      type: "password",
      name: "api-key",
      autocomplete: "off",
      spellcheck: "false",
      placeholder: "slk_…",
      required: true,
    },
  });
  const error = h("div", { class: "signin-error", attrs: { "aria-live": "polite" } });
  if (message) mount(error, notice("error", message));
  const button = h("button", { attrs: { type: "submit" }, text: "Sign in" });
  const form = h(
    "form",
    { class: "signin", attrs: { method: "post", action: "", "aria-label": "Sign in" } },
    h("h1", { text: "Sign in to spanlink" }),
    h("label", { attrs: { for: "api-key" }, text: "API key" }),
    input,
    h("p", {
      class: "muted",
      text:
        "Create a key with `spanlink-receiver keys create --project NAME`. " +
        "It is kept in this tab only (sessionStorage) and sent as a Bearer header.",
    }),
    button,
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    button.disabled = true;
    mount(error, notice("info", "Checking the key…"));
    try {
      await get("/api/v1/traces", { limit: 1 }, { key });
      setKey(key);
      input.value = "";
      render();
    } catch (failure) {
      const text =
        failure instanceof AuthError
          ? "Wrong API key: the receiver does not know this key, or it was revoked."
          : failure.message;
      mount(error, notice("error", text));
      button.disabled = false;
      input.focus();
      input.select();
    }
  });
  mount(view, form);
  view.dataset.rendered = "signin";
  input.focus();
}

function markNav(section) {
  for (const a of nav.querySelectorAll("a")) {
    if (a.dataset.section === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function render() {
  if (cleanup) cleanup();
  cleanup = null;
  const mine = ++generation;
  view.dataset.rendered = "";
  if (!getKey()) {
    showSignIn();
    return;
  }
  nav.hidden = false;
  signout.hidden = false;
  const { parts, params } = currentRoute();
  const [section = "traces", id, other] = parts;
  document.title = `${{ trace: "Trace", run: "Test run", runs: "Test runs", metrics: "Metrics", compare: "Comparison", diff: "Trace diff" }[section] || "Traces"} · spanlink`;
  const ctx = {
    params,
    isCurrent: () => mine === generation,
    onCleanup: (fn) => {
      const previous = cleanup;
      cleanup = () => {
        if (previous) previous();
        fn();
      };
    },
  };
  const controller = new AbortController();
  ctx.signal = controller.signal;
  ctx.onCleanup(() => controller.abort());
  markNav({ trace: "traces", run: "runs", compare: "runs", diff: "runs" }[section] || section);
  try {
    if (section === "trace" && id) await renderTrace(view, id, ctx);
    // "#/runs/<id>" too: the URL the receiver hands out for a run (POST /test-runs).
    else if ((section === "run" || section === "runs") && id) await renderRun(view, id, ctx);
    else if (section === "runs") await renderRuns(view, ctx);
    else if (section === "compare" && id) await renderCompare(view, id, ctx);
    else if (section === "diff" && id && other) await renderDiff(view, id, other, ctx);
    else if (section === "metrics") await renderMetrics(view, ctx);
    else await renderTraces(view, ctx);
  } catch (failure) {
    if (!ctx.isCurrent() || failure.name === "AbortError") return;
    if (failure instanceof AuthError) {
      clearKey();
      showSignIn(`${failure.message} Sign in again.`);
      return;
    }
    mount(view, notice("error", failure.message || String(failure)));
    view.dataset.rendered = "error";
  }
}

signout.addEventListener("click", () => {
  clearKey();
  location.hash = "#/traces";
  render();
});
window.addEventListener("hashchange", () => render());
window.addEventListener("spanlink:auth", () => render());
render();
