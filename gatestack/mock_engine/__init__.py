"""The project's program run under the Pulumi SDK's mock engine: every object it declares,
without a cluster (`gatestack render`, the offline proof, the differential test)."""
