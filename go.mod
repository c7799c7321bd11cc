module github.com/etcd-recreation/etcd

go 1.26

require (
	code.google.com/p/goprotobuf v0.0.0-00010101000000-000000000000
	github.com/anishathalye/porcupine v1.3.1
	github.com/chromedp/cdproto v0.159.0
	github.com/chromedp/chromedp v0.23.0
	github.com/goraft/raft v0.0.0-20150509002813-0061b6c82526
	github.com/gorilla/mux v1.8.1
)

require (
	code.google.com/p/gogoprotobuf v0.0.0-00010101000000-000000000000 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
)

// goraft imports its protobuf packages by their old code.google.com paths,
// which no longer resolve; these point them at the same code's current homes.
// `go mod tidy` fails on those packages' own test imports: use `go mod tidy -e`.
replace code.google.com/p/gogoprotobuf => github.com/gogo/protobuf v1.3.1

replace code.google.com/p/goprotobuf => github.com/golang/protobuf v1.3.5
