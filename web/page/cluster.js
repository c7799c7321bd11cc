// The node and its cluster: this node's name, raft state and leader, and
// every member with its URLs and, when this node leads, how long each
// follower takes to answer its appends, or how long it has been silent
// once it stopped answering. The API pushes none of this, so it is read
// once a second.

import { APIError, Redirected, getJSON } from "./api.js";
import { durationText, goDurationSeconds } from "./format.js";

const interval = 1000;

export class ClusterView {
  constructor(doc) {
    this.doc = doc;
    this.nodeName = doc.getElementById("node-name");
    this.nodeState = doc.getElementById("node-state");
    this.leaderName = doc.getElementById("leader-name");
    this.status = doc.getElementById("node-status");
    this.members = doc.querySelector("#members tbody");
    this.latencyNote = doc.getElementById("latency-note");
    this.shownMembers = ""; // what the table shows, to redraw it only when that changes
  }

  start() {
    this.poll();
  }

  async poll() {
    try {
      await this.refresh();
    } catch (err) {
      this.showFailure(err);
    }
    setTimeout(() => this.poll(), interval);
  }

  async refresh() {
    const self = await getJSON("/v1/stats/self");
    const machines = await getJSON("/v1/keys/_etcd/machines");
    let followers = null;
    let contact = null;
    if (self.state === "leader") {
      try {
        followers = (await getJSON("/v1/stats/leader")).followers;
        // The leader's word on when each follower last answered: the
        // counts above keep a dead follower's last latency.
        contact = (await getJSON("/dashboard/contact")).followers ?? {};
      } catch (err) {
        // It stopped leading in between: the next round shows that.
        if (!(err instanceof Redirected)) {
          throw err;
        }
      }
    }
    this.showNode(self);
    this.showMembers(machines, self, followers, contact);
  }

  showNode(self) {
    const leader = self.leaderInfo.leader;
    this.nodeName.textContent = self.name;
    this.nodeState.textContent = self.state;
    this.leaderName.textContent = leader === "" ? "none (election under way)" : leader;
    this.doc.body.dataset.node = "ok";
    this.status.textContent = leader === ""
      ? "no leader: writes wait for an election"
      : `serving · leader ${leader} for ${durationText(goDurationSeconds(self.leaderInfo.uptime))}`;
  }

  showFailure(err) {
    if (err instanceof APIError && err.starting) {
      this.doc.body.dataset.node = "starting";
      this.status.textContent = "catching up with the cluster: the node serves once its store has caught up";
    } else if (err instanceof APIError) {
      this.doc.body.dataset.node = "unreachable";
      this.status.textContent = `the node answers: ${err.message}`;
    } else {
      this.doc.body.dataset.node = "unreachable";
      this.status.textContent = "the node is not answering: retrying";
    }
  }

  showMembers(machines, self, followers, contact) {
    const leader = self.leaderInfo.leader;
    const rows = machines.map((m) => {
      const params = new URLSearchParams(m.value);
      const name = m.key.slice(m.key.lastIndexOf("/") + 1);
      return {
        name,
        leader: name === leader,
        self: name === self.name,
        etcd: params.get("etcd") ?? "",
        raft: params.get("raft") ?? "",
        ...replication(name, self, followers, contact),
      };
    });
    const shown = JSON.stringify(rows);
    if (shown === this.shownMembers) {
      return;
    }
    this.shownMembers = shown;
    const body = this.doc.createElement("tbody");
    for (const row of rows) {
      const tr = body.insertRow();
      tr.dataset.member = row.name;
      tr.classList.toggle("leader", row.leader);
      tr.classList.toggle("self", row.self);
      tr.dataset.health = row.health;
      tr.insertCell().textContent = row.name;
      tr.insertCell().textContent = row.leader ? "leader" : "follower";
      const link = this.doc.createElement("a");
      link.href = row.etcd + "/dashboard/";
      link.textContent = row.etcd;
      link.title = `this member's dashboard`;
      tr.insertCell().append(link);
      tr.insertCell().textContent = row.raft;
      tr.insertCell().textContent = row.text;
    }
    this.members.replaceWith(body);
    this.members = body;
    this.latencyNote.textContent = followers
      ? "How long each follower took to answer the last append, and on average; " +
        "one silent for longer than an append's deadline (twice the election timeout) is down."
      : "Replication latency is measured by the leader: open the leader's dashboard to see it.";
  }
}

/**
 * replication is a follower's state as its leader sees it: health is "up",
 * "down" (silent past an append's deadline) or "" where this node does not
 * lead and cannot tell.
 */
function replication(name, self, followers, contact) {
  if (!followers) {
    return { health: "", text: "—" };
  }
  if (name === self.name) {
    return { health: "up", text: "(leader)" };
  }
  const f = followers[name];
  const c = contact?.[name];
  if (c && !c.answering) {
    const failed = f?.counts.fail ? `, ${f.counts.fail} appends failed` : "";
    return { health: "down", text: `down: silent for ${durationText(c.silentSeconds)}${failed}` };
  }
  if (!f || f.counts.success === 0) {
    return { health: "up", text: "no append answered yet" };
  }
  return { health: "up", text: `${f.latency.current.toFixed(2)} ms (avg ${f.latency.average.toFixed(2)})` };
}
