# Sourced by the hack/ scripts that build a tool from the Go module proxy (metallb.sh, seaweedfs.sh,
# envtest-assets.sh): one place for the throwaway module that pins the tool's dependencies.

# wrapper_module DIR NAME IMPORT [GO.MOD LINE...]
# Writes the module envtest.local/NAME in DIR (created): a go.mod with any extra lines given (require, replace)
# and a tools.go importing IMPORT, so `go mod tidy` keeps the tool's whole dependency graph.
wrapper_module() {
	local dir=$1 name=$2 import=$3
	shift 3
	mkdir -p "$dir"
	{
		printf 'module envtest.local/%s\n\ngo 1.26\n' "$name"
		local line
		for line in "$@"; do printf '\n%s' "$line"; done
		printf '\n'
	} >"$dir/go.mod"
	printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$import" >"$dir/tools.go"
}
