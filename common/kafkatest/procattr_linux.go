package kafkatest

import "syscall"

// sysProcAttr kills the JVM if the test process dies first, so a crashed
// or interrupted test run leaves no broker behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
