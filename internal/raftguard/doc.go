// Package raftguard holds the invariants of Raft that this node relies on
// and goraft does not keep by itself. Every message a peer sends goes to
// goraft through a Guard (the peer handlers call Vote, PreVote, Append,
// Snapshot, AcceptSnapshotFrom and InstallSnapshot), every message this node
// sends is reported to it (the transporter calls BeforeVoteRequest,
// VoteAnswered, AppendAnswered and SnapshotSend*), it alone decides when
// goraft campaigns or steps down, and it is told each membership change as
// it is applied. Its files (log, conf, snapshots, term) are kept by
// internal/raftdisk, which the guard drives.
//
// The invariants, where each is enforced, and the test that breaks without
// it:
//
//  1. The term never decreases, and a term is durable before any message or
//     answer that depends on it leaves the node. goraft keeps its term in
//     memory only, moves to a candidate's term without telling anyone, and
//     sets its term to a snapshot's last term when it installs one. The
//     term and vote are recorded (raftdisk.TermRecord) before every answer
//     (recordTerm), on every term goraft announces (termChanged), before a
//     candidate asks for a vote (BeforeVoteRequest) and before the guard
//     moves goraft on (moveToTerm); given back to goraft at start-up (Start)
//     and after every install (InstallSnapshot). Tests:
//     TestSnapshotInstallKeepsTheTerm, raftdisk's TestTermRecordSurvivesReload,
//     the root package's TestTermThatCannotBeRecordedStopsTheNode.
//
//  2. No message of an older term changes state or gets a success: appends
//     and votes below the recorded term are answered here, in that term,
//     and never reach goraft (Append, Vote), even while goraft's own term
//     is behind the record for a moment; snapshot messages, which carry no
//     term, are taken only from the leader of this node's term (Snapshot,
//     AcceptSnapshotFrom). A leader refuses an append of its own term, which
//     would crash goraft. Test: TestStaleMessagesAreRefused.
//
//  3. One vote per term, durable before it is granted (Vote). Test: the root
//     package's TestVoteFromUnknownCandidate.
//
//  4. A leader that a majority follows is not deposed, and the term does
//     not run away: a member that heard from its leader within the election
//     timeout neither grants a vote nor moves to a candidate's term (the
//     Raft dissertation, 4.2.3; leaseHeld); a member campaigns only once a
//     majority answer a pre-vote that they would vote for it (elections.go);
//     and a leader that has not heard from a majority for quorumSilence
//     steps down, and refuses writes until it does (CheckQuorum). Tests:
//     TestVotesWaitForTheLeadersSilence, TestACutOffMemberCannotRaiseTheTerm,
//     TestAOneWayCutDoesNotDeposeTheLeader, TestALeaderCutOffStepsDown,
//     TestTheOthersElectWhenTheLeaderStops.
//
//  5. A member counts towards the quorum from the moment it is added, and
//     a member that removed itself no longer does (MemberAdded, quorum).
//     Tests: TestAMemberCountsFromItsAdmission,
//     TestARemovedLeaderDoesNotCountItself.
//
//  6. The commit index and the applied state never go back: a snapshot that
//     ends at or below the commit index is refused when it is announced
//     (Snapshot), and answered without goraft if it is sent all the same
//     (raftdisk's Dir.InstallSnapshot); goraft would install it whenever
//     its last entry was compacted away here. Tests:
//     TestStaleSnapshotIsRefused, raftdisk's TestOlderSnapshotIsNotInstalled.
//
//  7. A new leader serves no plain read until it has committed an entry of
//     its own term, and so applied every entry acknowledged before
//     (LeaderBehind). Test: TestReadsWaitAfterEveryElection.
//
//  8. An entry is acknowledged to a leader only once it is durable: goraft's
//     follower syncs its log before it answers an append, and raftdisk
//     answers an idle heartbeat without goraft only when it adds nothing to
//     the log (raftdisk's heartbeat.go). Test: raftdisk's
//     TestIdleHeartbeatIsAnsweredWithoutTheLog.
//
// goraft runs its event listeners in its event loop, under its own lock:
// the guard's listeners call none of goraft's getters but the log's.
package raftguard
