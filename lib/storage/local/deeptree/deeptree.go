// Package deeptree makes, for tests, directory trees deeper than PATH_MAX, as an administrator's
// tools could and users cannot: each level made and opened relative to the one above. It builds
// on Unix only; elsewhere it is empty.
package deeptree
