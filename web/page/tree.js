// The key tree, as far as the page has listed it. It is built from listings
// of the v2 API, a directory at a time as they are opened, and kept current
// by the events of the stream. Each directory keeps the index of its
// listing: events at or below it are already part of what the listing
// showed. A TreeView draws it.
//
// The tree shows what v2 lists: hidden keys ("_name") are left out, but for
// /_etcd, where etcd keeps its members, which it shows as v1 did.

import { getIndexed, keysPath } from "./api.js";
import { parseTime } from "./format.js";

const internalDir = "_etcd";
const removals = new Set(["delete", "compareAndDelete", "expire"]);

/** hidden reports whether a key, given by its names, is one v2 leaves out of listings. */
function hidden(names) {
  return names.some((name, depth) => name.startsWith("_") && !(depth === 0 && name === internalDir));
}

function lowerBound(names, name) {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (names[mid] < name) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class KeyTree {
  /** onSelect(entry) is called when the selected file is chosen, changes or goes (entry.gone). */
  constructor(view, onSelect) {
    this.view = view;
    this.onSelect = onSelect;
    this.byKey = new Map();
    this.root = null;
    this.selected = null;
    this.applied = 0; // the index of the last event applied
    this.generation = 0; // a reload drops the listings asked for before it
  }

  /**
   * reload lists the tree afresh, and opens again the directories that were
   * open. It returns the index of the root's listing: the tree shows every
   * event up to it, and the stream follows from the next.
   */
  async reload() {
    const wasOpen = [...this.byKey.values()].filter((e) => e.dir && e.open && e.key !== "/").map((e) => e.key).sort();
    const { body, index: listed } = await getIndexed(keysPath("/"));
    if (!listed) {
      throw new Error("the node's listing of / carries no index");
    }
    this.generation++;
    this.byKey.clear();
    this.root = this.makeEntry(null, "", true);
    this.root.open = true;
    this.applied = listed;
    this.fill(this.root, body.node, listed);
    // Every running node has its members there; v2 hides it from listings.
    this.insert(this.root, this.makeEntry(this.root, internalDir, true));
    this.view.show(this.root);
    // The selected key stays selected if the new root shows it; the
    // detail keeps what it last showed otherwise.
    const selected = this.selected && this.byKey.get(this.selected.key);
    this.selected = null;
    if (selected) {
      this.select(selected);
    }
    const index = this.applied;
    this.reopen(wasOpen);
    return index;
  }

  async reopen(keys) {
    for (const key of keys) {
      const dir = this.byKey.get(key);
      if (dir?.dir) {
        await this.open(dir).catch(() => {});
      }
    }
  }

  /** apply takes events of the stream, in index order. */
  apply(events) {
    for (const e of events) {
      this.applyOne(e);
      this.applied = e.index;
    }
  }

  applyOne(e) {
    const names = e.node.key.split("/").slice(1);
    if (hidden(names)) {
      return;
    }
    const removal = removals.has(e.action);
    let dir = this.root;
    for (let depth = 0; dir?.loaded; depth++) {
      const name = names[depth];
      const last = depth === names.length - 1;
      let child = dir.children.get(name);
      if (e.index > dir.index) {
        if (last) {
          child = removal ? this.remove(dir, child) : this.put(dir, child, name, e);
        } else if (!child && !removal) {
          // A write creates the directories above its key.
          child = this.insert(dir, this.makeEntry(dir, name, true));
        }
      }
      if (last || !child?.dir) {
        return;
      }
      dir = child;
    }
  }

  /** put takes the event of a write that leaves a node at dir's child name, entry if the tree has one. */
  put(dir, entry, name, e) {
    const isDir = e.node.dir === true;
    if (entry && entry.dir !== isDir) {
      // v2's set replaces a file by a directory.
      this.remove(dir, entry);
      entry = null;
    }
    if (!entry) {
      entry = this.insert(dir, this.makeEntry(dir, name, isDir));
      if (isDir) {
        // A directory this write made is empty: it opens without a listing.
        Object.assign(entry, { loaded: true, index: e.index });
      }
    }
    this.setNode(entry, e.node);
    this.view.changed(entry, true);
    return entry;
  }

  /** activate is a click on a row: a file is selected, a directory opens or closes. */
  activate(key) {
    const entry = this.byKey.get(key);
    if (!entry) {
      return;
    }
    this.select(entry);
    if (!entry.dir) {
      return;
    }
    if (entry.open) {
      this.close(entry);
    } else {
      this.open(entry).catch(() => {});
    }
  }

  async open(dir) {
    dir.open = true;
    this.view.layoutChanged();
    if (!dir.loaded && !dir.loading) {
      await this.load(dir);
    }
  }

  /** close hides a directory; it stays listed and current, so it opens again at once. */
  close(dir) {
    dir.open = false;
    this.view.layoutChanged();
  }

  async load(dir) {
    const generation = this.generation;
    dir.loading = true;
    dir.problem = "listing…";
    this.view.changed(dir, false);
    try {
      for (;;) {
        const { body, index } = await getIndexed(keysPath(dir.key));
        if (generation !== this.generation) {
          return;
        }
        if (index >= this.applied) {
          this.fill(dir, body.node, index);
          return;
        }
        // A listing older than what the tree shows would undo changes: the
        // node answered from a moment before its own stream. Ask again.
        await sleep(50);
      }
    } catch (err) {
      dir.open = false;
      dir.problem = `could not list: ${err.message}`;
      this.view.layoutChanged();
      throw err;
    } finally {
      dir.loading = false;
    }
  }

  /** fill takes a directory's listing (v2's node, its children one level down), taken at index. */
  fill(dir, node, index) {
    const nameOf = (n) => n.key.slice(n.key.lastIndexOf("/") + 1);
    // The page's order, which insert keeps: the API's differs for some
    // characters outside the Basic Multilingual Plane.
    const sorted = (node.nodes ?? []).map((n) => [nameOf(n), n]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    dir.children.clear();
    dir.names = [];
    for (const [name, n] of sorted) {
      const entry = this.makeEntry(dir, name, n.dir === true);
      this.setNode(entry, n);
      dir.children.set(name, entry);
      dir.names.push(name);
    }
    if (dir !== this.root) {
      this.setNode(dir, node);
    }
    dir.index = index;
    dir.loaded = true;
    dir.problem = "";
    this.view.layoutChanged();
  }

  makeEntry(parent, name, dir) {
    const key = parent === null ? "/" : parent.key === "/" ? `/${name}` : `${parent.key}/${name}`;
    // created and modified are the node's indexes, null until listed.
    const entry = { key, name, dir, depth: parent === null ? -1 : parent.depth + 1, expires: null, created: null, modified: null };
    if (dir) {
      Object.assign(entry, { children: new Map(), names: [], loaded: false, loading: false, open: false, index: 0, problem: "" });
    } else {
      entry.value = "";
    }
    this.byKey.set(key, entry);
    return entry;
  }

  insert(dir, entry) {
    dir.names.splice(lowerBound(dir.names, entry.name), 0, entry.name);
    dir.children.set(entry.name, entry);
    this.view.layoutChanged();
    return entry;
  }

  /** remove takes an entry out of dir, with everything below it; it returns null. */
  remove(dir, entry) {
    if (!entry) {
      return null;
    }
    dir.names.splice(lowerBound(dir.names, entry.name), 1);
    dir.children.delete(entry.name);
    const forget = (gone) => {
      this.byKey.delete(gone.key);
      if (gone.dir) {
        gone.children.forEach(forget);
      }
      if (this.selected === gone) {
        gone.gone = true;
        this.onSelect(gone);
      }
    };
    forget(entry);
    this.view.layoutChanged();
    return null;
  }

  /** setNode takes what v2 shows of an entry's node: value, expiration and indexes. */
  setNode(entry, node) {
    if (!entry.dir) {
      entry.value = node.value ?? "";
    }
    entry.expires = parseTime(node.expiration);
    entry.created = node.createdIndex ?? null;
    entry.modified = node.modifiedIndex ?? null;
    if (this.selected === entry) {
      this.onSelect(entry);
    }
  }

  select(entry) {
    this.selected = entry;
    this.view.select(entry);
    this.onSelect(entry);
  }
}
