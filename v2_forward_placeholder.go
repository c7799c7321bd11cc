package main

import "github.com/etcd-recreation/etcd/store"

// Placeholders of the two methods the v2cluster branch provides (v2-plan.md):
// the lead deletes this file when that branch is merged. Until then a
// follower refuses v2 writes and quorum reads with errNotLeader, which the
// v2 handlers answer with a redirect to the leader, as v1 does.

// proposeAnywhere proposes a store write and returns its event.
func (s *raftServer) proposeAnywhere(cmd storeCommand) (*store.Event, error) {
	return s.dispatch(cmd)
}

// linearizableRead returns once this member's store holds everything
// committed before the call.
func (s *raftServer) linearizableRead() error {
	return s.readBarrier()
}
