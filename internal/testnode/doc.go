// Package testnode is what the suites that run the etcd binary as a
// separate process share: the binary, built once; free ports; a running
// process that can be signalled, paused and killed; waiting until it
// serves; an HTTP client and response for talking to it; and the v1 API's
// wire types. It returns errors rather than failing tests, so that each
// suite keeps its own policy for retrying and reporting.
package testnode
