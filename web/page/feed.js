// The feed: the latest events, newest first. It keeps a fixed number, so a
// busy cluster cannot grow the page without end.

import { now } from "./clock.js";
import { cut, isInternal, parseTime } from "./format.js";

const capacity = 500;
const shownValueLength = 120;

export class EventFeed {
  constructor(doc) {
    this.doc = doc;
    this.list = doc.getElementById("feed");
  }

  /**
   * add shows events, given in index order. earlier says they were made
   * before the page opened: the node does not keep when.
   */
  add(events, earlier = false) {
    const fragment = this.doc.createDocumentFragment();
    for (let i = events.length - 1; i >= Math.max(0, events.length - capacity); i--) {
      fragment.append(this.item(events[i], earlier));
    }
    this.list.prepend(fragment);
    while (this.list.childElementCount > capacity) {
      this.list.lastElementChild.remove();
    }
  }

  /** note shows a line that is not an event, such as where events may be missing. */
  note(text) {
    const li = this.doc.createElement("li");
    li.className = "gap";
    li.textContent = `${clockTime()} ${text}`;
    this.list.prepend(li);
  }

  item(e, earlier) {
    const action = label(e);
    const li = this.doc.createElement("li");
    li.className = action.toLowerCase();
    li.classList.toggle("internal", isInternal(e.key));
    li.classList.toggle("earlier", earlier);
    li.dataset.index = e.index;
    li.dataset.key = e.key;
    li.dataset.action = action;
    const span = (className, text) => {
      const el = this.doc.createElement("span");
      el.className = className;
      el.textContent = text;
      li.append(el);
    };
    span("time", earlier ? "earlier" : clockTime());
    span("action", action);
    span("index", `#${e.index}`);
    span("what", describe(e));
    li.title = `${action} ${e.key} at index ${e.index}${earlier ? ", before the page was opened" : ""}`;
    return li;
  }
}

/**
 * label names what happened. The v1 API reports an expiry as a DELETE, and
 * a test-and-set as a SET: a deletion of a key whose expiration has come is
 * shown as the expiry it most likely was.
 */
function label(e) {
  if (e.action === "DELETE" && e.expiration && parseTime(e.expiration) <= now()) {
    return "EXPIRE";
  }
  return e.action;
}

function describe(e) {
  const value = (v) => cut(v ?? "", shownValueLength);
  if (e.action === "SET") {
    const before = e.newKey ? " (new)" : ` (was ${value(e.prevValue)})`;
    const expires = e.expiration ? `, expires at ${clockTime(parseTime(e.expiration))}` : "";
    return `${e.key} = ${value(e.value)}${before}${expires}`;
  }
  return `${e.key} (was ${value(e.prevValue)})`;
}

/** clockTime is a time of day, by default now's, as the browser's locale writes it. */
function clockTime(time = Date.now()) {
  return new Date(time).toLocaleTimeString([], { hour12: false });
}
