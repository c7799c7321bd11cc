// The node's clock, as the page estimates it. TTLs count down against it,
// so that a browser whose clock is wrong still shows the time a key has
// left.

// The Date header has whole seconds: differences below this are that
// rounding, not a wrong clock.
const tolerance = 1500;

let skew = 0; // node time minus browser time, in milliseconds

/** now is the node's time, in milliseconds since the epoch. */
export function now() {
  return Date.now() + skew;
}

/** observe takes the Date header of a response just received. */
export function observe(dateHeader) {
  const date = Date.parse(dateHeader ?? "");
  if (Number.isNaN(date)) {
    return;
  }
  // The node's time lies somewhere in the second the header names.
  const diff = date + 500 - Date.now();
  skew = Math.abs(diff) > tolerance ? diff : 0;
}
