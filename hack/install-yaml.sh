#!/usr/bin/env bash
# Renders config/default as one install.yaml (CRD, RBAC, Deployment) with the manager and FTP server image set to
# IMAGE: hack/install-yaml.sh KUSTOMIZE IMAGE > install.yaml
set -euo pipefail
kustomize=$1 image=$2
repo=${image%:*} tag=${image##*:}
if [[ $image != *:* || $tag == */* ]]; then
	echo "install-yaml.sh: image $image has no tag" >&2
	exit 1
fi
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "$root/.install-yaml.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat > "$work/kustomization.yaml" <<YAML
resources:
  - ../config/default
images:
  - name: localhost/ftp-operator
    newName: $repo
    newTag: $tag
# The FTP server pods run the manager's image (config/default copied the old name before the images transformer).
replacements:
  - source:
      kind: Deployment
      name: ftp-operator-controller-manager
      fieldPath: spec.template.spec.containers.[name=manager].image
    targets:
      - select:
          kind: Deployment
          name: ftp-operator-controller-manager
        fieldPaths:
          - spec.template.spec.containers.[name=manager].env.[name=FTPD_IMAGE].value
YAML
"$kustomize" build "$work"
