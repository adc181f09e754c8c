// Command cleanroom is the clean room's only executable: the server (serve), a ready-made demo
// (demo), operator tasks (admin) and, later, the client-side tools. main only runs the CLI; the
// wiring lives in Main so tests can run it end to end.
package main

import (
	"os"
)

func main() {
	os.Exit(Execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
