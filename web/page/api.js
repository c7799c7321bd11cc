// The page's reads of the client API. The page only ever reads: every
// request here is a GET.

import { observe } from "./clock.js";

const timeout = 5000;

/** APIError is an error answer of the node: {"errorCode":N,"message":…,"cause":…}. */
export class APIError extends Error {
  constructor(status, text) {
    let body = {};
    try {
      body = JSON.parse(text);
    } catch {
      // Not an etcd error body: keep the HTTP status.
    }
    super(body.message ? `${body.message}${body.cause ? `: ${body.cause}` : ""}` : `HTTP ${status}`);
    this.status = status;
    this.code = body.errorCode ?? 0;
    this.cause = body.cause ?? "";
  }

  /** starting reports whether the node is still catching up with its cluster. */
  get starting() {
    return this.code === 301 && this.cause.startsWith("the node is starting");
  }
}

/** Redirected means the node sent the request elsewhere: it is not the leader. */
export class Redirected extends Error {}

/** get returns the body of a 200 answer to GET path, as text. */
export async function get(path) {
  return (await answer(path)).text;
}

/** answer is the 200 answer to GET path: its body as text, and its X-Etcd-Index. */
async function answer(path) {
  const response = await fetch(path, {
    cache: "no-store",
    // Another member answers for another origin, which the page may not read.
    redirect: "manual",
    signal: AbortSignal.timeout(timeout),
  });
  if (response.type === "opaqueredirect") {
    throw new Redirected(path);
  }
  observe(response.headers.get("Date"));
  const text = await response.text();
  if (!response.ok) {
    throw new APIError(response.status, text);
  }
  return { text, index: Number(response.headers.get("X-Etcd-Index") ?? 0) };
}

// The node's state as it served the page (see web/preload.go): the answers
// to the page's first reads, so that its first paint shows them, and the
// latest events. Each answer is used once; the node is asked after that.
const preloaded = (() => {
  try {
    return JSON.parse(document.getElementById("preloaded")?.textContent ?? "{}");
  } catch {
    return {};
  }
})();
const preloadedReads = new Map(Object.entries(preloaded.reads ?? {}));
const preloadedIndexes = preloaded.indexes ?? {};
// The page makes its first reads as its scripts run, before any timer
// fires: an answer not used by then would be stale when asked for later.
setTimeout(() => preloadedReads.clear(), 0);

/** recentEvents are the latest events before the page opened, oldest first, as the stream sends them. */
export const recentEvents = preloaded.recent ?? [];

/** getJSON returns the decoded body of a 200 answer to GET path. */
export async function getJSON(path) {
  if (preloadedReads.has(path)) {
    const body = preloadedReads.get(path);
    preloadedReads.delete(path);
    return body;
  }
  return JSON.parse(await get(path));
}

/** getIndexed returns the decoded body of a 200 answer to GET path, and the index of the store it shows. */
export async function getIndexed(path) {
  if (preloadedReads.has(path)) {
    return { body: await getJSON(path), index: preloadedIndexes[path] ?? 0 };
  }
  const { text, index } = await answer(path);
  return { body: JSON.parse(text), index };
}

/** keysPath is the v2 path that lists a directory, or reads a file: each segment percent-encoded. */
export function keysPath(key) {
  return "/v2/keys" + key.split("/").map(encodeURIComponent).join("/");
}
