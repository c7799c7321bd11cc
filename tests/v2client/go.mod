module github.com/etcd-recreation/etcd/tests/v2client

go 1.26.0

require (
	github.com/etcd-recreation/etcd v0.0.0-00010101000000-000000000000
	go.etcd.io/etcd/client/v2 v2.305.17
)

require (
	github.com/coreos/go-semver v0.3.0 // indirect
	github.com/json-iterator/go v1.1.11 // indirect
	github.com/modern-go/concurrent v0.0.0-20180306012644-bacd9c7ef1dd // indirect
	github.com/modern-go/reflect2 v1.0.1 // indirect
	go.etcd.io/etcd/api/v3 v3.5.17 // indirect
	go.etcd.io/etcd/client/pkg/v3 v3.5.17 // indirect
)

// The suite uses the repository's internal/testnode helpers (ports,
// processes) at the version in this checkout.
replace github.com/etcd-recreation/etcd => ../..
