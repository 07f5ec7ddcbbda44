//go:build !linux

package stripetest

import "syscall"

// procAttr: only Linux can tie a child's life to its parent's; elsewhere
// call Stop from TestMain.
func procAttr() *syscall.SysProcAttr { return nil }

const lockThread = false
