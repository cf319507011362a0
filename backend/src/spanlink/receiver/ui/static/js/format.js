// Formatting of durations, times, tokens and money for display.

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** Unix nanoseconds (number) -> local "YYYY-MM-DD HH:MM:SS". */
export function time(ns) {
  if (ns === null || ns === undefined) return "—";
  return dateTime(new Date(ns / 1e6));
}

export function dateTime(date) {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) return "—";
  const pad = (n) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

export function isoTime(value) {
  if (!value) return "—";
  return dateTime(new Date(value));
}

// One formatter for every call: toLocaleString builds a new one each time (slow for the
// thousands of rows of a large trace).
const INTEGER = new Intl.NumberFormat("en-US", { maximumFractionDigits: 3 });

export function integer(n) {
  if (n === null || n === undefined || n === "") return "—";
  const v = Number(n);
  return Number.isFinite(v) ? INTEGER.format(v) : String(n);
}

export function tokens(input, output) {
  if (input == null && output == null) return "—";
  return `${integer((input || 0) + (output || 0))}`;
}

/** USD for display. The receiver sends null for a cost it does not know: "unknown", never $0. */
export function cost(usd) {
  if (usd === null || usd === undefined || usd === "") return "unknown";
  const v = Number(usd);
  if (!Number.isFinite(v)) return "unknown";
  if (v === 0) return "$0";
  if (v < 0.01) return `$${v.toPrecision(2)}`;
  return `$${v.toFixed(v < 10 ? 4 : 2)}`;
}

export function percent(ratio) {
  if (ratio === null || ratio === undefined) return "—";
  return `${(ratio * 100).toFixed(ratio < 0.1 ? 1 : 0)}%`;
}
