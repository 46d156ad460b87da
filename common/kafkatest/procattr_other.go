//go:build !linux

package kafkatest

import "syscall"

// sysProcAttr: no parent-death signal outside Linux; t.Cleanup kills the JVMs.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
