// Package kubernetes holds the Kubernetes manifests of Lakestream (a
// kustomize base and overlays, see README.md) and the tests that check them:
// every manifest decodes strictly into the k8s.io/api types, Services and
// the pods' flags agree on names and ports, shard maps match the
// StatefulSets, and probes point at endpoints the real binaries serve. The
// image recipe is in the image subfolder. There is no Go API here.
package kubernetes
