module github.com/etcd-recreation/etcd

go 1.26.0

require (
	code.google.com/p/goprotobuf v0.0.0-00010101000000-000000000000
	github.com/anishathalye/porcupine v1.3.1
	github.com/chromedp/cdproto v0.159.0
	github.com/chromedp/chromedp v0.23.0
	github.com/goraft/raft v0.0.0-20150509002813-0061b6c82526
	github.com/gorilla/mux v1.8.1
	github.com/prometheus/client_golang v1.25.0
	github.com/prometheus/client_model v0.6.3
	github.com/prometheus/common v0.74.0
)

require (
	code.google.com/p/gogoprotobuf v0.0.0-00010101000000-000000000000 // indirect
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/pandatix/go-abnf v0.5.5 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// goraft imports its protobuf packages by their old code.google.com paths,
// which no longer resolve; these point them at the same code's current homes.
// `go mod tidy` fails on those packages' own test imports: use `go mod tidy -e`.
replace code.google.com/p/gogoprotobuf => github.com/gogo/protobuf v1.3.1

replace code.google.com/p/goprotobuf => github.com/golang/protobuf v1.3.5
