"""The real Pulumi engine against the local cluster: the workspace a stack runs in, the
`pulumi` CLI driven as a user would, and what a deploy needs beforehand."""
