// Command pause is the local cluster's pod sandbox image: it holds a pod's namespaces and sleeps until it is told
// to stop (SIGTERM or SIGINT), like registry.k8s.io/pause, which this machine cannot pull.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
