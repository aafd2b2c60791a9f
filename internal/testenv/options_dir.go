package testenv

// WithDir puts the processes' logs and working directories in dir (created
// if missing) instead of a temporary directory, and keeps it after Stop, so
// a long-lived local cluster leaves its logs where its user looks for them.
// The caller empties dir beforehand if it wants a fresh start.
func WithDir(dir string) Option { return func(o *options) { o.dir = dir } }
