// Package deploy holds what runs Airlock outside a checkout: the container
// image (Dockerfile) and the Helm chart (helm/airlock). It has no code; its
// tests lint the Dockerfile, render the chart with the real helm binary and
// load the rendered airlock.yaml with the gateway's own config loader, and
// check the Kubernetes service-account token setup of docs/kubernetes.md.
package deploy
