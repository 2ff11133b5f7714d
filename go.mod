module github.com/myftp/myftp

go 1.26.0

require (
	github.com/BurntSushi/toml v1.6.0
	golang.org/x/crypto v0.58.0
)

require (
	github.com/gofrs/flock v0.13.2 // indirect
	golang.org/x/sys v0.49.0 // indirect
	gopkg.in/natefinch/lumberjack.v2 v2.2.1 // indirect
)
