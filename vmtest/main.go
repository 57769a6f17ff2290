package main

import (
	"fmt"
	"os"
)

func main() {
	if handled, err := guestMain(os.Args); handled {
		if err != nil {
			fmt.Fprintln(os.Stderr, "vmtest-guest:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(hostMain(os.Args[1:]))
}
