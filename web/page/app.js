// The dashboard: it wires the views to the node that served the page.

import { recentEvents } from "./api.js";
import { ClusterView } from "./cluster.js";
import { KeyDetail } from "./detail.js";
import { EventFeed } from "./feed.js";
import { EventStream } from "./stream.js";
import { KeyTree } from "./tree.js";
import { TreeView } from "./treeview.js";

const detail = new KeyDetail(document);
const view = new TreeView(document, (key) => tree.activate(key));
const tree = new KeyTree(view, (file) => detail.show(file));
const feed = new EventFeed(document);
const notice = document.getElementById("notice");

const stream = new EventStream(document, {
  onEvents(events) {
    tree.apply(events);
    // A refresh moves a TTL on and wakes no client's watch: the tree shows
    // the new TTL, the feed leaves it out, as the node's recent events do.
    feed.add(events.filter((e) => !e.refresh));
  },
  onCleared(err) {
    notice.textContent =
      `${new Date().toLocaleTimeString([], { hour12: false })}: the node could not resume the events from ` +
      `where the page was (error ${err.errorCode}, ${err.message}: ${err.cause}). ` +
      "The keys were listed again; changes made in between are not in the feed.";
    notice.hidden = false;
    feed.note("the keys were listed again: events before this line may be missing");
    follow();
  },
});

feed.add(recentEvents, true);
new ClusterView(document).start();
follow();

/** follow lists the keys and streams the events from there, retrying until the node answers. */
async function follow() {
  for (let wait = 250; ; wait = Math.min(wait * 2, 4000)) {
    try {
      stream.follow((await tree.reload()) + 1);
      return;
    } catch {
      // The node is starting or not answering: its status says which.
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
