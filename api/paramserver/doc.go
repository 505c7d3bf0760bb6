// Package paramserverpb is the generated Go code of the parameter-server
// shard API (paramserver.proto). Regenerate it with api/generate.sh. Use it
// through package paramserver, whose Server and Client speak it.
package paramserverpb

//go:generate ../generate.sh
