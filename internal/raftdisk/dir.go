// Package raftdisk keeps the files goraft writes in a data directory (log,
// conf, snapshot/) sound, and the node's term and vote with them, across
// crashes, power cuts and goraft's own bugs with them.
//
// goraft must be driven through a Dir for every call that touches its
// files; each of these has a goraft bug or gap behind it:
//   - Open, before raft.NewServer: it cuts a torn log tail (goraft's own
//     cut leaves the write offset behind), refuses a corrupt log or a log
//     that starts after the newest snapshot ends, keeps only the newest
//     sound snapshot and removes a half-done compaction.
//   - Dir.LoadSnapshot instead of Server.LoadSnapshot, before Server.Init
//     (goraft's resets the saved commit index).
//   - Dir.Attach after Server.Init and before the node answers anyone.
//   - Dir.Append for every AppendEntriesRequest a leader sends and
//     Dir.InstallSnapshot for every SnapshotRecoveryRequest (goraft records
//     wrong file positions for them, and installs a snapshot older than
//     what the node holds), and Dir.TakeSnapshot instead of
//     Server.TakeSnapshot (it compacts even when the snapshot was not
//     saved), with a state machine whose Save writes its state with
//     Dir.SaveState (the log must be synced before goraft writes the
//     snapshot, and appends wait while goraft compacts).
//   - Dir.Sync before anything goraft wrote to the log is acknowledged
//     (goraft never fsyncs a lone node's log and ignores a leader's fsync
//     errors).
//   - Dir.Terms records every term and vote before a message carrying it
//     leaves the node (goraft keeps both only in memory).
//
// goraft runs its event listeners under its own locks: a listener must not
// call Server getters (State, Term, CommitIndex, ...), which deadlock.
package raftdisk

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/goraft/raft"
)

// Files are the names in a data directory that hold raft state: removing
// them starts a node afresh.
var Files = []string{"log", "log.new", "conf", "conf.tmp", "snapshot", stateDir, termFile, termFile + ".tmp", clusterFile, clusterFile + ".tmp"}

// Dir is goraft's state in one data directory.
type Dir struct {
	path      string
	snapshot  *snapshotFile // the snapshot Open kept, if any
	terms     *TermRecord
	positions *positions
	syncer    *syncer // set by Attach
	states    pendingStates
	syncTimed func(time.Duration) // see TimeSyncs
}

// Open readies dataDir for goraft: see the package comment.
func Open(dataDir string) (*Dir, error) {
	snap, err := recoverDataDir(dataDir)
	if err != nil {
		return nil, err
	}
	terms, err := loadTermRecord(dataDir)
	if err != nil {
		return nil, err
	}
	return &Dir{path: dataDir, snapshot: snap, terms: terms, positions: newPositions()}, nil
}

// SnapshotIndex is the last index the snapshot found by Open covers, 0
// without one.
func (d *Dir) SnapshotIndex() uint64 {
	if d.snapshot == nil {
		return 0
	}
	return d.snapshot.index
}

// Terms is the node's persisted term and vote.
func (d *Dir) Terms() *TermRecord { return d.terms }

// LoadSnapshot restores the snapshot Open kept, if any. goraft's
// LoadSnapshot rewrites conf with a commit index of 0, which would make
// Init replay nothing past the snapshot, so conf is put back afterwards.
func (d *Dir) LoadSnapshot(srv raft.Server) error {
	if d.snapshot == nil {
		return nil
	}
	confPath := filepath.Join(d.path, "conf")
	conf, confErr := os.ReadFile(confPath)
	if err := srv.LoadSnapshot(); err != nil {
		return fmt.Errorf("load snapshot %s: %w", d.snapshot.name, err)
	}
	if confErr == nil {
		if err := WriteFileSynced(confPath, conf); err != nil {
			return fmt.Errorf("restore raft conf after loading the snapshot: %w", err)
		}
	}
	return nil
}

// Attach starts syncing the log goraft opened in Init. Init may have
// created the log and snapshot/: their directory entries are made durable
// first.
func (d *Dir) Attach(srv raft.Server) error {
	if err := SyncDir(d.path); err != nil {
		return err
	}
	s, err := newSyncer(srv.LogPath())
	if err != nil {
		return err
	}
	if d.syncTimed != nil {
		s.timed = d.syncTimed
	}
	d.syncer = s
	return nil
}

// TimeSyncs makes Sync tell timed how long each fsync of the log took
// (the node's fsync histogram). Call it before Attach.
func (d *Dir) TimeSyncs(timed func(time.Duration)) { d.syncTimed = timed }

// ConfWritten makes durable the conf file goraft has just replaced, which
// it renames into place without fsyncing the directory: call it after every
// AddPeer, RemovePeer and FlushCommitIndex. A conf lost to a power cut
// takes back the commit index a restart replays up to, and with it the
// joins: a founder could then restart believing it is alone, and lead.
func (d *Dir) ConfWritten() error { return SyncDir(d.path) }

// Sync returns once everything goraft wrote to the log before the call is
// on disk. An error is final: the node can no longer promise durability.
func (d *Dir) Sync() error { return d.syncer.sync() }

// Syncs is how many syncs of the log Sync has started.
func (d *Dir) Syncs() uint64 {
	d.syncer.mu.Lock()
	defer d.syncer.mu.Unlock()
	return d.syncer.started
}

// Append hands an AppendEntriesRequest from a leader to goraft.
func (d *Dir) Append(srv raft.Server, req *raft.AppendEntriesRequest) *raft.AppendEntriesResponse {
	return d.positions.append(srv, req)
}

// InstallSnapshot hands a leader's SnapshotRecoveryRequest to goraft,
// unless the node holds everything the snapshot does (see positions).
// goraft rewrites conf and snapshot/ without fsyncing either directory; no
// answer leaves before both are durable. The state files the snapshot
// replaced, and those received for it or before it, are removed.
func (d *Dir) InstallSnapshot(srv raft.Server, req *raft.SnapshotRecoveryRequest) (*raft.SnapshotRecoveryResponse, error) {
	resp, installed := d.positions.installSnapshot(srv, req)
	if resp == nil {
		return nil, nil
	}
	if installed {
		if err := SyncDir(filepath.Join(d.path, "snapshot")); err != nil {
			return nil, err
		}
		if err := d.ConfWritten(); err != nil {
			return nil, err
		}
	}
	d.snapshotAnswered(req.State)
	return resp, nil
}

// Pending reports whether an entry past the commit index holds the command
// named name.
func (d *Dir) Pending(srv raft.Server, name string) bool {
	return d.positions.pending(srv, name)
}

// LogStart is the index before the log's first entry: a peer that holds
// less must be sent a snapshot.
func LogStart(srv raft.Server) uint64 {
	if first := firstIndex(srv); first > 0 {
		return first - 1
	}
	return srv.CommitIndex()
}

// ErrSnapshotLost is a compaction that went ahead although the snapshot
// before it was not saved: the data directory can no longer be restarted
// from, and goraft will take no further snapshot.
var ErrSnapshotLost = errors.New("raft compacted its log but the snapshot before it was not saved")

// TakeSnapshot saves the state machine and compacts the log behind it,
// and removes the state files the snapshot replaced. Appends from a leader
// go on meanwhile (see positions). It fails with ErrSnapshotLost when
// goraft compacted without a saved snapshot, which a node must treat as a
// failed disk.
func (d *Dir) TakeSnapshot(srv raft.Server) error {
	var compactedThrough uint64
	err := d.positions.snapshot(srv, func() error {
		if err := removeStaleCompaction(d.path); err != nil {
			return err
		}
		err := srv.TakeSnapshot()
		if first := firstIndex(srv); first > 1 {
			compactedThrough = first - 1
		}
		return err
	})
	if err != nil {
		err = fmt.Errorf("take snapshot: %w", err)
	} else {
		err = d.snapshotSaved(compactedThrough)
	}
	// Only once goraft's snapshot is durable may the state it replaced go.
	d.snapshotTaken(err == nil)
	return err
}

// snapshotSaved checks that goraft saved the snapshot its compaction went
// past, and makes it durable: goraft writes the snapshot file without
// making its directory entry durable.
func (d *Dir) snapshotSaved(compactedThrough uint64) error {
	snapDir := filepath.Join(d.path, "snapshot")
	if compactedThrough > 0 {
		if newest, err := newestSnapshotIndex(snapDir); err != nil || newest < compactedThrough {
			return fmt.Errorf("%w: the log starts after index %d, the newest snapshot in %s ends at %d (%v)", ErrSnapshotLost, compactedThrough, snapDir, newest, err)
		}
	}
	return SyncDir(snapDir)
}

// newestSnapshotIndex is the largest index among the sound snapshots in
// dir.
func newestSnapshotIndex(dir string) (uint64, error) {
	names, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("read snapshot dir: %w", err)
	}
	var newest uint64
	for _, de := range names {
		sf, ok := parseSnapshotName(de.Name())
		if !ok || sf.index <= newest {
			continue
		}
		if err := checkSnapshot(filepath.Join(dir, sf.name)); err != nil {
			log.Printf("snapshot %s is unusable: %v", sf.name, err)
			continue
		}
		newest = sf.index
	}
	return newest, nil
}

// Close stops syncing the log. goraft must be stopped first.
func (d *Dir) Close() error {
	if d.syncer == nil {
		return nil
	}
	return d.syncer.close()
}
