"""Stand-ins for what cannot run on this machine: containers (echo backends, gRPC backends, a
vLLM model server), hosts outside it (a JWKS server), and pulumi-tls's provider (certificate
material). Never the server a proof is about: Envoy, the API server and Envoy Gateway's
controller are always the real ones."""
