package addressfollow

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
)

// HealthFieldManager is the field manager of the engine's writes to its health ConfigMap.
const HealthFieldManager = "ftpd"

// Publisher writes one pod's storage health into the health ConfigMap of its FTPServer
// (engineconfig.HealthConfigMapName, key engineconfig.StorageHealthKey(pod)), by a JSON merge patch of that key
// alone: the engine's Role lets it patch the health ConfigMaps, which the operator owns and which a patch cannot
// create, and not the address ConfigMap it follows. It needs no read of it.
type Publisher struct {
	client *Client
	target engineconfig.FollowTarget
	pod    string
}

// NewPublisher returns a Publisher for pod of the FTPServer target.
func NewPublisher(c *Client, target engineconfig.FollowTarget, pod string) *Publisher {
	return &Publisher{client: c, target: target, pod: pod}
}

// Publish sets the pod's key to value (engineconfig.StorageHealthy or "REASON: message").
func (p *Publisher) Publish(ctx context.Context, value string) error {
	return p.patch(ctx, &value)
}

// Withdraw removes the pod's key (the pod stops).
func (p *Publisher) Withdraw(ctx context.Context) error {
	return p.patch(ctx, nil)
}

func (p *Publisher) patch(ctx context.Context, value *string) error {
	body, err := json.Marshal(map[string]any{"data": map[string]*string{engineconfig.StorageHealthKey(p.pod): value}})
	if err != nil {
		return err
	}
	name := p.target.HealthConfigMapName()
	u := p.client.Host + "/api/v1/namespaces/" + url.PathEscape(p.target.Namespace) + "/configmaps/" + url.PathEscape(name) +
		"?" + url.Values{"fieldManager": {HealthFieldManager}}.Encode()
	resp, err := p.client.do(ctx, http.MethodPatch, u, "application/merge-patch+json", body, 30*time.Second)
	if err != nil {
		return fmt.Errorf("publishing the storage health of pod %s in ConfigMap %s/%s: %w", p.pod, p.target.Namespace, name, err)
	}
	return resp.Body.Close()
}
