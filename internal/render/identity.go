package render

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// The engine's identity is one per namespace: a ServiceAccount, a Role and a RoleBinding, all named
// EngineIdentityName, shared by the pods of every FTPServer of the namespace. The Role lets them read the address
// ConfigMaps of the namespace's FTPServers and patch their health ConfigMaps, by name, and nothing else
// (docs/security.md weighs this against one identity per server).
const (
	EngineIdentityName = "ftp-operator-ftpd"
	// ComponentLabel marks the objects of the engine identity; with ManagedByLabel it is how the operator knows
	// them as its own, as they have no owner: they outlive any one FTPServer.
	ComponentLabel          = "app.kubernetes.io/component"
	EngineIdentityComponent = "engine-identity"
)

// EngineSAName is the ServiceAccount that srv's pods run as: the namespace's engine identity.
func EngineSAName(*ftpv1.FTPServer) string { return EngineIdentityName }

// IsEngineIdentity reports whether obj is one of the operator's engine identity objects.
func IsEngineIdentity(obj metav1.Object) bool {
	l := obj.GetLabels()
	return obj.GetName() == EngineIdentityName && l[ManagedByLabel] == ManagedBy && l[ComponentLabel] == EngineIdentityComponent
}

func identityMeta(namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: EngineIdentityName, Namespace: namespace, Labels: map[string]string{
		NameLabel: AppName, ManagedByLabel: ManagedBy, ComponentLabel: EngineIdentityComponent,
	}}
}

// EngineServiceAccount is the identity of the engine pods of namespace.
func EngineServiceAccount(namespace string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: identityMeta(namespace),
	}
}

// EngineRole lets the engine pods of namespace read the ConfigMaps named configMaps (the address ConfigMaps of
// the namespace's FTPServers, ConfigMapName), so that each follows the address the operator writes there live, and
// patch the ConfigMaps named healthConfigMaps (the health ConfigMaps, HealthConfigMapName, of the servers that have
// one), where each publishes its storage health; nothing else. They can write no ConfigMap that carries an
// address, and cannot read an FTPServer: status.address is writable by anyone who may write ftpservers/status, the
// address ConfigMaps only by the operator (and namespace admins). A rule is left out when it would name no
// ConfigMap: RBAC reads an empty resourceNames as every name.
func EngineRole(namespace string, configMaps, healthConfigMaps []string) *rbacv1.Role {
	var rules []rbacv1.PolicyRule
	if len(configMaps) > 0 {
		rules = append(rules, rbacv1.PolicyRule{
			APIGroups:     []string{""},
			Resources:     []string{"configmaps"},
			ResourceNames: configMaps,
			Verbs:         []string{"get", "list", "watch"},
		})
	}
	if len(healthConfigMaps) > 0 {
		rules = append(rules, rbacv1.PolicyRule{
			APIGroups:     []string{""},
			Resources:     []string{"configmaps"},
			ResourceNames: healthConfigMaps,
			Verbs:         []string{"patch"},
		})
	}
	return &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: identityMeta(namespace),
		Rules:      rules,
	}
}

// EngineRoleBinding binds EngineRole to EngineServiceAccount, in namespace only.
func EngineRoleBinding(namespace string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: identityMeta(namespace),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: EngineIdentityName},
		Subjects: []rbacv1.Subject{{
			Kind: rbacv1.ServiceAccountKind, Name: EngineIdentityName, Namespace: namespace,
		}},
	}
}
