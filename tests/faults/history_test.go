package faults

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/etcd-recreation/etcd/internal/testnode"
)

// Every client write carries a value never written before, so the
// cluster's own record of the writes (the watch history, which every
// member keeps) tells which writes of unknown outcome committed and which
// never did. That record is checked first: the same on every member, a
// chain per key (each write replaced the one before it), holding every
// acknowledged write at its index.
//
// The record is then used to resolve unknown outcomes before porcupine
// checks the history: a write absent from it is left out, and a write
// present gets the output it had (still returning at the end). That only
// ever narrows what the checker may assume, so a resolved history that is
// linearizable means the raw one is too; and it keeps the search small.
// If the resolved history is not linearizable, the raw one is checked as
// well, to tell a linearizability violation from a record that does not
// match what the clients saw.

// endKey is written once the clients have stopped: the last event of a
// scan of the registers' history.
const endKey = "/lin/end"

// writeEnd writes endKey through whichever member takes it, and returns
// the index it was acknowledged at.
func (w *workload) writeEnd() (uint64, error) { return w.writeKey(endKey, "end") }

// writeKey writes key=value through whichever live member takes it, and
// returns the index it was acknowledged at.
func (w *workload) writeKey(key, value string) (uint64, error) {
	deadline := time.Now().Add(healthTimeout)
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		live := w.c.live()
		a := w.send(ctx, live[i%len(live)], http.MethodPost, "/v1/keys"+key, url.Values{"value": {value}})
		cancel()
		var e testnode.Event
		if a.err == nil && a.status == http.StatusOK && testnode.DecodeStrict(a.body, &e) == nil && e.Index > 0 {
			return e.Index, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("writing %s: no success within %v (last: %s)", key, healthTimeout, a)
		}
		time.Sleep(pollInterval)
	}
}

// watchOnce is POST /v1/watch/PREFIX index=I, which answers at once when the
// history holds an event at or after I.
func (c *cluster) watchOnce(m *member, prefix string, index uint64) (testnode.Event, error) {
	var e testnode.Event
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.clientURL()+"/v1/watch"+prefix,
		strings.NewReader("index="+strconv.FormatUint(index, 10)))
	if err != nil {
		return e, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r, err := testnode.Send(c.slow, req)
	if err != nil {
		return e, fmt.Errorf("%s: watch %s index=%d: %v", m.name, prefix, index, err)
	}
	if r.Status != http.StatusOK {
		return e, fmt.Errorf("%s: watch %s index=%d: %d %s", m.name, prefix, index, r.Status, r.Body)
	}
	if err := testnode.DecodeStrict(r.Body, &e); err != nil {
		return e, fmt.Errorf("%s: watch %s index=%d: %v: %s", m.name, prefix, index, err, r.Body)
	}
	return e, nil
}

// checkRecord checks the record of the registers' writes against itself and
// against what the clients were told: every acknowledged write is in it as
// acknowledged, and no write the clients were told failed or was never
// proposed is. It returns what is wrong.
func checkRecord(rec []testnode.Event, w *workload) []string {
	var bad []string
	add := func(format string, args ...any) {
		if len(bad) < 20 {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
	}
	last := map[string]string{}
	byValue := map[string]testnode.Event{}
	for _, e := range rec {
		if e.Action != "SET" || e.Dir || e.Value == "" {
			add("unexpected event %+v", e)
			continue
		}
		if prev := last[e.Key]; e.PrevValue != prev || e.NewKey != (prev == "") {
			add("event %+v does not follow the value before it, %q", e, prev)
		}
		if other, dup := byValue[e.Value]; dup {
			add("value %s written twice: %+v and %+v", e.Value, other, e)
		}
		byValue[e.Value] = e
		last[e.Key] = e.Value
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.records {
		if r.in.Kind == opRead || r.ret < 0 {
			continue
		}
		e, ok := byValue[r.in.Value]
		switch {
		case r.in.Kind == opCAS && !r.out.OK:
			if ok {
				add("%s, yet it is in the history as %+v", describeOp(r.in, r.out), e)
			}
		case !ok:
			add("acknowledged %s (index %d) is not in the history", describeOp(r.in, r.out), r.meta.Index)
		case e.Index != r.meta.Index || e.Key != r.in.Key:
			add("acknowledged %s at index %d is in the history as %+v", describeOp(r.in, r.out), r.meta.Index, e)
		case r.in.Kind == opSet && e.PrevValue != r.out.Value:
			add("acknowledged %s is in the history as %+v", describeOp(r.in, r.out), e)
		}
	}
	for _, in := range w.unsent {
		if e, ok := byValue[in.Value]; ok {
			add("%s of %s to %s was refused before it was proposed, yet it is in the history as %+v", in.Kind, in.Value, in.Key, e)
		}
	}
	return bad
}

// resolution counts what the record told of unknown outcomes.
type resolution struct {
	committed, absent int
}

// resolve returns the history with unknown outcomes resolved by the record.
func resolve(history []porcupine.Operation, rec []testnode.Event) ([]porcupine.Operation, resolution) {
	byValue := map[string]testnode.Event{}
	for _, e := range rec {
		byValue[e.Value] = e
	}
	var res resolution
	out := make([]porcupine.Operation, 0, len(history))
	for _, op := range history {
		in, o := op.Input.(regInput), op.Output.(regOutput)
		if !o.Unknown {
			out = append(out, op)
			continue
		}
		e, ok := byValue[in.Value]
		if !ok || e.Key != in.Key {
			// Never committed, or (a test-and-set) committed and failed:
			// either way it changed nothing.
			res.absent++
			continue
		}
		res.committed++
		if in.Kind == opSet {
			op.Output = regOutput{Value: e.PrevValue}
		} else {
			op.Output = regOutput{OK: true}
		}
		meta, _ := op.Metadata.(opMeta)
		meta.Index = e.Index
		meta.Answer += " (committed, per the watch history)"
		op.Metadata = meta
		out = append(out, op)
	}
	return out, res
}
