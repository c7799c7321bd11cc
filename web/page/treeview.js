// Draws the key tree in its scrolling box. Only the rows in view, and a
// few around them, exist in the page: a directory of ten thousand keys
// costs the browser no more than one of fifty, and a change is drawn once
// per frame however many events brought it.

import { cut, isInternal, ttlText } from "./format.js";

const overscan = 10; // rows drawn beyond each edge of the view, so that scrolling shows no gap
const indent = 18; // px per level
const shownValueLength = 200;
const countDownEvery = 500; // ms

/** flatten lists the rows of a tree: each entry, then, if it is an open directory, its children. */
function flatten(root) {
  const order = [];
  const visit = (dir) => {
    for (const name of dir.names) {
      const entry = dir.children.get(name);
      order.push(entry);
      if (entry.dir && entry.open && entry.loaded) {
        visit(entry);
      }
    }
  };
  visit(root);
  return order;
}

/** emptyRow is a row with nothing in it yet; rows are copies of it. */
function emptyRow(doc) {
  const li = doc.createElement("li");
  li.setAttribute("role", "treeitem");
  const line = doc.createElement("div");
  line.className = "line";
  line.tabIndex = 0;
  for (const part of ["name", "badge", "value", "ttl", "badge problem"]) {
    const span = doc.createElement("span");
    span.className = part;
    line.append(span);
  }
  li.append(line);
  return li;
}

export class TreeView {
  /** onActivate(key) is told of a click, or Enter, on a row. */
  constructor(doc, onActivate) {
    this.box = doc.getElementById("tree");
    // The spacer is as tall as every row together, so the box scrolls as
    // if they were all there; the list holds the rows drawn, moved to
    // where they belong.
    this.spacer = doc.createElement("div");
    this.spacer.className = "spacer";
    this.list = doc.createElement("ul");
    this.spacer.append(this.list);
    this.box.replaceChildren(this.spacer);
    this.template = emptyRow(doc);
    this.rowHeight = parseFloat(getComputedStyle(this.box).getPropertyValue("--row-height"));
    this.root = null;
    this.order = []; // every row, drawn or not
    this.orderStale = false;
    this.selected = null;
    this.drawn = new Map(); // entry -> the li drawing it
    this.flashes = new Set(); // entries changed since the last drawing
    this.frame = 0;

    this.box.addEventListener("scroll", () => this.redraw());
    new ResizeObserver(() => this.redraw()).observe(this.box);
    const activate = (target) => {
      const li = target.closest?.("li");
      if (li?.dataset.key) {
        onActivate(li.dataset.key);
      }
    };
    this.box.addEventListener("click", (ev) => activate(ev.target));
    this.box.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        activate(ev.target);
      }
    });
    setInterval(() => this.countDown(), countDownEvery);
  }

  show(root) {
    this.root = root;
    this.box.scrollTop = 0;
    this.layoutChanged();
  }

  /** layoutChanged says that rows came, went, or opened. */
  layoutChanged() {
    this.orderStale = true;
    this.redraw();
  }

  /** changed says that an entry's content changed; flash highlights it. */
  changed(entry, flash) {
    if (flash) {
      this.flashes.add(entry);
    }
    if (this.drawn.has(entry) || flash) {
      this.redraw();
    }
  }

  select(entry) {
    this.selected = entry;
    this.redraw();
  }

  redraw() {
    this.frame ||= requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  draw() {
    if (!this.root) {
      return;
    }
    if (this.orderStale) {
      this.order = flatten(this.root);
      this.orderStale = false;
      this.spacer.style.height = `${this.order.length * this.rowHeight}px`;
      // How many rows the tree has, drawn or not.
      this.box.dataset.rows = this.order.length;
    }
    const top = this.box.scrollTop;
    const first = Math.max(0, Math.floor(top / this.rowHeight) - overscan);
    const last = Math.min(this.order.length, Math.ceil((top + this.box.clientHeight) / this.rowHeight) + overscan);
    this.list.style.transform = `translateY(${first * this.rowHeight}px)`;
    while (this.list.childElementCount < last - first) {
      this.list.append(this.template.cloneNode(true));
    }
    while (this.list.childElementCount > Math.max(0, last - first)) {
      this.list.lastElementChild.remove();
    }
    this.drawn.clear();
    for (let i = first; i < last; i++) {
      const entry = this.order[i];
      const li = this.list.children[i - first];
      this.drawRow(li, entry);
      this.drawn.set(entry, li);
      if (this.flashes.has(entry)) {
        li.firstChild.animate([{ backgroundColor: "#fff2b3" }, { backgroundColor: "transparent" }], 1200);
      }
    }
    this.flashes.clear();
  }

  drawRow(li, entry) {
    const [name, badge, value, ttl, problem] = li.firstChild.children;
    li.dataset.key = entry.key;
    li.className = entry.dir ? "dir" : "file";
    li.classList.toggle("internal", isInternal(entry.key));
    li.classList.toggle("selected", entry === this.selected);
    li.setAttribute("aria-level", entry.depth + 1);
    if (entry.dir) {
      li.setAttribute("aria-expanded", entry.open);
    } else {
      li.removeAttribute("aria-expanded");
    }
    li.firstChild.style.paddingLeft = `${entry.depth * indent + 4}px`;
    name.textContent = entry.name;
    badge.textContent = entry.key === "/_etcd" ? "internal: cluster members" : "";
    value.textContent = entry.dir ? "" : cut(entry.value, shownValueLength);
    value.title = !entry.dir && entry.value.length > shownValueLength ? "cut short: select the key to see it whole" : "";
    ttl.textContent = entry.expires !== null ? ttlText(entry.expires) : "";
    problem.textContent = !entry.dir ? "" : entry.problem || (entry.loaded && entry.names.length === 0 ? "empty" : "");
  }

  countDown() {
    for (const [entry, li] of this.drawn) {
      if (entry.expires !== null) {
        const ttl = li.querySelector(".ttl");
        const text = ttlText(entry.expires);
        if (ttl.textContent !== text) {
          ttl.textContent = text;
        }
      }
    }
  }
}
