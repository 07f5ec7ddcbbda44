package stripetest

import "syscall"

// procAttr makes the kernel kill stripe-mock when the test binary dies, so
// a package without a TestMain calling Stop leaks no process. Pdeathsig
// fires when the thread that started the child exits, which is why the
// child is started from a goroutine locked to its thread for good.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

const lockThread = true
