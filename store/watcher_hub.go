package store

// Watcher waits for one event at or below a key prefix. It is created by
// Store.Watch.
type Watcher struct {
	// eventChan has room for the single event a watcher ever receives, so
	// a write delivering it never waits for the client.
	eventChan  chan *Event
	prefix     string
	sinceIndex uint64
	store      *Store
	registered bool // guarded by store.mu
}

// EventChan returns the channel that receives the watcher's event. It
// receives exactly one event, or is closed without one when the watcher was
// cleared because the store's state was replaced by Recover.
func (w *Watcher) EventChan() <-chan *Event { return w.eventChan }

// Remove unregisters the watcher, so that a client that went away leaves
// nothing behind. It is safe to call more than once and after the watcher
// has received its event.
func (w *Watcher) Remove() {
	w.store.mu.Lock()
	defer w.store.mu.Unlock()
	w.store.watchers.remove(w)
}

// watcherHub holds the pending watchers, indexed by the prefix they watch so
// that an event only visits the watchers of its own key and its ancestors.
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

// notify delivers e to every watcher on the root, on each ancestor of e.Key
// and on e.Key itself that asked for an index no later than e's, and
// unregisters them.
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
}

func (h *watcherHub) notifyPrefix(prefix string, e *Event) {
	set := h.byPrefix[prefix]
	for w := range set {
		if w.sinceIndex <= e.Index {
			// Cannot block: a registered watcher has received nothing yet.
			w.eventChan <- e
			h.remove(w)
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
