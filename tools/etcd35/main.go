// Command etcd35 is etcd v3.5 built from the module proxy, so that `make
// bench` can measure this project against today's etcd in the same run on
// the same machine. It is its own module: the product's go.mod never
// depends on etcd v3.5, and `go test ./...` from the repository root does
// not descend here.
//
// The server module's own replace directives stop `go install
// go.etcd.io/etcd/server/v3@v3.5.x` from working, hence this wrapper.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
