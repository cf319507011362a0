// Reading span attributes and the trace's enrichment (cost, anomalies) defensively: a
// receiver may have enrichment off, or a plugin may not have run yet.

const LLM_OPERATIONS = new Set(["chat", "text_completion", "generate_content", "embeddings"]);

export function model(attrs) {
  return attrs["gen_ai.response.model"] ?? attrs["gen_ai.request.model"] ?? null;
}

function count(value) {
  const n = Number(value);
  return value === undefined || value === null || value === "" || !Number.isFinite(n) ? null : n;
}

export function usage(attrs) {
  return {
    input: count(attrs["gen_ai.usage.input_tokens"]),
    output: count(attrs["gen_ai.usage.output_tokens"]),
    cacheRead: count(attrs["gen_ai.usage.cache_read.input_tokens"]),
    cacheCreation: count(attrs["gen_ai.usage.cache_creation.input_tokens"]),
  };
}

/** A span that called a model (by the GenAI conventions). */
export function isLlm(attrs) {
  return (
    LLM_OPERATIONS.has(attrs["gen_ai.operation.name"]) ||
    (model(attrs) !== null && attrs["gen_ai.operation.name"] === undefined)
  );
}

export function isTool(attrs) {
  return attrs["gen_ai.operation.name"] === "execute_tool" || attrs["gen_ai.tool.name"] != null;
}

/**
 * What the waterfall shows of a span, from the fields every span of the trace answer has
 * (`model`, `input_tokens`, `output_tokens`, `operation_name`, `tool_name`): the same rules
 * as isLlm/isTool/model/usage, without the span's attributes.
 */
export function summary(span) {
  const op = span.operation_name ?? undefined;
  const spanModel = span.model ?? null;
  return {
    llm: LLM_OPERATIONS.has(op) || (spanModel !== null && op === undefined),
    tool: op === "execute_tool" || span.tool_name != null,
    model: spanModel,
    toolName: span.tool_name ?? null,
    input: count(span.input_tokens),
    output: count(span.output_tokens),
  };
}

function data(enrichment) {
  const d = enrichment && enrichment.data;
  return d && typeof d === "object" ? d : {};
}

function number(value) {
  if (value && typeof value === "object") value = value.cost_usd ?? value.total_cost;
  const n = Number(value);
  return value === null || value === undefined || !Number.isFinite(n) ? null : n;
}

/** A plugin's trace-level result: data.trace[plugin] as the receiver stores it. */
export function traceResult(enrichment, plugin) {
  const d = data(enrichment);
  const found = d.trace && typeof d.trace === "object" ? d.trace[plugin] : d[plugin];
  return found && typeof found === "object" ? found : null;
}

/** Plugin errors recorded while enriching the trace: {plugin: message}. */
export function errors(enrichment) {
  const found = data(enrichment).errors;
  return found && typeof found === "object" ? found : {};
}

/**
 * The trace's cost: {total, complete, byModel: [[model, usd]]} or null. Reads only the
 * documented fields of the cost plugin's trace result: total_cost, complete,
 * unknown_models and cost_by_model (see plugins/spanlink-plugin-cost/README.md).
 */
export function traceCost(enrichment) {
  const cost = traceResult(enrichment, "cost");
  if (!cost) return null;
  const byModel = cost.cost_by_model;
  return {
    total: number(cost.total_cost),
    complete: cost.complete !== false,
    unknownModels: Array.isArray(cost.unknown_models) ? cost.unknown_models : [],
    byModel: Object.entries(byModel && typeof byModel === "object" ? byModel : {})
      .map(([name, value]) => [name, number(value)])
      .filter(([, usd]) => usd !== null),
  };
}

/** The trace's anomaly findings: [{rule, span_id, severity, message}]. */
export function anomalies(enrichment) {
  const result = traceResult(enrichment, "anomaly");
  const found = result?.anomalies;
  return Array.isArray(found) ? found.filter((a) => a && typeof a === "object") : [];
}

/** Per-span plugin results ({plugin: result}) for one span, or {}. */
export function spanResults(enrichment, spanId) {
  const d = data(enrichment);
  const table = d.spans;
  const found = table && typeof table === "object" ? table[spanId] : null;
  return found && typeof found === "object" ? found : {};
}
