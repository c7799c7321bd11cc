// The key tree, as far as the page has listed it. It is built from listings
// of the client API, a directory at a time as they are opened, and kept
// current by the events of the stream. Each directory keeps the index of
// its listing: events at or below it are already part of what the listing
// showed. A TreeView draws it.

import { getJSON, keysPath } from "./api.js";
import { parseTime } from "./format.js";

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
    const listing = await getJSON(keysPath("/"));
    if (listing.length === 0) {
      // A running node always lists /_etcd, where its members are.
      throw new Error("the node listed no keys at all");
    }
    this.generation++;
    this.byKey.clear();
    this.root = this.makeEntry(null, "", true);
    this.root.open = true;
    this.applied = listing[0].index;
    this.fill(this.root, listing, this.applied);
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
    const names = e.key.split("/").slice(1);
    let dir = this.root;
    for (let depth = 0; dir?.loaded; depth++) {
      const name = names[depth];
      const last = depth === names.length - 1;
      let child = dir.children.get(name);
      if (e.index > dir.index) {
        if (last) {
          child = this.applyToFile(dir, name, e);
        } else if (!child && e.action === "SET") {
          // Setting a key creates the directories above it.
          child = this.insert(dir, this.makeEntry(dir, name, true));
        }
      }
      if (last || !child?.dir) {
        return;
      }
      dir = child;
    }
  }

  applyToFile(dir, name, e) {
    const file = dir.children.get(name);
    if (file?.dir) {
      return file; // the store never sets nor deletes a directory
    }
    if (e.action === "DELETE") {
      if (file) {
        this.remove(dir, file);
      }
      return null;
    }
    const entry = file ?? this.insert(dir, this.makeEntry(dir, name, false));
    entry.changed = e.index;
    this.setValue(entry, e.value, e.expiration);
    this.view.changed(entry, true);
    return entry;
  }

  /** activate is a click on a row: a file is selected, a directory opens or closes. */
  activate(key) {
    const entry = this.byKey.get(key);
    if (!entry) {
      return;
    }
    if (!entry.dir) {
      this.select(entry);
    } else if (entry.open) {
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
        const listing = await getJSON(keysPath(dir.key));
        if (generation !== this.generation) {
          return;
        }
        // An empty listing carries no index: it is at least as new as what
        // the stream brought, which the same node sent before.
        const index = listing.length > 0 ? listing[0].index : this.applied;
        if (index >= this.applied) {
          this.fill(dir, listing, index);
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

  /** fill takes a directory's listing, taken at index. */
  fill(dir, listing, index) {
    const nameOf = (e) => e.key.slice(e.key.lastIndexOf("/") + 1);
    // The page's order, which insert keeps: the API's differs for some
    // characters outside the Basic Multilingual Plane.
    const sorted = listing.map((e) => [nameOf(e), e]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    dir.children.clear();
    dir.names = [];
    for (const [name, e] of sorted) {
      const entry = this.makeEntry(dir, name, e.dir === true);
      if (!entry.dir) {
        // A listing of v1 gives every entry the node's index, not the
        // index of the entry's last change (modifiedIndex, where given).
        entry.listed = e.index;
        entry.changed = e.modifiedIndex ?? null;
        this.setValue(entry, e.value, e.expiration);
      }
      dir.children.set(name, entry);
      dir.names.push(name);
    }
    dir.index = index;
    dir.loaded = true;
    dir.problem = "";
    this.view.layoutChanged();
  }

  makeEntry(parent, name, dir) {
    const key = parent === null ? "/" : parent.key === "/" ? `/${name}` : `${parent.key}/${name}`;
    const entry = { key, name, dir, depth: parent === null ? -1 : parent.depth + 1 };
    if (dir) {
      Object.assign(entry, { children: new Map(), names: [], loaded: false, loading: false, open: false, index: 0, problem: "" });
    } else {
      Object.assign(entry, { value: "", expires: null, listed: 0, changed: null });
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

  remove(dir, file) {
    dir.names.splice(lowerBound(dir.names, file.name), 1);
    dir.children.delete(file.name);
    this.byKey.delete(file.key);
    this.view.layoutChanged();
    if (this.selected === file) {
      file.gone = true;
      this.onSelect(file);
    }
  }

  setValue(file, value, expiration) {
    file.value = value;
    file.expires = parseTime(expiration);
    if (this.selected === file) {
      this.onSelect(file);
    }
  }

  select(entry) {
    this.selected = entry;
    this.view.select(entry);
    this.onSelect(entry);
  }
}
