"""The embedded local cluster: a real API server, controller manager and scheduler on etcd,
kwok as the node, a node agent that runs the pods as a kubelet would (a network namespace
each), a load balancer, and Envoy Gateway's real controller (see docs/local-cluster.md)."""
