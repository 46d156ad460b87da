//go:build unix

package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// lockCluster holds a lock on the cluster until the test ends: shared, or
// exclusive (alone). It is a file lock (flock) in ZooKeeper's control
// directory, so it holds across the test processes of every package.
func lockCluster(t testing.TB, c Cluster, alone bool) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(c.ZooKeeper.Dir, "tests.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("cluster lock: %v", err)
	}
	how := syscall.LOCK_SH
	if alone {
		how = syscall.LOCK_EX
	}
	deadline := time.Now().Add(15 * time.Minute)
	for {
		err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			t.Fatalf("cluster lock (alone=%t): %v", alone, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(func() { _ = f.Close() }) // closing the file releases the lock
}
