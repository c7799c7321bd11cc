package conformance

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	requestTimeout = 10 * time.Second
	// headersTimeout bounds the wait for a watch's headers, which both
	// sides flush once the watcher is registered.
	headersTimeout = 3 * time.Second
	// lateEvent bounds how long one side may lag the other in answering
	// a watch both should answer.
	lateEvent = 2 * time.Second
	// watchLife is how many operations a watch that has not answered waits
	// for an event before the test stops it (as unanswered on both sides).
	watchLife = 25
	// expiryTimeout bounds the wait for a short TTL to run out on both
	// sides (3.5 sweeps every 500 ms).
	expiryTimeout = 10 * time.Second
)

// runner sends each operation to both sides, compares the answers and
// keeps the counts.
type runner struct {
	t       *testing.T
	bases   [2]string
	clients [2]*http.Client
	cmp     *comparer
	model   *model
	current [2]uint64 // each side's X-Etcd-Index, as last seen

	seq        int
	counts     map[string]int
	unexpected map[string]*differenceClass
	known      map[string]int
	coverage   map[string]int // the reference's statuses, actions, error codes
	pending    []*pendingWatch
	skipped    int
	// flipAt, if non-zero, is the operation whose subject answer is
	// altered: the harness's own check that it notices a difference.
	flipAt int
	// trace logs every operation with both answers.
	trace bool
	// deferred are the directory updates held for the end (final), where
	// the stores may part.
	deferred []*op
	final    bool
}

// isDirOnReference asks the reference alone whether key is a directory.
func (r *runner) isDirOnReference(key string) bool {
	a := r.send(&op{method: http.MethodGet, key: key}, 0)
	if a.err != nil || a.status != http.StatusOK {
		return false
	}
	v, err := parseOrdered(a.body)
	if err != nil {
		return false
	}
	top, _ := v.(*object)
	if top == nil || top.obj("node") == nil {
		return false
	}
	_, dir := top.obj("node").get("dir")
	return dir
}

// differenceClass counts the operations whose first unexplained
// difference is of one kind.
type differenceClass struct {
	count       int // operations
	differences int // all their unexplained differences
	examples    []string
}

// example shows one operation that differed: its request to each side,
// how the answers differ, and both answers.
func (r *runner) example(o *op, ref, sub *answer, diffs []difference) string {
	var b strings.Builder
	fmt.Fprintf(&b, "op %d %s", r.seq, o.method+" "+o.target(0, r))
	if body := o.body(0, r); body != "" {
		b.WriteString(" -d " + body)
	}
	if here := o.method + " " + o.target(1, r) + o.body(1, r); here != o.method+" "+o.target(0, r)+o.body(0, r) {
		fmt.Fprintf(&b, "\n    here sent as: %s %s", o.method, o.target(1, r))
	}
	for _, d := range diffs {
		fmt.Fprintf(&b, "\n    %s: %s", d.what, d.detail)
	}
	fmt.Fprintf(&b, "\n    reference: %s\n    here:      %s", ref, sub)
	return b.String()
}

// maxExamples is how many differences of one class are printed in full.
const maxExamples = 2

func newRunner(t *testing.T, ref, sub string) *runner {
	return &runner{
		t:          t,
		bases:      [2]string{ref, sub},
		clients:    [2]*http.Client{sideClient(), sideClient()},
		cmp:        newComparer(),
		model:      newModel(),
		counts:     map[string]int{},
		unexpected: map[string]*differenceClass{},
		known:      map[string]int{},
		coverage:   map[string]int{},
	}
}

func (r *runner) translate(side int, ref uint64) (uint64, bool) {
	if side == 0 {
		return ref, true
	}
	return r.cmp.idx.sub(ref)
}

func (r *runner) currentIndex(side int) uint64 { return r.current[side] }

// run sends o to both sides and compares the answers; a watch is left
// pending until both have answered.
func (r *runner) run(o *op) {
	if !o.translatable(r) {
		r.skipped++
		return
	}
	r.seq++
	r.counts[o.kind]++
	if o.watch {
		r.startWatch(o)
		return
	}
	if !r.final && o.mayUpdateDir() && r.isDirOnReference(o.key) {
		// 3.5 fails this where this node updates the directory (a known
		// difference): the stores would part, and every later answer
		// about the directory with them. It is sent at the end instead.
		o.kind = "dir-update"
		r.deferred = append(r.deferred, o)
		return
	}
	var answers [2]*answer
	var wg sync.WaitGroup
	for side := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[side] = r.send(o, side)
		}()
	}
	wg.Wait()
	r.finish(o, answers[0], answers[1])
	if o.awaitGone != "" {
		r.awaitGone(o)
	}
}

// pad writes n times to a hidden key on the subject alone.
func (r *runner) pad(n int) {
	for range n {
		a := r.send(&op{method: http.MethodPut, key: "/_pad", form: []param{{name: "value", value: "x"}}}, 1)
		if a.err != nil || a.status >= http.StatusBadRequest {
			r.t.Fatalf("padding the subject's indexes: %s", a)
		}
	}
}

func (r *runner) send(o *op, side int) *answer {
	ctx, cancel := requestContext(requestTimeout)
	defer cancel()
	req, err := o.request(ctx, side, r.bases[side], r)
	if err != nil {
		return &answer{err: err}
	}
	sent := time.Now()
	resp, err := r.clients[side].Do(req)
	if err != nil {
		return &answer{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return &answer{status: resp.StatusCode, header: resp.Header, body: body, err: err, fired: true, sent: sent, received: time.Now()}
}

// finish compares two complete answers, counts the differences, and
// learns from the reference's answer.
func (r *runner) finish(o *op, ref, sub *answer) {
	if r.flipAt != 0 && r.seq == r.flipAt {
		sub.status++
	}
	if !o.watch {
		for side, a := range []*answer{ref, sub} {
			if a.err == nil {
				if n, err := strconv.ParseUint(a.header.Get("X-Etcd-Index"), 10, 64); err == nil && n > r.current[side] {
					r.current[side] = n
				}
			}
		}
	}
	diffs := r.cmp.compare(o, ref, sub)
	if r.trace {
		r.t.Logf("op %d %s\n    reference: %s\n    here:      %s\n    differences: %v", r.seq, o, ref, sub, diffs)
	}
	var unexplained []difference
	knownHere := map[string]bool{}
	for _, d := range diffs {
		if k := knownDifferenceOf(o, ref, sub, d); k != nil {
			knownHere[k.name] = true
			continue
		}
		unexplained = append(unexplained, d)
	}
	for name := range knownHere {
		r.known[name]++
	}
	if len(unexplained) > 0 {
		// One class per operation, named by its first difference (the
		// status when it differs): the rest usually follows from it.
		class := o.kind + ": " + unexplained[0].what
		c := r.unexpected[class]
		if c == nil {
			c = &differenceClass{}
			r.unexpected[class] = c
		}
		c.count++
		c.differences += len(unexplained)
		if len(c.examples) < maxExamples {
			c.examples = append(c.examples, r.example(o, ref, sub, unexplained))
		}
	}
	r.countCoverage(ref)
	if ref.err == nil && ref.fired {
		if o.stream {
			for _, l := range ref.lines {
				r.model.learn(o, http.StatusOK, l)
			}
		} else {
			r.model.learn(o, ref.status, ref.body)
		}
	}
}

// countCoverage counts the reference's statuses, actions and error codes,
// so that the report shows what the run covered.
func (r *runner) countCoverage(ref *answer) {
	if ref.err != nil || !ref.fired {
		return
	}
	r.coverage[fmt.Sprintf("status %d", ref.status)]++
	bodies := ref.lines
	if bodies == nil {
		bodies = [][]byte{ref.body}
	}
	for _, body := range bodies {
		v, err := parseOrdered(body)
		if err != nil {
			continue
		}
		if top, ok := v.(*object); ok {
			if a := top.str("action"); a != "" {
				r.coverage["action "+a]++
			}
			if c := top.num("errorCode"); c != 0 {
				r.coverage[fmt.Sprintf("error %d", c)]++
			}
		}
	}
}

// awaitGone waits until o.awaitGone has expired on both sides, so that no
// later operation sees it on one side only.
func (r *runner) awaitGone(o *op) {
	probe := &op{kind: "probe", method: http.MethodGet, key: o.awaitGone}
	deadline := time.Now().Add(expiryTimeout)
	for side := range 2 {
		for {
			a := r.send(probe, side)
			if a.err == nil && a.status == http.StatusNotFound {
				break
			}
			if time.Now().After(deadline) {
				r.unexpectedNote(o.kind+": no expiry", fmt.Sprintf("op %d %s: %s still answers %s after %v", r.seq, o, sideNames[side], a, expiryTimeout))
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	r.model.expired(o.awaitGone)
}

func (r *runner) unexpectedNote(class, example string) {
	c := r.unexpected[class]
	if c == nil {
		c = &differenceClass{}
		r.unexpected[class] = c
	}
	c.count++
	c.differences++
	if len(c.examples) < maxExamples {
		c.examples = append(c.examples, example)
	}
}

// pendingWatch is one watch sent to both sides.
type pendingWatch struct {
	op      *op
	seq     int
	calls   [2]*watchCall
	started int // r.seq when it was sent
}

type watchCall struct {
	cancel  context.CancelFunc
	headers chan struct{} // closed once the headers came (or the request failed)
	done    chan struct{} // closed once the answer is complete

	mu       sync.Mutex
	ans      answer
	canceled bool
	lineCh   chan struct{} // a stream's new line
}

func (r *runner) startWatch(o *op) {
	p := &pendingWatch{op: o, seq: r.seq, started: r.seq}
	for side := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		c := &watchCall{cancel: cancel, headers: make(chan struct{}), done: make(chan struct{}), lineCh: make(chan struct{}, 1)}
		p.calls[side] = c
		req, err := o.request(ctx, side, r.bases[side], r)
		go c.run(r.clients[side], req, err, o.stream)
	}
	for side, c := range p.calls {
		select {
		case <-c.headers:
		case <-time.After(headersTimeout):
			r.unexpectedNote(o.kind+": watch headers", fmt.Sprintf("op %d %s: %s sent no headers within %v", r.seq, o, sideNames[side], headersTimeout))
		}
	}
	r.pending = append(r.pending, p)
	if o.fromHistory && !o.stream {
		// The answer is due now: compare it before the next write.
		for _, c := range p.calls {
			select {
			case <-c.done:
			case <-time.After(300 * time.Millisecond):
			}
		}
		r.settle(p, lateEvent)
	}
}

func (c *watchCall) run(client *http.Client, req *http.Request, err error, stream bool) {
	defer close(c.done)
	headersSent := false
	defer func() {
		if !headersSent {
			close(c.headers)
		}
	}()
	if err != nil {
		c.ans.err = err
		return
	}
	resp, err := client.Do(req)
	if err != nil {
		c.mu.Lock()
		if !c.canceled {
			c.ans.err = err
		}
		c.mu.Unlock()
		return
	}
	defer resp.Body.Close()
	c.mu.Lock()
	c.ans.status, c.ans.header = resp.StatusCode, resp.Header
	c.mu.Unlock()
	close(c.headers)
	headersSent = true
	if stream && resp.StatusCode == http.StatusOK {
		c.mu.Lock()
		c.ans.lines, c.ans.fired = [][]byte{}, true
		c.mu.Unlock()
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadBytes('\n')
			if len(bytes.TrimSpace(line)) > 0 {
				c.mu.Lock()
				c.ans.lines = append(c.ans.lines, line)
				c.mu.Unlock()
				select {
				case c.lineCh <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}
	body, err := io.ReadAll(resp.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.canceled {
		return
	}
	c.ans.body, c.ans.fired = body, true
	if err != nil {
		c.ans.err = err
	}
}

func (c *watchCall) answered() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *watchCall) stop() *answer {
	c.mu.Lock()
	c.canceled = true
	c.mu.Unlock()
	c.cancel()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.ans
	a.lines = slices.Clone(a.lines)
	return &a
}

// settle compares a watch once both sides answered, waiting up to wait
// for the second once the first did; it reports whether it was compared.
func (r *runner) settle(p *pendingWatch, wait time.Duration) bool {
	a, b := p.calls[0].answered(), p.calls[1].answered()
	if !a && !b {
		return false
	}
	if a != b {
		select {
		case <-p.calls[0].done:
		case <-time.After(wait):
		}
		select {
		case <-p.calls[1].done:
		case <-time.After(wait):
		}
	}
	r.close(p)
	return true
}

func (r *runner) close(p *pendingWatch) {
	ref, sub := p.calls[0].stop(), p.calls[1].stop()
	r.pending = slices.DeleteFunc(r.pending, func(q *pendingWatch) bool { return q == p })
	seq := r.seq
	r.seq = p.seq
	r.finish(p.op, ref, sub)
	r.seq = seq
}

// checkWatches compares the watches both sides have answered, and stops
// those that waited watchLife operations for nothing.
func (r *runner) checkWatches(final bool) {
	for _, p := range slices.Clone(r.pending) {
		if p.op.stream {
			if final || r.seq-p.started >= watchLife/2 {
				r.endStream(p)
			}
			continue
		}
		if r.settle(p, lateEvent) {
			continue
		}
		if final || r.seq-p.started >= watchLife {
			// An event both should have seen may be on its way.
			time.Sleep(50 * time.Millisecond)
			if !r.settle(p, lateEvent) {
				r.close(p)
			}
		}
	}
}

// endStream writes the stream's sentinel, reads both sides until it comes
// (or lateEvent passes), and compares the events.
func (r *runner) endStream(p *pendingWatch) {
	r.pending = slices.DeleteFunc(r.pending, func(q *pendingWatch) bool { return q == p })
	// A value of its own: earlier events on the key must not end the wait.
	value := fmt.Sprintf("end%d", r.seq)
	r.run(&op{kind: "stream-sentinel", method: http.MethodPut, key: p.op.sentinel, form: []param{{name: "value", value: value}}})
	for _, c := range p.calls {
		deadline := time.After(lateEvent)
	wait:
		for !c.hasEvent(p.op.sentinel, value) {
			select {
			case <-c.lineCh:
			case <-c.done:
				break wait
			case <-deadline:
				break wait
			}
		}
	}
	ref, sub := p.calls[0].stop(), p.calls[1].stop()
	seq := r.seq
	r.seq = p.seq
	r.finish(p.op, ref, sub)
	r.seq = seq
}

func (c *watchCall) hasEvent(key, value string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.ans.lines {
		if bytes.Contains(l, []byte(`{"key":"`+key+`","value":"`+value+`"`)) {
			return true
		}
	}
	return false
}

// report prints the counts and every unexpected difference class with
// examples, and fails the test if there was one.
func (r *runner) report(seed uint64, subject string) {
	var b strings.Builder
	fmt.Fprintf(&b, "conformance: seed %d, %d operations against %s (%d skipped: an index they named was never paired; %d directory updates held for the end, %d of them sent)\n",
		seed, r.seq, subject, r.skipped, len(r.deferred), min(len(r.deferred), maxDeferred))
	b.WriteString("operations by kind:\n")
	for _, k := range sortedKeys(r.counts) {
		fmt.Fprintf(&b, "  %-28s %5d\n", k, r.counts[k])
	}
	total, all := 0, 0
	for _, c := range r.unexpected {
		total += c.count
		all += c.differences
	}
	b.WriteString("the reference's answers:\n")
	for _, k := range sortedKeys(r.coverage) {
		fmt.Fprintf(&b, "  %-28s %5d\n", k, r.coverage[k])
	}
	fmt.Fprintf(&b, "operations with known differences (see knownDifferences):\n")
	for _, k := range knownDifferences {
		if k.matches == nil {
			fmt.Fprintf(&b, "  %-44s absorbed by the pairing of indexes\n", k.name)
			continue
		}
		fmt.Fprintf(&b, "  %-44s %5d ops\n", k.name, r.known[k.name])
	}
	fmt.Fprintf(&b, "operations with unexpected differences: %d (%d differences) in %d classes (kind: first difference):\n", total, all, len(r.unexpected))
	for _, k := range sortedKeys(r.unexpected) {
		c := r.unexpected[k]
		fmt.Fprintf(&b, "  %-56s %5d ops %6d differences\n", k, c.count, c.differences)
	}
	for _, k := range sortedKeys(r.unexpected) {
		fmt.Fprintf(&b, "--- %s\n", k)
		for _, e := range r.unexpected[k].examples {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	r.t.Log("\n" + b.String())
	if total > 0 {
		r.t.Errorf("%d operations with unexpected differences, in %d classes (seed %d)", total, len(r.unexpected), seed)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
