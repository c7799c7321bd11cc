package raftdisk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// clusterFile holds the identity of the cluster the node belongs to, as
// text (raftguard.Identity's): its members refuse the messages of any
// other. It is written once, when the node founds or joins a cluster.
const clusterFile = "cluster_id"

// ReadClusterID is the cluster identity kept in the data directory, ""
// when none is.
func (d *Dir) ReadClusterID() (string, error) {
	b, err := os.ReadFile(filepath.Join(d.path, clusterFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the cluster identity: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// WriteClusterID keeps id durably as the cluster identity.
func (d *Dir) WriteClusterID(id string) error {
	return WriteFileSynced(filepath.Join(d.path, clusterFile), []byte(id+"\n"))
}
