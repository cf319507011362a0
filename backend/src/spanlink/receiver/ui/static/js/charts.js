// Small SVG charts (no chart library): a line chart over time, bars over time, and
// horizontal bars by category. Labels are text nodes; sizes come from a viewBox so the
// charts scale with the window.

import { h, s } from "./dom.js";

const W = 640;
const H = 220;
const PAD = { left: 64, right: 12, top: 12, bottom: 28 };

function scaleMax(values) {
  const max = Math.max(0, ...values.filter((v) => v !== null && Number.isFinite(v)));
  if (max === 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= max) return step * magnitude;
  return max;
}

function frame(max, labels, format) {
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const g = s("g", { class: "axes" });
  for (const f of [0, 0.5, 1]) {
    const y = PAD.top + innerH * (1 - f);
    g.append(
      s("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: "grid" }),
      s("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end", class: "label" }, format(max * f)),
    );
  }
  const step = Math.max(1, Math.ceil(labels.length / 6));
  labels.forEach((label, i) => {
    if (i % step) return;
    const x = PAD.left + (innerW * (i + 0.5)) / labels.length;
    g.append(s("text", { x, y: H - 8, "text-anchor": "middle", class: "label" }, label));
  });
  return { g, innerW, innerH };
}

function svg(title, ...children) {
  return s(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, class: "chart", preserveAspectRatio: "xMidYMid meet" },
    s("title", {}, title),
    children,
  );
}

/** Lines over time buckets: series = [{name, cls, values: (number|null)[]}]. */
export function lineChart(title, labels, series, format) {
  const max = scaleMax(series.flatMap((x) => x.values));
  const { g, innerW, innerH } = frame(max, labels, format);
  const x = (i) => PAD.left + (innerW * (i + 0.5)) / labels.length;
  const y = (v) => PAD.top + innerH * (1 - v / max);
  const lines = series.map((serie) => {
    const group = s("g", { class: `series ${serie.cls}` });
    let path = "";
    serie.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) return;
      path += `${path && serie.values[i - 1] != null ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      group.append(s("circle", { cx: x(i), cy: y(v), r: 3 }, s("title", {}, `${serie.name} ${labels[i]}: ${format(v)}`)));
    });
    if (path) group.prepend(s("path", { d: path }));
    return group;
  });
  return figure(title, svg(title, g, lines), series);
}

/** One bar per time bucket. */
export function barChart(title, labels, values, format, cls = "") {
  const max = scaleMax(values);
  const { g, innerW, innerH } = frame(max, labels, format);
  const slot = innerW / labels.length;
  const bars = values.map((v, i) => {
    const height = v ? (innerH * v) / max : 0;
    return s(
      "rect",
      { x: PAD.left + slot * i + slot * 0.15, y: PAD.top + innerH - height, width: slot * 0.7, height, class: `bar ${cls}` },
      s("title", {}, `${labels[i]}: ${format(v ?? 0)}`),
    );
  });
  return figure(title, svg(title, g, bars));
}

/** Horizontal bars by category: rows = [{label, parts: [{value, cls, name}]}]. */
export function hbarChart(title, rows, format) {
  if (!rows.length) return figure(title, h("p", { class: "muted", text: "No data in this range." }));
  const rowH = 26;
  const height = rows.length * rowH + 8;
  const labelW = 180;
  const max = scaleMax(rows.map((r) => r.parts.reduce((a, p) => a + (p.value || 0), 0)));
  const innerW = W - labelW - 90;
  const body = rows.map((row, i) => {
    const y = 4 + i * rowH;
    const group = s("g", { class: "hrow" }, s("text", { x: labelW - 8, y: y + 16, "text-anchor": "end", class: "label" }, row.label));
    let x = labelW;
    let total = 0;
    for (const part of row.parts) {
      const w = ((part.value || 0) / max) * innerW;
      group.append(
        s("rect", { x, y: y + 4, width: Math.max(0, w), height: rowH - 8, class: `bar ${part.cls || ""}` }, s("title", {}, `${row.label} ${part.name || ""}: ${format(part.value || 0)}`)),
      );
      x += w;
      total += part.value || 0;
    }
    group.append(s("text", { x: x + 6, y: y + 16, class: "label" }, format(total)));
    return group;
  });
  const chart = s(
    "svg",
    { viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": title, class: "chart" },
    s("title", {}, title),
    body,
  );
  return figure(title, chart);
}

function figure(title, chart, series) {
  return h(
    "figure",
    { class: "chart-box" },
    h("figcaption", {}, h("span", { text: title }), series ? legend(series) : null),
    chart,
  );
}

function legend(series) {
  return h(
    "span",
    { class: "legend" },
    series.map((x) => h("span", { class: `key ${x.cls}` }, h("i", {}), x.name)),
  );
}
