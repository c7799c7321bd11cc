// The stream of the store's events, as server-sent events from the node
// that served the page. When the connection drops, it is made again from
// the index after the last event received, so each event is handed on
// once, in order, even across a restart of the node.

const firstRetry = 250; // ms
const lastRetry = 4000;
// The node pings a quiet stream every 10 s: longer silence means a
// connection lost without either side seeing it close.
const silence = 25000;
// Events are handed on in batches, so a busy node costs one redraw per
// batch rather than one per event.
const batchEvery = 50;

export class EventStream {
  /**
   * onEvents(events) receives the events in index order. onCleared(error)
   * is told that the node cannot resume from where the page is (the API
   * error, 401 or 500): the page must list the keys again and follow from
   * there.
   */
  constructor(doc, { onEvents, onCleared }) {
    this.body = doc.body;
    this.status = doc.getElementById("stream-status");
    this.onEvents = onEvents;
    this.onCleared = onCleared;
    this.source = null;
    this.next = 0; // the index to resume from
    this.retry = firstRetry;
    this.queue = [];
    this.batchTimer = 0;
    this.retryTimer = 0;
    this.silenceTimer = 0;
  }

  /** follow starts the stream at index since, dropping any before. */
  follow(since) {
    this.next = since;
    this.retry = firstRetry;
    this.connect();
  }

  connect() {
    this.disconnect();
    const source = new EventSource(`/dashboard/events?since=${this.next}`);
    this.source = source;
    this.show("connecting", `connecting, from index ${this.next}…`);
    source.onopen = () => {
      this.retry = firstRetry;
      this.show("live", "live");
      this.expectWithin(source);
    };
    source.onmessage = (message) => {
      this.expectWithin(source);
      const e = JSON.parse(message.data);
      if (e.index < this.next) {
        return; // already handed on: never twice
      }
      this.next = e.index + 1;
      this.queue.push(e);
      this.batchTimer ||= setTimeout(() => this.handOn(), batchEvery);
    };
    source.addEventListener("ping", () => this.expectWithin(source));
    source.addEventListener("cleared", (message) => {
      this.disconnect();
      this.handOn();
      this.show("down", "resuming was not possible: listing the keys again");
      this.onCleared(JSON.parse(message.data));
    });
    source.onerror = () => this.lost(source);
  }

  /** lost drops a failed connection and makes another after a pause. */
  lost(source) {
    if (source !== this.source) {
      return;
    }
    this.disconnect();
    this.handOn();
    this.show("down", `disconnected: retrying in ${(this.retry / 1000).toFixed(1)} s, from index ${this.next}`);
    this.retryTimer = setTimeout(() => this.connect(), this.retry);
    this.retry = Math.min(this.retry * 2, lastRetry);
  }

  expectWithin(source) {
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => this.lost(source), silence);
  }

  disconnect() {
    // EventSource would reconnect by itself, from the URL it was given: the
    // page reconnects instead, from where it is.
    this.source?.close();
    this.source = null;
    clearTimeout(this.retryTimer);
    clearTimeout(this.silenceTimer);
  }

  handOn() {
    clearTimeout(this.batchTimer);
    this.batchTimer = 0;
    const events = this.queue;
    this.queue = [];
    if (events.length > 0) {
      this.onEvents(events);
    }
  }

  show(state, text) {
    this.body.dataset.stream = state;
    this.status.textContent = text;
  }
}
