// The JSON API client: the API key lives in sessionStorage (this tab only) and travels only
// in the Authorization header, never in a URL.

const STORAGE_KEY = "spanlink.apiKey";
const TIMEOUT_MS = 30_000;

/** The key was refused (401): the user must sign in again. */
export class AuthError extends Error {}

/** Any other failed call, with the HTTP status (0 when the receiver was unreachable). */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function getKey() {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function setKey(key) {
  sessionStorage.setItem(STORAGE_KEY, key);
}

export function clearKey() {
  sessionStorage.removeItem(STORAGE_KEY);
}

/**
 * `id` encoded as one URL path segment, or null when no URL path can carry it: the server
 * decodes "%2F" back into "/", and "." or ".." (encoded or not) are resolved away, so
 * `/test-runs/a%2Fcompare` or `/test-runs/..` would address another resource.
 */
export function pathSegment(id) {
  const text = String(id);
  if (!text || text.includes("/") || text === "." || text === "..") return null;
  return encodeURIComponent(text);
}

/** GET `path` with `params` (empty values dropped) and return the decoded JSON body. */
export async function get(path, params, { key = getKey(), signal } = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") query.set(name, String(value));
  }
  const qs = query.toString();
  const url = path + (qs ? `?${qs}` : "");
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  if (signal) signal.addEventListener("abort", () => controller.abort(), { once: true });
  let response;
  try {
    response = await fetch(url, {
      headers: { Authorization: `Bearer ${key || ""}`, Accept: "application/json" },
      signal: controller.signal,
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
  } catch (error) {
    if (signal && signal.aborted) throw error;
    throw new ApiError(
      0,
      controller.signal.aborted
        ? `The receiver did not answer within ${TIMEOUT_MS / 1000} s.`
        : "The receiver could not be reached. Is it running?",
    );
  } finally {
    clearTimeout(timer);
  }
  if (response.status === 401) {
    throw new AuthError("This API key was not accepted: it is unknown or revoked.");
  }
  if (!response.ok) {
    let detail = "";
    try {
      // Every error of the receiver is {"code", "message"} (422s add "errors").
      const body = await response.json();
      detail = typeof body.message === "string" ? body.message : "";
    } catch {
      /* not JSON */
    }
    const retry = response.headers.get("Retry-After");
    throw new ApiError(
      response.status,
      `${path} answered ${response.status}` +
        (detail ? `: ${detail}` : "") +
        (retry ? ` (retry in ${retry} s)` : ""),
    );
  }
  return response.json();
}
