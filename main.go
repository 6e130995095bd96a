// Command kore_exporter exports Kore.ai XO Platform task containment reports
// as Prometheus metrics.
package main

import "os"

func main() { os.Exit(run()) }

func run() int { return 0 }
