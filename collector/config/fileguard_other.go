//go:build !unix

package config

import "io/fs"

// devIno returns zeros: the system has no inodes to compare.
func devIno(fs.FileInfo) (dev, ino uint64) { return 0, 0 }
