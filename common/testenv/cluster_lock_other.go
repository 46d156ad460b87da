//go:build !unix

package testenv

import "testing"

// lockCluster: no file lock here; the cluster's tests run on Unix (the
// services of scripts/services.sh).
func lockCluster(testing.TB, Cluster, bool) {}
