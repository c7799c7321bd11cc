// The node and its cluster: this node's name, raft state and leader, and
// every member with its URLs and, when this node leads, how long each
// follower takes to answer its appends. The API pushes none of this, so it
// is read once a second.

import { APIError, Redirected, getJSON } from "./api.js";

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
    if (self.state === "leader") {
      try {
        followers = (await getJSON("/v1/stats/leader")).followers;
      } catch (err) {
        // It stopped leading in between: the next round shows that.
        if (!(err instanceof Redirected)) {
          throw err;
        }
      }
    }
    this.showNode(self);
    this.showMembers(machines, self, followers);
  }

  showNode(self) {
    const leader = self.leaderInfo.leader;
    this.nodeName.textContent = self.name;
    this.nodeState.textContent = self.state;
    this.leaderName.textContent = leader === "" ? "none (election under way)" : leader;
    this.doc.body.dataset.node = "ok";
    this.status.textContent = leader === ""
      ? "no leader: writes wait for an election"
      : `serving · leader ${leader} for ${self.leaderInfo.uptime}`;
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

  showMembers(machines, self, followers) {
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
        latency: latencyText(name, self, followers),
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
      tr.insertCell().textContent = row.name;
      tr.insertCell().textContent = row.leader ? "leader" : "follower";
      const link = this.doc.createElement("a");
      link.href = row.etcd + "/dashboard/";
      link.textContent = row.etcd;
      link.title = `this member's dashboard`;
      tr.insertCell().append(link);
      tr.insertCell().textContent = row.raft;
      tr.insertCell().textContent = row.latency;
    }
    this.members.replaceWith(body);
    this.members = body;
    this.latencyNote.textContent = followers
      ? "How long each follower took to answer the last append, and on average."
      : "Replication latency is measured by the leader: open the leader's dashboard to see it.";
  }
}

function latencyText(name, self, followers) {
  if (!followers) {
    return "—";
  }
  if (name === self.name) {
    return "(leader)";
  }
  const f = followers[name];
  if (!f || f.counts.success === 0) {
    return f && f.counts.fail > 0 ? `no answer (${f.counts.fail} failed)` : "no append yet";
  }
  return `${f.latency.current.toFixed(2)} ms (avg ${f.latency.average.toFixed(2)})`;
}
