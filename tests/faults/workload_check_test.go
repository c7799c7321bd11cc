package faults

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// These check how the clients read the cluster's answers. Misreading one
// either way spoils the check: a write taken as failed or never sent that
// did take effect makes a correct cluster look broken, and an unknown
// outcome taken as definite, or a definite one taken as unknown, lets a
// broken one pass.

// fakeCluster serves each handler as the client port of a member; the
// members have no process and no proxy.
func fakeCluster(t *testing.T, handlers ...http.Handler) *cluster {
	t.Helper()
	tr := testnode.NewTransport()
	t.Cleanup(tr.CloseIdleConnections)
	c := &cluster{
		t:     t,
		ctlTr: tr,
		ctl:   testnode.NewClient(tr, 2*time.Second),
		slow:  testnode.NewClient(tr, 0),
		tl:    &timeline{t: t, start: time.Now()},
	}
	for i, h := range handlers {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		c.members = append(c.members, &member{
			idx:        i,
			name:       fmt.Sprintf("node%d", i+1),
			clientAddr: strings.TrimPrefix(srv.URL, "http://"),
		})
	}
	return c
}

var fakeMember = &member{name: "node1"}

func answered(status int, body string) answer {
	return answer{member: fakeMember, status: status, body: []byte(body), sent: true}
}

func TestClassify(t *testing.T) {
	const (
		setXY         = `{"action":"SET","key":"/lin/k0","prevValue":"x","value":"y","index":7}`
		newX          = `{"action":"SET","key":"/lin/k0","value":"x","newKey":true,"index":7}`
		getX          = `{"action":"GET","key":"/lin/k0","value":"x","index":7}`
		notFound      = `{"errorCode":100,"message":"Key Not Found","cause":"get: /lin/k0"}`
		notEqual      = `{"errorCode":101,"message":"The given PrevValue is not equal to the value of the key","cause":"TestAndSet: x!=q"}`
		noLeader      = `{"errorCode":301,"message":"During Leader Election","cause":"no leader is known"}`
		silentLeader  = `{"errorCode":301,"message":"During Leader Election","cause":"no leader is known: node2 has not been heard from for 151ms"}`
		starting      = `{"errorCode":301,"message":"During Leader Election","cause":"the node is starting: it has not caught up with the cluster yet"}`
		noQuorum      = `{"errorCode":301,"message":"During Leader Election","cause":"raft: this leader has not heard from a majority of the members for an election timeout; nothing was proposed"}`
		tooMany       = `{"errorCode":301,"message":"During Leader Election","cause":"raft: too many writes are waiting for the cluster; nothing was proposed"}`
		election      = `{"errorCode":301,"message":"During Leader Election"}`
		commitTimeout = `{"errorCode":300,"message":"Raft Internal Error","cause":"raft: the command was not committed in time; its outcome is unknown"}`
		unknownCause  = `{"errorCode":300,"message":"Raft Internal Error","cause":"internal error; the member's log has the details"}`
		noLeader300   = `{"errorCode":300,"message":"Raft Internal Error","cause":"no leader is known"}`
	)
	timedOut := answer{member: fakeMember, err: context.DeadlineExceeded, sent: true}
	refused := answer{member: fakeMember, err: errors.New("dial tcp: connection refused")}
	cases := []struct {
		name    string
		in      regInput
		a       answer
		out     regOutput
		oc      outcome
		index   uint64
		anomaly bool
	}{
		// Nothing reached the cluster, or something may have.
		{name: "write not connected", in: set("/lin/k0", "y"), a: refused, oc: notSent},
		{name: "read not connected", in: rd("/lin/k0"), a: refused, oc: notSent},
		{name: "write timed out after sending", in: set("/lin/k0", "y"), a: timedOut, out: unsure(), oc: unknown},
		{name: "cas timed out after sending", in: cas("/lin/k0", "x", "y"), a: timedOut, out: unsure(), oc: unknown},
		{name: "read timed out", in: rd("/lin/k0"), a: timedOut, out: unsure(), oc: noRead},

		// Definite answers.
		{name: "set replacing a value", in: set("/lin/k0", "y"), a: answered(200, setXY), out: got("x"), oc: done, index: 7},
		{name: "set of a new key", in: set("/lin/k0", "x"), a: answered(200, newX), out: got(""), oc: done, index: 7},
		{name: "cas success", in: cas("/lin/k0", "x", "y"), a: answered(200, setXY), out: casOK(), oc: done, index: 7},
		{name: "cas creating the key", in: cas("/lin/k0", "", "x"), a: answered(200, newX), out: casOK(), oc: done, index: 7},
		{name: "read of a value", in: rd("/lin/k0"), a: answered(200, getX), out: got("x"), oc: done, index: 7},
		{name: "read of a missing key", in: rd("/lin/k0"), a: answered(404, notFound), out: got(""), oc: done},
		{name: "cas on a missing key", in: cas("/lin/k0", "q", "y"), a: answered(404, notFound), out: casFail(100), oc: done},
		{name: "cas on another value", in: cas("/lin/k0", "q", "y"), a: answered(400, notEqual), out: casFail(101), oc: done},

		// Error 301, whatever its cause, from a member that proposed
		// nothing; error 300, whatever its cause, leaves a write open.
		{name: "write refused without a leader", in: set("/lin/k0", "y"), a: answered(500, noLeader), oc: notSent},
		{name: "write refused with a silent leader", in: set("/lin/k0", "y"), a: answered(500, silentLeader), oc: notSent},
		{name: "write refused while starting", in: set("/lin/k0", "y"), a: answered(500, starting), oc: notSent},
		{name: "read refused while starting", in: rd("/lin/k0"), a: answered(500, starting), oc: notSent},
		{name: "write refused without a quorum", in: set("/lin/k0", "y"), a: answered(500, noQuorum), oc: notSent},
		{name: "cas refused without a quorum", in: cas("/lin/k0", "x", "y"), a: answered(500, noQuorum), oc: notSent},
		{name: "read refused without a quorum", in: rd("/lin/k0"), a: answered(500, noQuorum), oc: notSent},
		{name: "write refused with too many proposals", in: set("/lin/k0", "y"), a: answered(500, tooMany), oc: notSent},
		{name: "write refused during an election, no cause", in: set("/lin/k0", "y"), a: answered(500, election), oc: notSent},
		{name: "write timed out in raft", in: set("/lin/k0", "y"), a: answered(500, commitTimeout), out: unsure(), oc: unknown},
		{name: "cas timed out in raft", in: cas("/lin/k0", "x", "y"), a: answered(500, commitTimeout), out: unsure(), oc: unknown},
		{name: "read timed out in raft", in: rd("/lin/k0"), a: answered(500, commitTimeout), out: unsure(), oc: noRead},
		{name: "write failed in raft", in: set("/lin/k0", "y"), a: answered(500, unknownCause), out: unsure(), oc: unknown},
		{name: "write answered 300 with the cause of a refusal", in: set("/lin/k0", "y"), a: answered(500, noLeader300), out: unsure(), oc: unknown},
		{name: "write refused with status 400", in: set("/lin/k0", "y"), a: answered(400, noLeader), out: unsure(), oc: unknown, anomaly: true},
		{name: "write refused with status 503", in: set("/lin/k0", "y"), a: answered(503, noLeader), out: unsure(), oc: unknown, anomaly: true},

		// Answers no correct member gives: reported, and the write left open.
		{name: "set answered with another key", in: set("/lin/k0", "y"), a: answered(200, strings.Replace(setXY, "k0", "k1", 1)), out: unsure(), oc: unknown, index: 7, anomaly: true},
		{name: "set answered with another value", in: set("/lin/k0", "z"), a: answered(200, setXY), out: unsure(), oc: unknown, index: 7, anomaly: true},
		{name: "cas answered with another previous value", in: cas("/lin/k0", "q", "y"), a: answered(200, setXY), out: unsure(), oc: unknown, index: 7, anomaly: true},
		{name: "set answered with index 0", in: set("/lin/k0", "y"), a: answered(200, strings.Replace(setXY, `"index":7`, `"index":0`, 1)), out: unsure(), oc: unknown, anomaly: true},
		{name: "set answered with a TTL", in: set("/lin/k0", "y"), a: answered(200, strings.Replace(setXY, `"index"`, `"ttl":5,"index"`, 1)), out: unsure(), oc: unknown, index: 7, anomaly: true},
		{name: "set answered with an unknown member", in: set("/lin/k0", "y"), a: answered(200, strings.Replace(setXY, `"index"`, `"extra":1,"index"`, 1)), out: unsure(), oc: unknown, anomaly: true},
		{name: "set answered with text", in: set("/lin/k0", "y"), a: answered(200, "ok"), out: unsure(), oc: unknown, anomaly: true},
		{name: "read answered with a SET", in: rd("/lin/k0"), a: answered(200, setXY), out: unsure(), oc: noRead, index: 7, anomaly: true},
		{name: "read answered with an empty value", in: rd("/lin/k0"), a: answered(200, strings.Replace(getX, `"value":"x",`, "", 1)), out: unsure(), oc: noRead, index: 7, anomaly: true},
		{name: "set answered 404", in: set("/lin/k0", "y"), a: answered(404, notFound), out: unsure(), oc: unknown, anomaly: true},
		{name: "cas creating the key answered 404", in: cas("/lin/k0", "", "y"), a: answered(404, notFound), out: unsure(), oc: unknown, anomaly: true},
		{name: "set answered 101", in: set("/lin/k0", "y"), a: answered(400, notEqual), out: unsure(), oc: unknown, anomaly: true},
		{name: "error without a code", in: set("/lin/k0", "y"), a: answered(500, `{"message":"Raft Internal Error"}`), out: unsure(), oc: unknown, anomaly: true},
		{name: "error in text", in: set("/lin/k0", "y"), a: answered(502, "Bad Gateway"), out: unsure(), oc: unknown, anomaly: true},
		{name: "unexpected error code", in: set("/lin/k0", "y"), a: answered(400, `{"errorCode":102,"message":"Not A File"}`), out: unsure(), oc: unknown, anomaly: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, oc, meta, anomaly := classify(tc.in, tc.a)
			if out != tc.out || oc != tc.oc {
				t.Errorf("classify(%s, %s) = %+v, outcome %d; want %+v, outcome %d", describeOp(tc.in, regOutput{}), tc.a, out, oc, tc.out, tc.oc)
			}
			if meta.Index != tc.index || meta.Member != tc.a.member.name {
				t.Errorf("metadata %+v; want index %d and member %s", meta, tc.index, tc.a.member.name)
			}
			if (anomaly != "") != tc.anomaly {
				t.Errorf("anomaly %q; want one: %v", anomaly, tc.anomaly)
			}
		})
	}
}

// TestSendFollowsRedirects: a 307 comes from a member that proposed
// nothing, so only the answer where it leads tells what happened.
func TestSendFollowsRedirects(t *testing.T) {
	var c *cluster
	redirectTo := func(target func() string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", target()+r.URL.RequestURI())
			w.WriteHeader(http.StatusTemporaryRedirect)
		}
	}
	c = fakeCluster(t,
		redirectTo(func() string { return c.members[1].clientURL() }),
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := r.ParseForm(); err != nil || r.Form.Get("value") != "y" || r.URL.RawQuery != "q=1" {
				http.Error(w, "the redirect lost the form or the query", http.StatusBadRequest)
				return
			}
			fmt.Fprint(w, `{"action":"SET","key":"/lin/k0","value":"y","newKey":true,"index":9}`)
		}),
		redirectTo(func() string { return "http://127.0.0.1:1" }),
		redirectTo(func() string { return c.members[3].clientURL() }),
	)
	w := newWorkload(c, 1)
	t.Cleanup(w.tr.CloseIdleConnections)
	in := set("/lin/k0", "y")
	form := url.Values{"value": {"y"}}

	a := w.send(context.Background(), c.members[0], http.MethodPost, "/v1/keys/lin/k0?q=1", form)
	out, oc, meta, anomaly := classify(in, a)
	if out != got("") || oc != done || meta.Member != "node2" || meta.Index != 9 || anomaly != "" {
		t.Errorf("redirected to a member: %+v, outcome %d, %+v, %q (answer %s); want done by node2 at index 9", out, oc, meta, anomaly, a)
	}

	for _, tc := range []struct {
		name    string
		from    *member
		anomaly bool
	}{
		{"redirected outside the cluster", c.members[2], true},
		{"redirected in a loop", c.members[3], false},
	} {
		before := w.anomalyCount
		a := w.send(context.Background(), tc.from, http.MethodPost, "/v1/keys/lin/k0", form)
		out, oc, _, _ := classify(in, a)
		if out != unsure() || oc != unknown {
			t.Errorf("%s: %+v, outcome %d (answer %s); want unknown", tc.name, out, oc, a)
		}
		if reported := w.anomalyCount > before; reported != tc.anomaly {
			t.Errorf("%s: anomaly reported: %v, want %v (%q)", tc.name, reported, tc.anomaly, w.anomalies)
		}
	}
}

// TestSendTellsSentFromNotSent: only a connection that was never made
// proves that nothing was asked of the cluster.
func TestSendTellsSentFromNotSent(t *testing.T) {
	release := make(chan struct{})
	c := fakeCluster(t,
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }),
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }),
	)
	t.Cleanup(func() { close(release) })
	closed, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	down := &member{name: "down", clientAddr: closed}
	w := newWorkload(c, 1)
	t.Cleanup(w.tr.CloseIdleConnections)
	form := url.Values{"value": {"y"}}

	for _, tc := range []struct {
		name string
		m    *member
		want outcome
	}{
		{"no answer before the deadline", c.members[0], unknown},
		{"connection dropped without an answer", c.members[1], unknown},
		{"connection refused", down, notSent},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		a := w.send(ctx, tc.m, http.MethodPost, "/v1/keys/lin/k0", form)
		cancel()
		if _, oc, _, _ := classify(set("/lin/k0", "y"), a); oc != tc.want || a.err == nil {
			t.Errorf("%s: outcome %d (answer %s, sent %v); want %d", tc.name, oc, a, a.sent, tc.want)
		}
	}
}
