//go:build !race

package ftpd

// raceEnabled: the race detector makes stack frames and heap objects larger, so memory targets do not apply.
const raceEnabled = false
