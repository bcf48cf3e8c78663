package packaging

import (
	"encoding/json"
	"testing"

	"sigs.k8s.io/yaml"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// samples returns the objects of config/samples and its cert-manager extra.
func samples(t *testing.T) (main, certManager []map[string]any) {
	t.Helper()
	for _, o := range kustomizeBuild(t, "config/samples") {
		main = append(main, o.Object)
	}
	for _, o := range kustomizeBuild(t, "config/samples/cert-manager") {
		certManager = append(certManager, o.Object)
	}
	return main, certManager
}

// TestSamplesAreFTPServers decodes every sample strictly into the Go type (no unknown or misspelt field) and
// checks that what a sample refers to is in the samples: the users' Secret keys and the TLS Secret.
func TestSamplesAreFTPServers(t *testing.T) {
	objs, cm := samples(t)
	secrets := map[string]map[string]any{}
	var servers []ftpv1.FTPServer
	for _, o := range objs {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		switch o["kind"] {
		case "Secret":
			md := o["metadata"].(map[string]any)
			data, _ := o["stringData"].(map[string]any)
			secrets[md["name"].(string)] = data
		case "FTPServer":
			var srv ftpv1.FTPServer
			if err := yaml.UnmarshalStrict(b, &srv); err != nil {
				t.Errorf("sample is not a valid FTPServer: %v\n%s", err, b)
				continue
			}
			if srv.APIVersion != ftpv1.GroupVersion.String() {
				t.Errorf("%s: apiVersion %s", srv.Name, srv.APIVersion)
			}
			servers = append(servers, srv)
		default:
			t.Errorf("unexpected %v in config/samples", o["kind"])
		}
	}
	types := map[string]bool{}
	tls := 0
	for _, srv := range servers {
		types[string(srv.Spec.Service.Type)] = true
		for _, u := range srv.Spec.Users {
			key := u.PasswordSecretRef.Key
			if key == "" {
				key = "password" // the CRD default
			}
			if _, ok := secrets[u.PasswordSecretRef.Name][key]; !ok {
				t.Errorf("%s: user %s needs Secret %s key %s, not in the samples", srv.Name, u.Name, u.PasswordSecretRef.Name, key)
			}
		}
		if srv.Spec.TLS != nil {
			tls++
			var issued bool
			for _, o := range cm {
				if o["kind"] == "Certificate" && o["spec"].(map[string]any)["secretName"] == srv.Spec.TLS.SecretRef.Name {
					issued = true
				}
			}
			if !issued {
				t.Errorf("%s: no cert-manager Certificate in config/samples/cert-manager issues Secret %s", srv.Name, srv.Spec.TLS.SecretRef.Name)
			}
		}
	}
	if !types["LoadBalancer"] || !types["NodePort"] || tls == 0 {
		t.Errorf("samples should show a LoadBalancer, a NodePort and an FTPS server; have types %v, %d with TLS", types, tls)
	}
}
