package store

import "strings"

// streamBuffer is how many events a stream watcher holds for a client
// that has not read them yet; one more drops the watcher (V2-API.md §11).
const streamBuffer = 100

// Watcher waits for events at or below a key. It is created by Store.Watch
// or Store.WatchV2.
type Watcher struct {
	// eventChan has room for the single event a one-shot watcher ever
	// receives, or a stream watcher's buffer, so a write delivering an
	// event never waits for the client.
	eventChan  chan *Event
	prefix     string
	sinceIndex uint64
	store      *Store
	registered bool // guarded by store.mu
	// recursive watchers want the events below prefix too; v1's all do.
	recursive bool
	// v2 watchers skip the events below a hidden component under prefix.
	v2 bool
	// stream watchers stay registered after an event.
	stream bool
	// refreshes makes a watcher receive refreshes too (see Store.WatchAll).
	refreshes bool
}

// EventChan returns the channel that receives the watcher's events. A
// one-shot watcher receives exactly one event, or its channel is closed
// without one when the watcher was cleared because the store's state was
// replaced by Recover. A stream watcher's channel receives events until it
// is closed, by Recover or when the client fell more than 100 events
// behind.
func (w *Watcher) EventChan() <-chan *Event { return w.eventChan }

// Remove unregisters the watcher, so that a client that went away leaves
// nothing behind. It is safe to call more than once and after the watcher
// has received its event.
func (w *Watcher) Remove() {
	w.store.mu.Lock()
	defer w.store.mu.Unlock()
	w.store.watchers.remove(w)
}

// matches reports whether w wants e: an event at its key, or below it for
// a recursive watcher, but for v2 not below a hidden component under its
// key, and the removal of a directory above its key (§11). A refresh wakes
// no one but a watcher of WatchAll.
func (w *Watcher) matches(e *Event) bool {
	switch {
	case (e.refresh && !w.refreshes) || e.Index < w.sinceIndex:
		return false
	case e.Key == w.prefix:
		return true
	case isAtOrBelow(e.Key, w.prefix):
		return w.recursive && !(w.v2 && hiddenBelow(e.Key, w.prefix))
	}
	return removesDir(e) && isAtOrBelow(w.prefix, e.Key)
}

// removesDir reports whether e is the removal of a directory, an event for
// every key below it too.
func removesDir(e *Event) bool { return e.Dir && e.Action == ActionDelete }

// hiddenBelow reports whether key, at or below prefix, has a component
// below prefix whose name starts with an underscore.
func hiddenBelow(key, prefix string) bool {
	if prefix != "/" {
		key = key[len(prefix):]
	}
	return strings.Contains(key, "/_")
}

// watcherHub holds the pending watchers, indexed by the key they watch so
// that an event only visits the watchers of its own key and its ancestors,
// and of the keys below it when it removes a directory.
type watcherHub struct {
	byPrefix map[string]map[*Watcher]struct{}
	count    int
}

func newWatcherHub() watcherHub {
	return watcherHub{byPrefix: make(map[string]map[*Watcher]struct{})}
}

func (h *watcherHub) add(w *Watcher) {
	set := h.byPrefix[w.prefix]
	if set == nil {
		set = make(map[*Watcher]struct{})
		h.byPrefix[w.prefix] = set
	}
	set[w] = struct{}{}
	w.registered = true
	h.count++
}

func (h *watcherHub) remove(w *Watcher) {
	if !w.registered {
		return
	}
	set := h.byPrefix[w.prefix]
	delete(set, w)
	if len(set) == 0 {
		delete(h.byPrefix, w.prefix)
	}
	w.registered = false
	h.count--
}

// notify delivers e to every watcher that wants it (see matches) on the
// root, on each ancestor of e.Key and on e.Key itself, and for the removal
// of a directory on every key below it; it unregisters the one-shot ones.
func (h *watcherHub) notify(e *Event) {
	if h.count == 0 {
		return
	}
	h.notifyPrefix("/", e)
	for i := 1; i < len(e.Key); i++ {
		if e.Key[i] == '/' {
			h.notifyPrefix(e.Key[:i], e)
		}
	}
	if e.Key != "/" {
		h.notifyPrefix(e.Key, e)
	}
	if removesDir(e) {
		for prefix := range h.byPrefix {
			if len(prefix) > len(e.Key) && isAtOrBelow(prefix, e.Key) {
				h.notifyPrefix(prefix, e)
			}
		}
	}
}

func (h *watcherHub) notifyPrefix(prefix string, e *Event) {
	for w := range h.byPrefix[prefix] {
		if !w.matches(e) {
			continue
		}
		if !w.stream {
			// Cannot block: a registered one-shot watcher has received nothing.
			w.eventChan <- e
			h.remove(w)
			continue
		}
		select {
		case w.eventChan <- e:
		default:
			// The client fell a buffer behind: it is dropped, and knows it
			// from the closed channel.
			h.remove(w)
			close(w.eventChan)
		}
	}
}

// clear unregisters every watcher and closes its channel, telling its
// client that it will never receive an event.
func (h *watcherHub) clear() {
	for _, set := range h.byPrefix {
		for w := range set {
			w.registered = false
			close(w.eventChan)
		}
	}
	*h = newWatcherHub()
}
