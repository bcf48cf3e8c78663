package controllers

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// maxNamedUserProblems bounds how many duplicates or bad lines the UsersAccepted message names; the rest are
// counted.
const maxNamedUserProblems = 5

// userSources reads the users of spec.usersFrom from their Secrets. Like the password Secrets, they are read from
// the API server (the manager caches Secrets as metadata only). A Secret or key that is missing gives no users:
// missingSecrets reports it in WorkloadReady. Lines that do not parse are returned as messages for UsersAccepted.
func (r *FTPServerReconciler) userSources(ctx context.Context, srv *ftpv1.FTPServer) ([]render.UserSource, []string, error) {
	var (
		sources []render.UserSource
		invalid []string
	)
	for _, from := range srv.Spec.UsersFrom {
		src := render.UserSource{From: from}
		var s corev1.Secret
		err := r.Get(ctx, types.NamespacedName{Namespace: srv.Namespace, Name: from.SecretRef.Name}, &s)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, nil, fmt.Errorf("reading Secret %s of usersFrom: %w", from.SecretRef.Name, err)
		default:
			var bad []*ftpd.UserListError
			src.Users, bad = ftpd.ParseUserList(s.Data[from.KeyOrDefault()])
			for _, e := range bad {
				invalid = append(invalid, fmt.Sprintf("%s %v", src, e))
			}
		}
		sources = append(sources, src)
	}
	return sources, invalid, nil
}

// reportUsers sets UsersAccepted while spec.usersFrom is set: the users left out because an earlier source defines
// them, and the lines that do not parse.
func reportUsers(srv *ftpv1.FTPServer, from []render.UserSource, invalid []string) {
	if len(srv.Spec.UsersFrom) == 0 {
		meta.RemoveStatusCondition(&srv.Status.Conditions, ftpv1.ConditionUsersAccepted)
		return
	}
	merged, dups := render.UsersFromList(srv, from)
	var problems []string
	for _, d := range dups {
		problems = append(problems, fmt.Sprintf("user %q of %s is already defined by %s, which wins", d.Name, d.Dropped, d.Kept))
	}
	problems = append(problems, invalid...)
	if len(problems) == 0 {
		setCondition(srv, ftpv1.ConditionUsersAccepted, true, ftpv1.ReasonAllUsersAccepted,
			"%d users from usersFrom, beside %d in spec.users", len(merged), len(srv.Spec.Users))
		return
	}
	reason := ftpv1.ReasonInvalidUsers
	if len(dups) > 0 {
		reason = ftpv1.ReasonDuplicateUsers
	}
	more := ""
	if n := len(problems) - maxNamedUserProblems; n > 0 {
		problems, more = problems[:maxNamedUserProblems], fmt.Sprintf("; and %d more", n)
	}
	setCondition(srv, ftpv1.ConditionUsersAccepted, false, reason,
		"%d users from usersFrom served, %d left out (%d duplicates, %d lines that do not parse): %s%s",
		len(merged), len(dups)+len(invalid), len(dups), len(invalid), strings.Join(problems, "; "), more)
}
