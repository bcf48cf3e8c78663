package ftpd

import "github.com/ftp-operator/ftp-operator/internal/portrange"

// PortRange is the range of passive ports a Server listens on, and the ports it advertises for them (see
// portrange.Range: a load balancer or NAT may map AdvertisedStart+i to Start+i). It is the same type the operator's
// allocator hands out.
type PortRange = portrange.Range
