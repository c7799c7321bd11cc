// The feed: the latest events, newest first. It keeps a fixed number, so a
// busy cluster cannot grow the page without end.

import { cut, isInternal, parseTime } from "./format.js";

const capacity = 500;
const shownValueLength = 120;

// How each of v2's actions is coloured: a write that leaves a node, one that
// removes it, and an expiry.
const kinds = {
  set: "put",
  create: "put",
  update: "put",
  compareAndSwap: "put",
  delete: "delete",
  compareAndDelete: "delete",
  expire: "expire",
};

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
    const key = e.node.key;
    const li = this.doc.createElement("li");
    li.className = kinds[e.action] ?? "";
    li.classList.toggle("internal", isInternal(key));
    li.classList.toggle("earlier", earlier);
    li.dataset.index = e.index;
    li.dataset.key = key;
    li.dataset.action = e.action;
    const span = (className, text) => {
      const el = this.doc.createElement("span");
      el.className = className;
      el.textContent = text;
      li.append(el);
    };
    span("time", earlier ? "earlier" : clockTime());
    span("action", e.action);
    span("index", `#${e.index}`);
    span("what", describe(e));
    li.title = `${e.action} ${key} at index ${e.index}${earlier ? ", before the page was opened" : ""}`;
    return li;
  }
}

/** describe is what an event did, as v2 shows it: the node after the write and the one before. */
function describe({ action, node, prevNode }) {
  const value = (v) => cut(v ?? "", shownValueLength);
  if (kinds[action] !== "put") {
    return node.dir ? `directory ${node.key}/ and everything in it` : `${node.key} (was ${value(prevNode?.value)})`;
  }
  const what = node.dir ? `directory ${node.key}/` : `${node.key} = ${value(node.value)}`;
  const before = !prevNode ? " (new)" : prevNode.dir ? "" : ` (was ${value(prevNode.value)})`;
  const expires = node.expiration ? `, expires at ${clockTime(parseTime(node.expiration))}` : "";
  return what + before + expires;
}

/** clockTime is a time of day, by default now's, as the browser's locale writes it. */
function clockTime(time = Date.now()) {
  return new Date(time).toLocaleTimeString([], { hour12: false });
}
