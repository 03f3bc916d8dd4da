// The API over fetch: the bearer key, problem details as ApiError, ETag polls, blob downloads.

const KEY_STORAGE = "adamant.apiKey";

export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function signIn(key) {
  sessionStorage.setItem(KEY_STORAGE, key);
}

export function signOut() {
  sessionStorage.removeItem(KEY_STORAGE);
  etagCache.clear();
  window.dispatchEvent(new Event("adamant:signed-out"));
}

/** An RFC 9457 problem (or a network failure) a person can read: title, detail, field errors. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.title = problem.title || (status ? `HTTP ${status}` : "Network error");
    this.detail = problem.detail || "";
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.type = problem.type || "";
  }
}

async function problemOf(response) {
  const type = response.headers.get("content-type") || "";
  if (type.includes("json")) {
    try {
      return await response.json();
    } catch {
      // fall through: a body that says it is JSON and is not
    }
  }
  const text = await response.text().catch(() => "");
  return { title: response.statusText || `HTTP ${response.status}`, detail: text.slice(0, 500) };
}

/**
 * One request. `json` is sent as the body; `form` (FormData) as multipart. Returns the Response
 * for 2xx and 304; throws ApiError otherwise. A 401 signs out: the key no longer works.
 */
export async function request(method, path, { json, form, headers = {}, signal, key } = {}) {
  // no-store: the browser adds no revalidation of its own, so our If-None-Match 304s reach us.
  const init = { method, headers: { Accept: "application/json", ...headers }, signal, cache: "no-store" };
  const bearer = key ?? apiKey();
  if (bearer) init.headers.Authorization = `Bearer ${bearer}`;
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = typeof json === "string" ? json : JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { title: "Cannot reach the service", detail: String(error.message || error) });
  }
  if (response.ok || response.status === 304) return response;
  const problem = await problemOf(response);
  if (response.status === 401 && key === undefined) signOut();
  throw new ApiError(response.status, problem);
}

export async function getJSON(path, options) {
  return (await request("GET", path, options)).json();
}

export async function postJSON(path, json, options = {}) {
  const response = await request("POST", path, { ...options, json });
  return response.status === 204 ? null : response.json();
}

export async function remove(path, options) {
  await request("DELETE", path, options);
}

export function query(path, params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) search.append(name, item);
  }
  const text = search.toString();
  return text ? `${path}?${text}` : path;
}

// The last body and ETag of each resource this tab polls: asking again with If-None-Match
// costs a bodiless 304 while nothing changed.
const etagCache = new Map();

/** GET with If-None-Match; `changed` is false when the service answered 304. */
export async function conditionalGet(path, { signal } = {}) {
  const cached = etagCache.get(path);
  const headers = cached ? { "If-None-Match": cached.etag } : {};
  const response = await request("GET", path, { headers, signal });
  if (response.status === 304 && cached) return { body: cached.body, changed: false };
  const body = await response.json();
  const etag = response.headers.get("ETag");
  if (etag) etagCache.set(path, { etag, body });
  return { body, changed: true };
}

/** The job, fetched with If-None-Match; `changed` is false when the service answered 304. */
export async function pollJob(jobId, options) {
  const { body, changed } = await conditionalGet(`/v1/jobs/${encodeURIComponent(jobId)}`, options);
  return { job: body, changed };
}

/**
 * Download an authenticated file: fetch it as a blob and save it through an object URL (a plain
 * link cannot carry the Authorization header). Returns the response headers.
 */
export async function download(path, fallbackName) {
  const response = await request("GET", path, { headers: { Accept: "*/*" } });
  const blob = await response.blob();
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="?([^";]+)"?/i.exec(disposition);
  const url = URL.createObjectURL(blob);
  const link = Object.assign(document.createElement("a"), { href: url, download: match ? match[1] : fallbackName });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
  return response.headers;
}

/** An Idempotency-Key: random, from getRandomValues (randomUUID needs a secure context). */
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "dash-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
