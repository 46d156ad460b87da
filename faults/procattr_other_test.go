//go:build !linux

package faults

import "syscall"

// childAttr: no parent-death signal outside Linux; t.Cleanup kills subprocesses.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
