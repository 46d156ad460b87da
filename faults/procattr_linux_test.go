package faults

import "syscall"

// childAttr kills a subprocess when the test binary dies first.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
