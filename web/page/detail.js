// The selected key or directory: a key's whole value and size, the indexes
// of the node's creation and last change, and when it expires.

import { byteSize, isInternal, timeLeft } from "./format.js";

export class KeyDetail {
  constructor(doc) {
    this.doc = doc;
    this.el = doc.getElementById("detail");
    this.file = null;
    this.left = null; // the element showing the time left, if the key expires
    setInterval(() => this.countDown(), 500);
  }

  show(file) {
    this.file = file;
    this.left = null;
    const dl = this.doc.createElement("dl");
    const add = (term, content) => {
      const dt = this.doc.createElement("dt");
      dt.textContent = term;
      const dd = this.doc.createElement("dd");
      dd.append(content);
      dl.append(dt, dd);
      return dd;
    };
    add("key", file.key);
    if (file.gone) {
      add("state", "deleted (or expired)");
    } else {
      if (file.dir) {
        add("kind", "directory");
      } else {
        const value = this.doc.createElement("pre");
        value.textContent = file.value;
        add("value", value);
        const size = byteSize(file.value);
        add("size", `${size} byte${size === 1 ? "" : "s"}`);
      }
      if (file.created !== null) {
        add("created index", `${file.created}`);
        add("modified index", `${file.modified} (its last change)`);
      }
      if (file.expires !== null) {
        this.left = add("ttl", timeLeft(file.expires));
        add("expires", new Date(file.expires).toISOString());
      } else {
        add("ttl", "none: it never expires");
      }
    }
    if (isInternal(file.key)) {
      add("note", "etcd keeps its members here; clients cannot change it");
    }
    this.el.replaceChildren(dl);
  }

  countDown() {
    if (this.left) {
      this.left.textContent = timeLeft(this.file.expires);
    }
  }
}
