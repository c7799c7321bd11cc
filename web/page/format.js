// How the page writes keys, times and the time a key has left.

import { now } from "./clock.js";

/** isInternal reports whether key belongs to etcd itself (its members). */
export function isInternal(key) {
  return key === "/_etcd" || key.startsWith("/_etcd/");
}

/** parseTime reads an RFC 3339 time of the API; its nanoseconds are more than Date keeps. */
export function parseTime(text) {
  return text ? Date.parse(text.replace(/(\.\d{3})\d+/, "$1")) : null;
}

/** timeLeft is the time a key has left, counted against the node's clock. */
export function timeLeft(expires) {
  const seconds = Math.ceil((expires - now()) / 1000);
  if (seconds <= 0) {
    return expiring;
  }
  if (seconds < 120) {
    return `${seconds}s`;
  }
  if (seconds < 7200) {
    return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  }
  return `${Math.floor(seconds / 3600)}h ${Math.floor(seconds / 60) % 60}m`;
}

const expiring = "expiring…";

/** ttlText is timeLeft for a row of the tree. */
export function ttlText(expires) {
  const left = timeLeft(expires);
  return left === expiring ? left : `ttl ${left}`;
}

/** cut shortens a long value for a row; the detail shows it whole. */
export function cut(value, length) {
  return value.length > length ? value.slice(0, length) + "…" : value;
}

/** durationText is a duration given in seconds, in whole seconds. */
export function durationText(seconds) {
  const s = Math.floor(seconds);
  if (s < 1) {
    return "under 1s";
  }
  if (s < 3600) {
    return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${s % 60}s`;
  }
  if (s < 86400) {
    return `${Math.floor(s / 3600)}h ${Math.floor(s / 60) % 60}m`;
  }
  return `${Math.floor(s / 86400)}d ${Math.floor(s / 3600) % 24}h`;
}

/** goDurationSeconds reads a duration as Go writes it ("1h2m3.5s", "12ms") in seconds. */
export function goDurationSeconds(text) {
  const unit = { h: 3600, m: 60, s: 1, ms: 1e-3, "µs": 1e-6, us: 1e-6, ns: 1e-9 };
  let seconds = 0;
  for (const [, n, u] of text.matchAll(/([\d.]+)(h|ms|m|s|µs|us|ns)/g)) {
    seconds += Number(n) * unit[u];
  }
  return Math.round(seconds * 1e9) / 1e9;
}

/** byteSize is the length of a value in bytes, as the node stores it (UTF-8). */
export function byteSize(value) {
  return new TextEncoder().encode(value).length;
}
