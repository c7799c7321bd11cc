package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/etcd-recreation/etcd/internal/testnode"
)

// opTimeout bounds one client operation, redirects included.
const opTimeout = 3 * time.Second

// outcome is what a client learnt of an operation.
type outcome int

const (
	done    outcome = iota // a definite answer
	unknown                // a write that may or may not take effect
	notSent                // nothing reached a leader: no effect
	noRead                 // a read without an answer
)

// record is one operation of the history.
type record struct {
	client    int
	in        regInput
	out       regOutput
	call, ret int64 // ret is set at the end for unknown outcomes
	meta      opMeta
}

// durableAck is an acknowledged write of a distinct key.
type durableAck struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Index uint64 `json:"index"`
}

// workload is the clients: registers written and read by many clients,
// and a writer of distinct keys whose acknowledgements are all checked at
// the end.
type workload struct {
	c    *cluster
	base time.Time // timestamps are monotonic nanoseconds since base
	keys []string
	tr   *http.Transport
	http *http.Client

	mu           sync.Mutex
	records      []*record
	unsent       []regInput // writes refused before they were proposed
	lanes        int        // porcupine client ids given out
	counts       map[string]int
	anomalies    []string
	anomalyCount int
	indexed      []indexedOp
	durable      []durableAck
	lastDone     int64  // when a client last got a definite answer
	maxIndex     uint64 // the highest index acknowledged for a write
}

// answeredBetween counts the operations of the registers that got a
// definite answer between from and to (the workload's clock).
func (w *workload) answeredBetween(from, to int64) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, r := range w.records {
		if r.ret >= from && r.ret <= to {
			n++
		}
	}
	return n
}

func (w *workload) durableCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.durable)
}

func (w *workload) maxAcked() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.maxIndex
}

func newWorkload(c *cluster, keys int) *workload {
	tr := testnode.NewTransport()
	w := &workload{
		c:      c,
		base:   time.Now(),
		tr:     tr,
		http:   testnode.NewClient(tr, 0),
		counts: map[string]int{},
	}
	for i := range keys {
		w.keys = append(w.keys, fmt.Sprintf("/lin/k%d", i))
	}
	return w
}

func (w *workload) now() int64 { return time.Since(w.base).Nanoseconds() }

func (w *workload) count(what string) {
	w.mu.Lock()
	w.counts[what]++
	w.mu.Unlock()
}

// anomaly records an answer no correct member gives.
func (w *workload) anomaly(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.anomalyCount++
	if len(w.anomalies) < 50 {
		w.anomalies = append(w.anomalies, fmt.Sprintf("t=%.3fs ", float64(w.now())/1e9)+fmt.Sprintf(format, args...))
	}
}

func (w *workload) newLane() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lanes++
	return w.lanes - 1
}

// answer is the last response of a request whose redirects were followed.
type answer struct {
	member *member
	status int
	body   []byte
	header http.Header
	err    error
	// sent is false when the last hop did not connect: nothing was asked
	// of any leader.
	sent bool
}

func (a answer) String() string {
	if a.err != nil {
		return a.err.Error()
	}
	return fmt.Sprintf("%d %s", a.status, a.body)
}

// send sends a request to m and, as curl -L and go-etcd do, again wherever
// a 307 points (form and all).
func (w *workload) send(ctx context.Context, m *member, method, path string, form url.Values) answer {
	for range 5 {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, m.clientURL()+path, body)
		if err != nil {
			return answer{member: m, err: err}
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := w.http.Do(req)
		if err != nil {
			return answer{member: m, err: err, sent: !isDialError(err)}
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return answer{member: m, err: err, sent: true}
		}
		if resp.StatusCode != http.StatusTemporaryRedirect {
			return answer{member: m, status: resp.StatusCode, body: b, header: resp.Header, sent: true}
		}
		// A 307 comes from a member that did not propose anything.
		loc := resp.Header.Get("Location")
		next := w.c.byClientURL(loc)
		u, err := url.Parse(loc)
		if next == nil || err != nil {
			w.anomaly("%s %s on %s: 307 to %q, which is no member's client URL", method, path, m.name, loc)
			return answer{member: m, status: resp.StatusCode, body: b, err: fmt.Errorf("307 to %q", loc), sent: true}
		}
		m, path = next, u.RequestURI()
	}
	return answer{member: m, err: errors.New("too many redirects"), sent: true}
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// execute runs one operation against m and says what came of it.
func (w *workload) execute(m *member, in regInput) (regOutput, outcome, opMeta) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var a answer
	if in.Kind == opRead {
		a = w.send(ctx, m, http.MethodGet, "/v1/keys"+in.Key+"?consistent=true", nil)
	} else {
		f := url.Values{"value": {in.Value}}
		if in.Kind == opCAS {
			f["prevValue"] = []string{in.Prev}
		}
		a = w.send(ctx, m, http.MethodPost, "/v1/keys"+in.Key, f)
	}
	out, oc, meta, anomaly := classify(in, a)
	if anomaly != "" {
		w.anomaly("%s", anomaly)
	}
	return out, oc, meta
}

// classify says what the last answer to an operation tells of it: the
// output the model checks, the outcome, what the visualization shows, and
// what no correct member would have answered ("" when nothing). An answer
// that does not settle whether a write took effect leaves it unknown: only
// an answer that proves nothing was proposed may make it notSent, and only
// a definite answer may make it done.
func classify(in regInput, a answer) (regOutput, outcome, opMeta, string) {
	meta := opMeta{Member: a.member.name}
	inconclusive := func(anomaly string) (regOutput, outcome, opMeta, string) {
		return regOutput{Unknown: true}, notSentOr(in, unknown), meta, anomaly
	}
	op := describeOp(in, regOutput{})
	if a.err != nil {
		meta.Answer = a.err.Error()
		if !a.sent {
			return regOutput{}, notSent, meta, ""
		}
		return inconclusive("")
	}
	meta.Answer = fmt.Sprint(a.status)
	if a.status == http.StatusOK {
		var ev testnode.Event
		if err := testnode.DecodeStrict(a.body, &ev); err != nil {
			return inconclusive(fmt.Sprintf("%s on %s: 200 with a body that is no event: %v: %s", op, a.member.name, err, a.body))
		}
		meta.Index = ev.Index
		if msg := checkEvent(in, ev); msg != "" {
			return inconclusive(fmt.Sprintf("%s on %s: %s: %s", op, a.member.name, msg, a.body))
		}
		switch in.Kind {
		case opRead:
			return regOutput{Value: ev.Value}, done, meta, ""
		case opSet:
			return regOutput{Value: ev.PrevValue}, done, meta, ""
		default:
			return regOutput{OK: true}, done, meta, ""
		}
	}
	var ee testnode.Error
	if testnode.DecodeStrict(a.body, &ee) != nil || ee.ErrorCode == 0 {
		return inconclusive(fmt.Sprintf("%s on %s: %d with a body that is no error: %s", op, a.member.name, a.status, a.body))
	}
	meta.Answer = fmt.Sprintf("%d/%d %s", a.status, ee.ErrorCode, ee.Cause)
	switch {
	case a.status == http.StatusNotFound && ee.ErrorCode == 100 && in.Kind == opRead:
		return regOutput{Value: ""}, done, meta, ""
	case a.status == http.StatusNotFound && ee.ErrorCode == 100 && in.Kind == opCAS && in.Prev != "":
		return regOutput{Code: 100}, done, meta, ""
	case a.status == http.StatusBadRequest && ee.ErrorCode == 101 && in.Kind == opCAS:
		return regOutput{Code: 101}, done, meta, ""
	// Error 301: the member proposed nothing (it knew no live leader, was
	// starting, or refused for want of a quorum). Error 300: it may have.
	case a.status == http.StatusInternalServerError && ee.ErrorCode == 301:
		return regOutput{}, notSent, meta, ""
	case a.status == http.StatusInternalServerError && ee.ErrorCode == 300:
		return inconclusive("")
	}
	return inconclusive(fmt.Sprintf("%s on %s: unexpected answer %d %s", op, a.member.name, a.status, a.body))
}

// notSentOr turns a read of unknown outcome into noRead.
func notSentOr(in regInput, o outcome) outcome {
	if in.Kind == opRead && o == unknown {
		return noRead
	}
	return o
}

// checkEvent checks a 200 answer against the request; "" when it fits.
func checkEvent(in regInput, ev testnode.Event) string {
	switch {
	case ev.Key != in.Key:
		return "the answer is about another key"
	case ev.Index == 0:
		return "index 0"
	case ev.Dir || ev.Expiration != "" || ev.TTL != 0:
		return "a directory or a key with a TTL"
	}
	switch in.Kind {
	case opRead:
		if ev.Action != "GET" || ev.Value == "" {
			return "not a GET of a value"
		}
	case opSet:
		if ev.Action != "SET" || ev.Value != in.Value || ev.NewKey != (ev.PrevValue == "") {
			return "not the SET asked for"
		}
	default:
		if ev.Action != "SET" || ev.Value != in.Value || ev.PrevValue != in.Prev || ev.NewKey != (in.Prev == "") {
			return "not the test-and-set asked for"
		}
	}
	return ""
}

// runClient does random operations on the registers until stop closes.
func (w *workload) runClient(id int, seed uint64, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(seed, uint64(1000+id)))
	lane := w.newLane()
	last := map[string]string{} // the last value this client saw per key
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		key := w.keys[rng.IntN(len(w.keys))]
		value := fmt.Sprintf("c%d-%d", id, seq)
		var in regInput
		switch r := rng.IntN(10); {
		case r < 4:
			in = regInput{Kind: opRead, Key: key}
		case r < 7:
			in = regInput{Kind: opSet, Key: key, Value: value}
		default:
			in = regInput{Kind: opCAS, Key: key, Prev: last[key], Value: value}
		}
		m := w.c.randomMember(rng)
		call := w.now()
		out, oc, meta := w.execute(m, in)
		ret := w.now()
		w.note(lane, in, out, oc, meta, call, ret)
		switch oc {
		case done:
			switch {
			case in.Kind == opRead:
				last[key] = out.Value
			case in.Kind == opSet || out.OK:
				last[key] = in.Value
			}
		case unknown:
			// The operation stays open until the end: later ones of this
			// client go on another lane.
			lane = w.newLane()
			delete(last, key)
		default:
			// Nothing was done: do not hammer a member that is down.
			time.Sleep(time.Duration(10+rng.IntN(20)) * time.Millisecond)
		}
	}
}

// note adds an operation to the history and counts it.
func (w *workload) note(lane int, in regInput, out regOutput, oc outcome, meta opMeta, call, ret int64) {
	var what string
	switch oc {
	case done:
		switch {
		case in.Kind == opRead && out.Value == "":
			what = "missing"
		case in.Kind == opCAS && !out.OK:
			what = fmt.Sprintf("failed %d", out.Code)
		default:
			what = "ok"
		}
	case unknown:
		what = "unknown"
	case notSent:
		what = "not sent"
	case noRead:
		what = "no answer"
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.counts[in.Kind.String()+" "+what]++
	if oc == notSent && in.Kind != opRead {
		w.unsent = append(w.unsent, in)
	}
	if oc == notSent || oc == noRead {
		return
	}
	r := &record{client: lane, in: in, out: out, call: call, ret: ret, meta: meta}
	if oc == unknown {
		r.ret = -1
	} else {
		w.lastDone = max(w.lastDone, ret)
	}
	w.records = append(w.records, r)
	if oc == done && meta.Index != 0 && in.Kind != opRead {
		w.maxIndex = max(w.maxIndex, meta.Index)
	}
	if oc == done && meta.Index != 0 {
		w.indexed = append(w.indexed, indexedOp{call: call, ret: ret, index: meta.Index, write: in.Kind != opRead,
			desc: fmt.Sprintf("%s on %s", describeOp(in, out), meta.Member)})
	}
}

// runDurable writes distinct keys /durable/N until stop closes, and
// records every acknowledged one.
func (w *workload) runDurable(id int, seed uint64, next func() int, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(seed, uint64(2000+id)))
	for {
		select {
		case <-stop:
			return
		default:
		}
		n := next()
		key := fmt.Sprintf("/durable/%07d", n)
		value := fmt.Sprintf("d%d", n)
		m := w.c.randomMember(rng)
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		call := w.now()
		a := w.send(ctx, m, http.MethodPost, "/v1/keys"+key, url.Values{"value": {value}})
		ret := w.now()
		cancel()
		out, oc, meta, anomaly := classify(regInput{Kind: opSet, Key: key, Value: value}, a)
		if anomaly == "" && oc == done && out.Value != "" {
			anomaly = fmt.Sprintf("durable write %s=%s on %s: want a SET of a new key, got %s", key, value, a.member.name, a.body)
		}
		switch {
		case anomaly != "":
			w.anomaly("%s", anomaly)
			w.count("durable unknown")
		case oc == done:
			w.mu.Lock()
			w.counts["durable ok"]++
			w.durable = append(w.durable, durableAck{key, value, meta.Index})
			w.maxIndex = max(w.maxIndex, meta.Index)
			w.indexed = append(w.indexed, indexedOp{call: call, ret: ret, index: meta.Index, write: true,
				desc: fmt.Sprintf("set(%s, %s) on %s", key, value, a.member.name)})
			w.mu.Unlock()
			continue
		case oc == notSent:
			w.count("durable not sent")
		default:
			w.count("durable unknown")
		}
		time.Sleep(time.Duration(10+rng.IntN(20)) * time.Millisecond)
	}
}

// finalReads reads every register once, consistently, once the cluster is
// healthy again; they are part of the history.
func (w *workload) finalReads() error {
	for _, key := range w.keys {
		lane := w.newLane()
		deadline := time.Now().Add(healthTimeout)
		for i := 0; ; i++ {
			in := regInput{Kind: opRead, Key: key}
			call := w.now()
			live := w.c.live()
			out, oc, meta := w.execute(live[i%len(live)], in)
			ret := w.now()
			w.note(lane, in, out, oc, meta, call, ret)
			if oc == done {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("no consistent read of %s succeeded within %v of the end (last: %s)", key, healthTimeout, meta.Answer)
			}
			time.Sleep(pollInterval)
		}
	}
	return nil
}

// history is the recorded operations for porcupine. Unknown outcomes
// return after everything else.
func (w *workload) history() []porcupine.Operation {
	w.mu.Lock()
	defer w.mu.Unlock()
	end := w.now() + 1
	ops := make([]porcupine.Operation, 0, len(w.records))
	for _, r := range w.records {
		ret := r.ret
		if ret < 0 {
			ret = end
		}
		ops = append(ops, porcupine.Operation{ClientId: r.client, Input: r.in, Call: r.call, Output: r.out, Return: ret, Metadata: r.meta})
	}
	return ops
}

// summary lists the counts, sorted.
func (w *workload) summary() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for k, v := range w.counts {
		out = append(out, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(out)
	return out
}
