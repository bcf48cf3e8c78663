//go:build !unix

package ftpd

import "net"

func setOOBInline(net.Conn) {}
