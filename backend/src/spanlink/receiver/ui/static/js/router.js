// Hash routes: "#/section/id?filters". The query lives in the URL so a view can be shared.

/** The current route: path segments and query parameters of the hash. */
export function currentRoute() {
  const hash = location.hash.replace(/^#\/?/, "");
  const index = hash.indexOf("?");
  const path = index < 0 ? hash : hash.slice(0, index);
  const query = index < 0 ? "" : hash.slice(index + 1);
  const parts = path
    .split("/")
    .filter(Boolean)
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  return { parts, params: new URLSearchParams(query) };
}

/** Navigate to `hash`; `replace` rewrites the URL without rendering again. */
export function go(hash, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", hash);
  else if (location.hash !== hash) location.hash = hash;
}
