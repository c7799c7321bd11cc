package raftguard

import (
	"math/rand/v2"
	"time"

	"github.com/goraft/raft"
)

// Elections.
//
// goraft campaigns whenever its election timer fires, each time in a new
// term. A member that cannot hear its leader would campaign again and again
// in ever higher terms, and once one of its messages got through, its term
// would depose a leader the others still follow. So goraft's timer is kept
// out of reach (noCampaign), and the guard decides when this node
// campaigns: after an election timeout (and up to half as long again, at
// random) without word from a leader, and only once a majority have
// answered a pre-vote saying they would vote for it (they hear no leader
// either, its log is as up to date as theirs, its term would be new to
// them). A pre-vote changes nothing anywhere. Then goraft's timeout is made
// short and its timer restarted, so that it campaigns within a moment, and
// the timeout is put out of reach again once it has.
//
// A candidate that wins no majority waits, its timer out of reach; after
// another timeout the guard asks for pre-votes again and, given them, moves
// goraft on a term, as a follower, to campaign from there. goraft's
// snapshotting state, which it never leaves by itself, is left the same
// way. A leader that has not heard from a majority for quorumSilence steps
// down, by moving to the next term: goraft has no other way.

// campaignTimeout is goraft's election timeout while the guard lets it
// campaign: it campaigns between one and two of these after being told,
// and a round of its campaign lasts as long.
func (g *Guard) campaignTimeout() time.Duration { return g.election / 2 }

func (g *Guard) runElections() {
	defer close(g.done)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(len(g.name))))
	patience := g.patience(rng)
	timer := time.NewTimer(patience)
	defer timer.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-timer.C:
		case <-g.stateChanged:
		}
		wait, attempted := g.electionStep(patience)
		if attempted {
			patience = g.patience(rng)
			wait = patience
		}
		timer.Reset(wait)
	}
}

// patience is how long a member waits without word from a leader before it
// asks for pre-votes: an election timeout, and up to half as long again at
// random, so that members do not all ask at once.
func (g *Guard) patience(rng *rand.Rand) time.Duration {
	return g.election + time.Duration(rng.Int64N(int64(g.election/2)+1))
}

// electionStep does what is due now: a leader without a quorum steps down,
// a member that has waited out its patience tries to campaign. It returns
// how long until the next step is due, and whether it tried. goraft's term
// is read (through its event loop) only when something is due: an idle
// member's step costs two locks.
func (g *Guard) electionStep(patience time.Duration) (time.Duration, bool) {
	switch g.raft.State() {
	case raft.Leader:
		if !g.quorum.heardMajority(time.Now().Add(-g.quorumSilence())) {
			if term, state := g.position(); state == raft.Leader {
				logf("%q has not heard from a majority of the members for %v: it steps down", g.name, g.quorumSilence())
				g.moveToTerm(term + 1)
			}
		}
		return g.election, false
	case raft.Follower, raft.Candidate, raft.Snapshotting:
	default:
		return g.election, false
	}
	if !g.mayCampaign() {
		// Admission wakes the loop (MemberAdded).
		return noCampaign, false
	}
	silent := time.Since(time.Unix(0, g.quiet.Load()))
	if silent < patience {
		return patience - silent, false
	}
	term, _ := g.position()
	g.campaign(term)
	return 0, true
}

// mayCampaign reports whether this node is a member, by the membership it
// has applied, and has a log: a removed member would depose healthy
// leaders, and a newcomer that has not applied its own join knows too few
// members to count a quorum.
func (g *Guard) mayCampaign() bool {
	last, _ := g.lastLog()
	return last > 0 && g.quorum.isMember(g.name)
}

// campaign asks for pre-votes for the term after term and, given a
// majority, has goraft campaign. A member answering from a later term is
// followed there first.
func (g *Guard) campaign(term uint64) {
	silent := time.Since(time.Unix(0, g.quiet.Swap(time.Now().UnixNano())))
	last, lastTerm := g.lastLog()
	req := &raft.RequestVoteRequest{Term: term + 1, CandidateName: g.name, LastLogIndex: last, LastLogTerm: lastTerm}
	votes, need, highest := g.preVote(req)
	if votes < need {
		if time.Since(g.refusedLogged) > refusedLogEvery {
			g.refusedLogged = time.Now()
			logf("no leader heard for %v, but %d of the members would vote for %q in term %d, and %d must: not campaigning (said every %v at most)",
				silent.Round(time.Millisecond), votes, g.name, term+1, need, refusedLogEvery)
		}
		if highest > term {
			g.moveToTerm(highest)
		}
		return
	}
	logf("no leader heard for %v: %q campaigns, with %d pre-votes of the %d needed", silent.Round(time.Millisecond), g.name, votes, need)
	// goraft campaigns only from its follower state.
	if g.raft.State() != raft.Follower {
		if g.moveToTerm(term+1) != nil {
			return
		}
		term++
	}
	g.startCampaign(term)
}

// refusedLogEvery bounds how often a member that may not campaign says so.
const refusedLogEvery = 10 * time.Second

// preVote asks the other members whether they would vote for req, and
// counts those that would, this node included, until a majority (need)
// would or an election timeout passes; it also returns the highest term
// any answered from.
func (g *Guard) preVote(req *raft.RequestVoteRequest) (votes, need int, highest uint64) {
	others := g.quorum.others()
	need, _ = g.quorum.majority()
	votes = 1
	if votes >= need {
		return votes, need, 0
	}
	answers := make(chan *raft.RequestVoteResponse, len(others))
	for _, peer := range others {
		go func() {
			resp, err := g.transport.PreVote(peer, req)
			if err != nil {
				resp = nil
			}
			answers <- resp
		}()
	}
	deadline := time.NewTimer(g.election)
	defer deadline.Stop()
	for range others {
		var resp *raft.RequestVoteResponse
		select {
		case resp = <-answers:
		case <-deadline.C:
			return votes, need, highest
		}
		if resp == nil {
			continue
		}
		highest = max(highest, resp.Term)
		if resp.VoteGranted {
			if votes++; votes >= need {
				break
			}
		}
	}
	return votes, need, highest
}

// startCampaign has goraft, a follower in term, campaign: its election
// timeout is made short and its timer restarted; once it campaigns, or the
// short timer could have fired twice, the timeout is put out of reach
// again. A follower still (a leader reached it meanwhile, restarting its
// timer with the short timeout) has its timer restarted once more.
func (g *Guard) startCampaign(term uint64) {
	g.raft.SetElectionTimeout(g.campaignTimeout())
	g.disk.RestartElectionTimer(g.raft, term, "")
	deadline := time.NewTimer(2*g.campaignTimeout() + g.election)
	defer deadline.Stop()
wait:
	for g.raft.State() == raft.Follower {
		select {
		case <-g.stateChanged:
		case <-deadline.C:
			break wait
		case <-g.stop:
			break wait
		}
	}
	g.raft.SetElectionTimeout(noCampaign)
	if term, state := g.position(); state == raft.Follower {
		g.disk.RestartElectionTimer(g.raft, term, g.leader.name())
	}
}
