// Package account defines a myftp account: its record, the rules for account names and home
// directories, argon2id password hashing, and the SSH public keys that may log in as it.
package account

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// Account is one user of the server, stored as one JSON file by package db.
type Account struct {
	// ID is assigned once by the database and never reused, even after the account is deleted.
	ID int64 `json:"id"`
	// Name is the login name, already normalised by NormalizeName.
	Name string `json:"name"`
	// PasswordHash is an argon2id hash string made by HashPassword.
	PasswordHash string `json:"password_hash"`
	// Home is the home directory, relative to the upload directory, in slash form.
	Home string `json:"home"`
	// Quota is the most bytes the home may hold, counting unfinished uploads.
	Quota int64 `json:"quota"`
	// MaxFiles is the most files, directories and other entries the home may hold, each
	// unfinished upload counting two; 0 means the server's default_max_files.
	MaxFiles int64 `json:"max_files,omitempty"`
	// Created is when the account was made.
	Created time.Time `json:"created"`
	// Disabled accounts cannot log in; their open sessions end at their next command.
	Disabled bool `json:"disabled"`
	// Keys are the SSH public keys that may log in as the account (SFTP), besides its password.
	Keys []Key `json:"keys,omitempty"`
}

// Errors of the account databases (package db, files; package pgdb, PostgreSQL), wrapped with
// the account concerned.
var (
	ErrNotFound  = errors.New("account: no such account")
	ErrExists    = errors.New("account: account already exists")
	ErrHomeTaken = errors.New("account: home directory already used by another account")
	// ErrUnavailable is a database that cannot answer now (unreachable, timed out, shutting
	// down): the question may succeed later, and says nothing about the account.
	ErrUnavailable = errors.New("account: account database unavailable")
)

// Errors about names and homes; wrapped with the offending value.
var (
	ErrInvalidName = errors.New("account: invalid account name")
	ErrInvalidHome = errors.New("account: invalid home directory")
	ErrQuota       = errors.New("account: invalid quota")
)

// MaxNameLen is the longest account name.
const MaxNameLen = 32

// NormalizeName folds name to lower case and checks it: 1 to 32 characters of a-z, 0-9, '.', '_'
// and '-', starting with a letter or a digit.
func NormalizeName(name string) (string, error) {
	n := strings.ToLower(name)
	if n == "" || len(n) > MaxNameLen {
		return "", fmt.Errorf("%w %q: want 1 to %d characters", ErrInvalidName, name, MaxNameLen)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return "", fmt.Errorf("%w %q: must start with a letter or a digit", ErrInvalidName, name)
		}
		if !alnum && c != '.' && c != '_' && c != '-' {
			return "", fmt.Errorf("%w %q: only a-z, 0-9, '.', '_' and '-' are allowed", ErrInvalidName, name)
		}
	}
	return n, nil
}

// NormalizeHome checks a home directory given by an administrator and returns its clean slash
// form. It must be a relative path of names allowed for account names, without "..", and no part
// may start with a dot (dot names are kept for the server's own use).
func NormalizeHome(home string) (string, error) {
	h := strings.ReplaceAll(strings.TrimSpace(home), "\\", "/")
	if h == "" || strings.HasPrefix(h, "/") || len(h) > 255 {
		return "", fmt.Errorf("%w %q: want a relative path of at most 255 characters", ErrInvalidHome, home)
	}
	h = path.Clean(h)
	for _, part := range strings.Split(h, "/") {
		if part == ".." || part == "." || strings.HasPrefix(part, ".") {
			return "", fmt.Errorf("%w %q: no \"..\" and no names starting with a dot", ErrInvalidHome, home)
		}
		if _, err := NormalizeName(part); err != nil || part != strings.ToLower(part) {
			return "", fmt.Errorf("%w %q: use lower-case a-z, 0-9, '.', '_' and '-' in each part", ErrInvalidHome, home)
		}
	}
	return h, nil
}

// Normalize checks a new account as every account database does before storing it, and returns
// it in normal form: the name normalised, the home normalised (an empty home is the name), the
// quotas not negative, and a password hash given (else ErrEmptyPassword).
func Normalize(a Account) (Account, error) {
	var err error
	if a.Name, err = NormalizeName(a.Name); err != nil {
		return a, err
	}
	if a.Home == "" {
		a.Home = a.Name
	}
	if a.Home, err = NormalizeHome(a.Home); err != nil {
		return a, err
	}
	if err := CheckQuota(a.Quota); err != nil {
		return a, err
	}
	if err := CheckMaxFiles(a.MaxFiles); err != nil {
		return a, err
	}
	if a.PasswordHash == "" {
		return a, ErrEmptyPassword
	}
	return a, nil
}

// CheckQuota rejects a negative quota.
func CheckQuota(q int64) error {
	if q < 0 {
		return fmt.Errorf("%w %d: must not be negative", ErrQuota, q)
	}
	return nil
}

// CheckMaxFiles rejects a negative file count quota (0 is the server's default).
func CheckMaxFiles(n int64) error {
	if n < 0 {
		return fmt.Errorf("%w: file count %d: must not be negative", ErrQuota, n)
	}
	return nil
}
