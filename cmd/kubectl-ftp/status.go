package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// Address sources, as `kubectl ftp status` names them.
const (
	SourcePublicAddress = "spec.publicAddress"
	SourceLoadBalancer  = "load-balancer ingress"
	SourceNode          = "node"
	SourceClusterIP     = "cluster IP"
	SourceNone          = "none yet"
)

// serverStatus is one row of `kubectl ftp status`.
type serverStatus struct {
	Namespace     string            `json:"namespace"`
	Name          string            `json:"name"`
	Endpoint      string            `json:"endpoint"`
	PassivePorts  string            `json:"passivePorts"`
	Address       string            `json:"address"`
	AddressSource string            `json:"addressSource"`
	Ready         string            `json:"ready"`
	Reason        string            `json:"reason,omitempty"`
	Message       string            `json:"message,omitempty"`
	Conditions    []conditionStatus `json:"conditions,omitempty"`
}

// conditionStatus is a condition other than Ready.
type conditionStatus struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// addressSource says where status.address came from, derived the way the operator chooses it: spec.publicAddress
// first, then by the Service's type. svc may be nil when it cannot be read; then spec.service.type decides.
func addressSource(srv *ftpv1.FTPServer, svc *corev1.Service) string {
	switch {
	case srv.Status.Address == "":
		return SourceNone
	case srv.Spec.PublicAddress != "":
		return SourcePublicAddress
	}
	typ := srv.Spec.Service.Type
	if svc != nil {
		typ = svc.Spec.Type
	}
	switch typ {
	case corev1.ServiceTypeNodePort:
		return SourceNode
	case corev1.ServiceTypeClusterIP:
		return SourceClusterIP
	}
	return SourceLoadBalancer
}

// newServerStatus builds the row of srv.
func newServerStatus(srv *ftpv1.FTPServer, svc *corev1.Service) serverStatus {
	s := serverStatus{
		Namespace: srv.Namespace, Name: srv.Name, Endpoint: srv.Status.Endpoint, Address: srv.Status.Address,
		PassivePorts: srv.Status.PassivePortRange, AddressSource: addressSource(srv, svc), Ready: "Unknown",
	}
	if s.PassivePorts == "" && srv.Status.PassivePorts != nil {
		s.PassivePorts = srv.Status.PassivePorts.String()
	}
	if c := meta.FindStatusCondition(srv.Status.Conditions, ftpv1.ConditionReady); c != nil {
		s.Ready, s.Reason, s.Message = string(c.Status), c.Reason, c.Message
	}
	for _, c := range srv.Status.Conditions {
		if c.Type == ftpv1.ConditionReady {
			continue
		}
		s.Conditions = append(s.Conditions, conditionStatus{Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message})
	}
	sort.Slice(s.Conditions, func(i, j int) bool { return s.Conditions[i].Type < s.Conditions[j].Type })
	return s
}

// collectStatus reads the named server, or every server of the namespace when name is empty, and their Services.
func collectStatus(ctx context.Context, c client.Client, ns, name string) ([]serverStatus, error) {
	var servers []ftpv1.FTPServer
	if name != "" {
		var srv ftpv1.FTPServer
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &srv); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("FTPServer %s not found in namespace %s", name, ns)
			}
			return nil, fmt.Errorf("reading FTPServer %s/%s: %w", ns, name, err)
		}
		servers = append(servers, srv)
	} else {
		var list ftpv1.FTPServerList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return nil, fmt.Errorf("listing FTPServers in %s: %w", ns, err)
		}
		servers = list.Items
	}
	out := make([]serverStatus, 0, len(servers))
	for i := range servers {
		srv := &servers[i]
		var svc corev1.Service
		svcp := &svc
		// The Service only refines the address source; a caller who may not read Services still gets a row.
		if err := c.Get(ctx, client.ObjectKey{Namespace: srv.Namespace, Name: render.ServiceName(srv)}, &svc); err != nil {
			svcp = nil
		}
		out = append(out, newServerStatus(srv, svcp))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// printStatusTable writes one table: a row per server, the conditions other than Ready in the last column.
func printStatusTable(w io.Writer, rows []serverStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tENDPOINT\tPASSIVE PORTS\tADDRESS\tSOURCE\tREADY\tREASON\tMESSAGE\tCONDITIONS")
	for _, r := range rows {
		var conds []string
		for _, c := range r.Conditions {
			s := c.Type + "=" + c.Status
			if c.Status != "True" && c.Reason != "" {
				s += "(" + c.Reason + ")"
			}
			conds = append(conds, s)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, dash(r.Endpoint), dash(r.PassivePorts),
			dash(r.Address), r.AddressSource, r.Ready, dash(r.Reason), dash(oneLine(r.Message)), dash(strings.Join(conds, ",")))
	}
	return tw.Flush()
}

func printStatusJSON(w io.Writer, rows []serverStatus) error {
	if rows == nil {
		rows = []serverStatus{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a table cell on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
