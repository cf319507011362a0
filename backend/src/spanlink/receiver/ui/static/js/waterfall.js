// The waterfall: one row per span in tree order, a bar per span on the trace's time axis.
// Only the rows in view (plus a margin) exist in the DOM, so a 10,000-span trace scrolls
// as smoothly as a 10-span one.

import { h } from "./dom.js";
import * as enrich from "./enrich.js";
import * as fmt from "./format.js";

export const ROW_HEIGHT = 26;
const OVERSCAN = 12;
const MAX_INDENT = 24;

/** Precomputed per-span display data (done once; rows are rebuilt while scrolling). */
function prepare(span, start, total) {
  const attrs = span.attributes || {};
  const offset = (span.start_time_unix_nano - start) / 1e6;
  const llm = enrich.isLlm(attrs);
  const usage = enrich.usage(attrs);
  let info = "";
  if (llm) {
    const parts = [enrich.model(attrs) || "model?"];
    if (usage.input !== null || usage.output !== null) {
      parts.push(`${fmt.integer(usage.input ?? 0)}→${fmt.integer(usage.output ?? 0)} tok`);
    }
    info = parts.join(" · ");
  } else if (enrich.isTool(attrs) && attrs["gen_ai.tool.name"]) {
    info = `tool ${attrs["gen_ai.tool.name"]}`;
  }
  const kind = String(span.kind || "INTERNAL").toLowerCase().replace(/^span_kind_/, "");
  return {
    span,
    error: span.status_code === "ERROR",
    llm,
    tool: enrich.isTool(attrs),
    kind,
    info,
    left: total > 0 ? Math.min(100, (offset / total) * 100) : 0,
    width: total > 0 ? Math.max(0, ((span.duration_ms || 0) / total) * 100) : 100,
    offset,
  };
}

export class Waterfall {
  /**
   * @param spans spans in tree order (each with `depth`), as the trace API returns them
   * @param callbacks onSelect(index), onOpen(index)
   */
  constructor(spans, traceStartNs, totalMs, { onSelect, onOpen }) {
    this.rows = spans.map((span) => prepare(span, traceStartNs, totalMs));
    this.totalMs = totalMs;
    this.selected = -1;
    this.onSelect = onSelect;
    this.onOpen = onOpen;
    this.range = [0, 0];
    this.body = h("div", { class: "wf-body", style: { height: `${spans.length * ROW_HEIGHT}px` } });
    this.scroller = h(
      "div",
      {
        class: "wf-scroll",
        attrs: {
          tabindex: "0",
          role: "grid",
          "aria-label": "Spans of the trace: up and down to move, Enter to open",
          "aria-rowcount": String(spans.length),
        },
      },
      this.body,
    );
    this.el = h("div", { class: "waterfall" }, this.axis(), this.scroller);
    let pending = false;
    this.scroller.addEventListener("scroll", () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        this.render();
      });
    });
    this.scroller.addEventListener("keydown", (event) => this.key(event));
    this.body.addEventListener("click", (event) => {
      const row = event.target.closest(".wf-row");
      if (!row) return;
      const index = Number(row.dataset.index);
      this.select(index);
      this.onOpen(index);
    });
  }

  axis() {
    const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) =>
      h("span", {
        class: "tick",
        style: { left: `${f * 100}%` },
        text: f === 0 ? "0" : fmt.duration(this.totalMs * f),
      }),
    );
    return h(
      "div",
      { class: "wf-axis", attrs: { "aria-hidden": "true" } },
      h("div", { class: "wf-name", text: "Span" }),
      h("div", { class: "wf-time" }, ticks),
    );
  }

  /** Build the rows in view; cheap enough to run on every scroll frame. */
  render(force = false) {
    const top = this.scroller.scrollTop;
    const height = this.scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    if (!force && first === this.range[0] && last === this.range[1]) return;
    this.range = [first, last];
    const nodes = [];
    for (let i = first; i < last; i++) nodes.push(this.row(i));
    this.body.replaceChildren(...nodes);
  }

  row(index) {
    const r = this.rows[index];
    const span = r.span;
    const classes = ["wf-row", `kind-${r.kind}`];
    if (r.error) classes.push("error");
    if (r.llm) classes.push("llm");
    else if (r.tool) classes.push("tool");
    if (index === this.selected) classes.push("selected");
    const depth = Math.min(span.depth || 0, MAX_INDENT);
    const name = h(
      "div",
      { class: "wf-name", attrs: { role: "gridcell" }, style: { paddingLeft: `${6 + depth * 12}px` } },
      r.error ? h("span", { class: "err-icon", attrs: { title: "error", "aria-label": "error" }, text: "!" }) : null,
      h("span", { class: "span-name", text: span.name }),
      r.info ? h("span", { class: "llm-info", text: r.info }) : null,
    );
    const durationText = fmt.duration(span.duration_ms);
    const labelLeft = r.left + r.width;
    const time = h(
      "div",
      { class: "wf-time", attrs: { role: "gridcell" } },
      h("span", {
        class: "bar",
        style: { left: `${r.left}%`, width: `max(2px, ${r.width}%)` },
      }),
      h("span", {
        class: labelLeft > 80 ? "dur before" : "dur",
        style: labelLeft > 80 ? { right: `${100 - r.left}%` } : { left: `${labelLeft}%` },
        text: durationText,
      }),
    );
    return h(
      "div",
      {
        class: classes.join(" "),
        attrs: {
          role: "row",
          id: `wf-row-${index}`,
          "aria-rowindex": String(index + 1),
          "aria-selected": String(index === this.selected),
          title: `${span.name} — ${durationText}${r.error ? " — error" : ""}`,
        },
        dataset: { index: String(index), spanId: span.span_id, depth: String(span.depth || 0) },
        style: { top: `${index * ROW_HEIGHT}px` },
      },
      name,
      time,
    );
  }

  /** Select a row, scrolling it into view. */
  select(index, { focus = false } = {}) {
    if (!this.rows.length) return;
    index = Math.max(0, Math.min(this.rows.length - 1, index));
    this.selected = index;
    const top = index * ROW_HEIGHT;
    const view = this.scroller.clientHeight || 600;
    if (top < this.scroller.scrollTop) this.scroller.scrollTop = top;
    else if (top + ROW_HEIGHT > this.scroller.scrollTop + view) {
      this.scroller.scrollTop = top + ROW_HEIGHT - view;
    }
    this.render(true);
    this.scroller.setAttribute("aria-activedescendant", `wf-row-${index}`);
    if (focus) this.scroller.focus({ preventScroll: true });
    this.onSelect(index);
  }

  indexOf(spanId) {
    return this.rows.findIndex((r) => r.span.span_id === spanId);
  }

  key(event) {
    const page = Math.max(1, Math.floor((this.scroller.clientHeight || 600) / ROW_HEIGHT) - 1);
    const moves = {
      ArrowDown: 1,
      j: 1,
      ArrowUp: -1,
      k: -1,
      PageDown: page,
      PageUp: -page,
    };
    if (event.key in moves) {
      event.preventDefault();
      this.select(this.selected < 0 ? 0 : this.selected + moves[event.key]);
    } else if (event.key === "Home") {
      event.preventDefault();
      this.select(0);
    } else if (event.key === "End") {
      event.preventDefault();
      this.select(this.rows.length - 1);
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      if (this.selected < 0) this.select(0);
      this.onOpen(this.selected);
    }
  }
}
