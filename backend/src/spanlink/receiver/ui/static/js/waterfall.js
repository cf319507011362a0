// The waterfall: one row per span in tree order, a bar per span on the trace's time axis.
// Only the rows in view (plus a margin) exist in the DOM, so a 10,000-span trace scrolls
// as smoothly as a 10-span one.

import { h } from "./dom.js";
import * as enrich from "./enrich.js";
import * as fmt from "./format.js";

export const ROW_HEIGHT = 26;
const OVERSCAN = 12;
const MAX_INDENT = 24;

/** Per-span display data, computed the first time the span's row is drawn (a large
 * trace's first render prepares only the rows in view) and kept for redraws. */
function prepare(span, start, total) {
  const offset = (span.start_time_unix_nano - start) / 1e6;
  const sum = enrich.summary(span);
  let info = "";
  if (sum.llm) {
    const parts = [sum.model || "model?"];
    if (sum.input !== null || sum.output !== null) {
      parts.push(`${fmt.integer(sum.input ?? 0)}→${fmt.integer(sum.output ?? 0)} tok`);
    }
    info = parts.join(" · ");
  } else if (sum.tool && sum.toolName) {
    info = `tool ${sum.toolName}`;
  }
  const kind = String(span.kind || "INTERNAL").toLowerCase().replace(/^span_kind_/, "");
  return {
    span,
    error: span.status_code === "ERROR",
    llm: sum.llm,
    tool: sum.tool,
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
    this.spans = spans;
    this.startNs = traceStartNs;
    this.rows = new Array(spans.length); // prepared display data, filled as rows are drawn
    // Tree helpers over the depth-first order: parent index and subtree size of each row.
    this.parent = new Int32Array(spans.length).fill(-1);
    this.hasChildren = new Uint8Array(spans.length);
    const stack = [];
    spans.forEach((span, i) => {
      const depth = span.depth || 0;
      while (stack.length && (spans[stack[stack.length - 1]].depth || 0) >= depth) stack.pop();
      if (stack.length) {
        this.parent[i] = stack[stack.length - 1];
        this.hasChildren[stack[stack.length - 1]] = 1;
      }
      stack.push(i);
    });
    this.collapsed = new Set();
    this.visible = null; // row indexes shown, in order (null: all of them)
    this.position = null; // row index -> position among the visible rows
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
          "aria-label":
            "Spans of the trace: up and down to move, left and right to fold, Enter to open",
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
      if (event.target.dataset.fold) {
        this.toggle(index);
        this.select(index);
        return;
      }
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

  get count() {
    return this.visible ? this.visible.length : this.spans.length;
  }

  prepared(index) {
    return (this.rows[index] ??= prepare(this.spans[index], this.startNs, this.totalMs));
  }

  rowAt(position) {
    return this.visible ? this.visible[position] : position;
  }

  positionOf(index) {
    return this.position ? this.position[index] : index;
  }

  /** Recompute the visible rows after a subtree was folded or unfolded. */
  refold() {
    if (!this.collapsed.size) {
      this.visible = null;
      this.position = null;
    } else {
      const visible = [];
      const position = new Int32Array(this.spans.length).fill(-1);
      let skipDepth = Infinity;
      for (let i = 0; i < this.spans.length; i++) {
        const depth = this.spans[i].depth || 0;
        if (depth > skipDepth) continue;
        skipDepth = this.collapsed.has(i) ? depth : Infinity;
        position[i] = visible.length;
        visible.push(i);
      }
      this.visible = visible;
      this.position = position;
    }
    this.body.style.height = `${this.count * ROW_HEIGHT}px`;
    this.scroller.setAttribute("aria-rowcount", String(this.count));
    this.render(true);
  }

  /** Fold (false) or unfold (true) the subtree under a row. */
  toggle(index, open = this.collapsed.has(index)) {
    if (!this.hasChildren[index] || open === !this.collapsed.has(index)) return;
    if (open) this.collapsed.delete(index);
    else this.collapsed.add(index);
    this.refold();
  }

  /** Unfold every folded ancestor of a row, so it can be shown. */
  reveal(index) {
    let changed = false;
    for (let p = this.parent[index]; p >= 0; p = this.parent[p]) {
      if (this.collapsed.delete(p)) changed = true;
    }
    if (changed) this.refold();
  }

  /** Build the rows in view; cheap enough to run on every scroll frame. */
  render(force = false) {
    const top = this.scroller.scrollTop;
    const height = this.scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.count, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    if (!force && first === this.range[0] && last === this.range[1]) return;
    this.range = [first, last];
    const nodes = [];
    for (let p = first; p < last; p++) nodes.push(this.row(this.rowAt(p), p));
    this.body.replaceChildren(...nodes);
  }

  row(index, position) {
    const r = this.prepared(index);
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
      this.hasChildren[index]
        ? h("span", {
            class: "fold",
            attrs: { title: this.collapsed.has(index) ? "Unfold (→)" : "Fold (←)" },
            dataset: { fold: String(index) },
            text: this.collapsed.has(index) ? "▸" : "▾",
          })
        : h("span", { class: "fold none" }),
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
          "aria-rowindex": String(position + 1),
          "aria-expanded": this.hasChildren[index] ? String(!this.collapsed.has(index)) : null,
          "aria-selected": String(index === this.selected),
          title: `${span.name} — ${durationText}${r.error ? " — error" : ""}`,
        },
        dataset: { index: String(index), spanId: span.span_id, depth: String(span.depth || 0) },
        style: { top: `${position * ROW_HEIGHT}px` },
      },
      name,
      time,
    );
  }

  /** Select a row, scrolling it into view. */
  select(index, { focus = false } = {}) {
    if (!this.spans.length) return;
    index = Math.max(0, Math.min(this.spans.length - 1, index));
    this.reveal(index);
    this.selected = index;
    const top = this.positionOf(index) * ROW_HEIGHT;
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
    return this.spans.findIndex((span) => span.span_id === spanId);
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
    const at = this.selected < 0 ? -1 : this.positionOf(this.selected);
    const go = (position) => this.select(this.rowAt(Math.max(0, Math.min(this.count - 1, position))));
    if (event.key in moves) {
      event.preventDefault();
      go(at < 0 ? 0 : at + moves[event.key]);
    } else if (event.key === "Home") {
      event.preventDefault();
      go(0);
    } else if (event.key === "End") {
      event.preventDefault();
      go(this.count - 1);
    } else if ((event.key === "ArrowLeft" || event.key === "h") && this.selected >= 0) {
      // Fold the subtree, or go to the parent when already folded (as in a tree view).
      event.preventDefault();
      if (this.hasChildren[this.selected] && !this.collapsed.has(this.selected)) {
        this.toggle(this.selected, false);
        this.select(this.selected);
      } else if (this.parent[this.selected] >= 0) {
        this.select(this.parent[this.selected]);
      }
    } else if ((event.key === "ArrowRight" || event.key === "l") && this.selected >= 0) {
      event.preventDefault();
      if (this.collapsed.has(this.selected)) {
        this.toggle(this.selected, true);
        this.select(this.selected);
      } else if (this.hasChildren[this.selected]) {
        this.select(this.selected + 1);
      }
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      if (this.selected < 0) this.select(0);
      this.onOpen(this.selected);
    }
  }
}
