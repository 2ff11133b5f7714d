package proto

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/myftp/myftp/lib/checksum"
)

// Version is the protocol version this package speaks, announced in the greeting.
const Version = 1

// Operations (the "op" field of a request).
const (
	OpLogin    = "login"
	OpPwd      = "pwd"
	OpCd       = "cd"
	OpList     = "list"
	OpStat     = "stat"
	OpMkdir    = "mkdir"
	OpRmdir    = "rmdir"
	OpRm       = "rm"
	OpRename   = "rename"
	OpQuota    = "quota"
	OpPartials = "partials"
	OpSum      = "sum"
	OpPut      = "put"
	OpDone     = "done"
	OpGet      = "get"
	OpNoop     = "noop"
	OpHelp     = "help"
	OpQuit     = "quit"
)

// Request is the header of a 'Q' frame. Which fields an operation uses is in PROTOCOL.md and in
// Validate; unused fields are omitted on the wire and ignored when received.
type Request struct {
	Op       string `json:"op"`
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	Path     string `json:"path,omitempty"`
	To       string `json:"to,omitempty"`
	// Long asks list for sizes, modes and times.
	Long bool `json:"long,omitempty"`
	// Parents makes mkdir create missing parents and accept an existing directory.
	Parents bool `json:"parents,omitempty"`
	// Partial makes rm remove the unfinished upload of path, not the file.
	Partial bool `json:"partial,omitempty"`
	// Size is the full size of the file a put sends.
	Size int64 `json:"size,omitempty"`
	// Mtime is the source's modification time (put), used to tell whether a partial upload is
	// still from the same source.
	Mtime time.Time `json:"mtime,omitzero"`
	// Resume lets put continue a partial upload; without it a put starts at byte 0.
	Resume bool `json:"resume,omitempty"`
	// Checksum is the algorithm that verifies a put or a get ("blake3", "sha256", "md5"; absent:
	// md5), one of those the greeting offers; for sum, the one asked for.
	Checksum string `json:"checksum,omitempty"`
	// Offset is where a get should start; PrefixSum (hex) is the checksum of the first Offset
	// bytes the client already has. PrefixMD5 is the same for md5, as clients before checksum
	// send it.
	Offset    int64  `json:"offset,omitempty"`
	PrefixSum string `json:"prefix_sum,omitempty"`
	PrefixMD5 string `json:"prefix_md5,omitempty"`
	// Sum (hex) is the checksum of the whole file, sent with done; MD5 the same for md5, as
	// clients before checksum send it.
	Sum string `json:"sum,omitempty"`
	MD5 string `json:"md5,omitempty"`
}

// Digest returns the whole file's checksum a done carries (Sum, else MD5).
func (r Request) Digest() string {
	if r.Sum != "" {
		return r.Sum
	}
	return r.MD5
}

// Prefix returns the prefix checksum a get carries (PrefixSum, else PrefixMD5).
func (r Request) Prefix() string {
	if r.PrefixSum != "" {
		return r.PrefixSum
	}
	return r.PrefixMD5
}

// Algorithm returns the checksum algorithm of a put or get: Checksum, else md5.
func (r Request) Algorithm() string {
	if r.Checksum != "" {
		return r.Checksum
	}
	return "md5"
}

// String renders the request for logs, never including the password.
func (r Request) String() string {
	if r.Password != "" {
		r.Password = "*"
	}
	b, _ := json.Marshal(r)
	return string(b)
}

// DecodeRequest parses a request payload. It fails with ErrMalformed (fatal for the connection)
// when the payload is not a JSON object with a string "op"; it does not check the operation, see
// Validate.
func DecodeRequest(payload []byte) (Request, error) {
	var r Request
	if err := strictJSON(payload, &r); err != nil {
		return r, fmt.Errorf("%w: request: %w", ErrMalformed, err)
	}
	if r.Op == "" {
		return r, fmt.Errorf("%w: request without \"op\"", ErrMalformed)
	}
	return r, nil
}

// strictJSON decodes one JSON object into v (json.Unmarshal refuses anything after it), matching
// field names exactly, at every depth (the entry of a stat reply too). encoding/json matches keys
// regardless of case, so an unknown field "PATH" would be taken for "path"; every field of the
// protocol is lower-case ASCII, so a key with an upper-case or non-ASCII letter is unknown, and is
// dropped first. A payload whose keys have no such letters (the usual case) is decoded in one pass.
func strictJSON(payload []byte, v any) error {
	if !foldableKey(payload) {
		return json.Unmarshal(payload, v)
	}
	var raw json.RawMessage
	if err := json.Unmarshal(payload, &raw); err != nil { // one value, nothing after it
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // re-encoded as written: no int64 through a float64
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return err
	}
	exact, err := json.Marshal(dropFoldable(tree))
	if err != nil {
		return err
	}
	return json.Unmarshal(exact, v)
}

// dropFoldable removes, at every depth of a decoded JSON value, the object keys that hold a
// letter encoding/json folds (hasFoldable).
func dropFoldable(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if hasFoldable([]byte(k)) {
				delete(v, k)
				continue
			}
			v[k] = dropFoldable(e)
		}
	case []any:
		for i, e := range v {
			v[i] = dropFoldable(e)
		}
	}
	return v
}

// foldableKey reports whether a key of an object in the JSON value b, at any depth, may hold a
// letter that encoding/json folds (hasFoldable). It only scans, skipping string values; it does
// not validate: malformed input is json.Unmarshal's to refuse.
func foldableKey(b []byte) bool {
	var inObject []bool // for each open container: is it an object
	key := false
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			inObject = append(inObject, b[i] == '{')
			key = b[i] == '{'
		case '}', ']':
			if len(inObject) > 0 {
				inObject = inObject[:len(inObject)-1]
			}
			key = false
		case ',':
			key = len(inObject) > 0 && inObject[len(inObject)-1]
		case '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			if key && hasFoldable(b[i+1:min(j, len(b))]) {
				return true
			}
			key, i = false, j
		}
	}
	return false
}

// hasFoldable reports whether b may hold a letter that encoding/json folds onto a lower-case ASCII
// one: an upper-case ASCII letter, a non-ASCII byte (a long s folds onto "s"), or a
// backslash (an escape such as \u0050 for "P").
func hasFoldable(b []byte) bool {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' || c >= 0x80 || c == '\\' {
			return true
		}
	}
	return false
}

// Errors from Validate: the request is understood but wrong; the session goes on.
var (
	ErrUnknownOp = fmt.Errorf("proto: unknown operation")
	ErrBadArgs   = fmt.Errorf("proto: bad arguments")
)

// MaxPathLen bounds every path in a request, in bytes.
const MaxPathLen = 4096

// Validate checks that the operation exists and has the fields it needs.
func (r Request) Validate() error {
	need, ok := required[r.Op]
	if !ok {
		return fmt.Errorf("%w %.64q", ErrUnknownOp, r.Op) // at most 64 characters of it
	}
	if len(r.Path) > MaxPathLen || len(r.To) > MaxPathLen {
		return fmt.Errorf("%w: path longer than %d bytes", ErrBadArgs, MaxPathLen)
	}
	for _, f := range need {
		if msg := f(r); msg != "" {
			return fmt.Errorf("%w: %s: %s", ErrBadArgs, r.Op, msg)
		}
	}
	if r.Size < 0 || r.Offset < 0 {
		return fmt.Errorf("%w: %s: negative size or offset", ErrBadArgs, r.Op)
	}
	return nil
}

type check func(Request) string

var (
	needPath   check = func(r Request) string { return missing(r.Path == "", "path") }
	needTo     check = func(r Request) string { return missing(r.To == "", "to") }
	needUser   check = func(r Request) string { return missing(r.User == "", "user") }
	needDigest check = func(r Request) string {
		return missing(!isHex(r.Digest()) || r.MD5 != "" && !isMD5(r.MD5), "sum (hex digits), or md5 (32 hex digits)")
	}
	needPrefix check = func(r Request) string {
		return missing(r.Offset > 0 && !isHex(r.Prefix()), "prefix_sum (hex digits) with offset")
	}
	knownAlgo check = func(r Request) string {
		if r.Checksum == "" || slices.Contains(checksum.Transfer(), r.Checksum) {
			return ""
		}
		return fmt.Sprintf("unknown checksum %.32q: want one of %s", r.Checksum, strings.Join(checksum.Transfer(), ", "))
	}
)

// required lists, per operation, the checks of its fields. It is also the list of operations.
var required = map[string][]check{
	OpLogin: {needUser}, OpPwd: nil, OpCd: nil, OpList: nil, OpStat: {needPath},
	OpMkdir: {needPath}, OpRmdir: {needPath}, OpRm: {needPath}, OpRename: {needPath, needTo},
	OpQuota: nil, OpPartials: nil, OpPut: {needPath, knownAlgo}, OpDone: {needDigest}, OpGet: {needPath, needPrefix, knownAlgo},
	OpSum:  {needPath, knownAlgo},
	OpNoop: nil, OpHelp: nil, OpQuit: nil,
}

func missing(bad bool, what string) string {
	if bad {
		return "missing or invalid " + what
	}
	return ""
}

func isMD5(s string) bool { return len(s) == 32 && isHex(s) }

// isHex reports whether s is lowercase hex digits, an even number of them, at most 128 (a 512-bit
// digest).
func isHex(s string) bool {
	if len(s) == 0 || len(s)%2 != 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Reply is the header of an 'R' frame. Code says what happened (see the status codes); Msg says it
// in words; the other fields carry the results of the operation, omitted when empty.
type Reply struct {
	Code int    `json:"code"`
	Msg  string `json:"msg,omitempty"`
	// Reason says, in a 421, why the server closes the session when a client should act on it
	// (ReasonAccountGone); absent otherwise. A client treats a value it does not know as absent.
	Reason string `json:"reason,omitempty"`

	// Greeting.
	Version   int    `json:"version,omitempty"`
	Server    string `json:"server,omitempty"`
	TLS       bool   `json:"tls,omitempty"`
	MaxHeader int    `json:"max_header,omitempty"`
	MaxData   int    `json:"max_data,omitempty"`
	// Checksums are the algorithms the server verifies transfers with, best first; absent: md5.
	Checksums []string `json:"checksums,omitempty"`

	// Login, pwd, cd, mkdir, stat.
	User string `json:"user,omitempty"`
	Path string `json:"path,omitempty"`
	// Stat and get: a file's entry.
	Entry *Entry `json:"entry,omitempty"`

	// Quota: bytes, and entries (files, directories, links; an unfinished upload counts two).
	Used     int64 `json:"used,omitempty"`
	Quota    int64 `json:"quota,omitempty"`
	Free     int64 `json:"free,omitempty"`
	Files    int64 `json:"files,omitempty"`
	MaxFiles int64 `json:"max_files,omitempty"`

	// Transfers.
	Size   int64     `json:"size,omitempty"`
	Mtime  time.Time `json:"mtime,omitzero"`
	Offset int64     `json:"offset,omitempty"`
	// Checksum names the algorithm of PrefixSum and Sum; PrefixMD5 and MD5 carry the same digests
	// when it is md5, for clients before checksum.
	Checksum  string `json:"checksum,omitempty"`
	PrefixSum string `json:"prefix_sum,omitempty"`
	Sum       string `json:"sum,omitempty"`
	PrefixMD5 string `json:"prefix_md5,omitempty"`
	MD5       string `json:"md5,omitempty"`
	// Restart says why a transfer starts at 0 although the client asked to resume.
	Restart string `json:"restart,omitempty"`

	// List and partials: the number of entries sent.
	Count int64 `json:"count,omitempty"`
	// Help: the operations the server knows.
	Commands []string `json:"commands,omitempty"`
}

// Reasons a 421 reply may give (Reply.Reason).
const (
	// ReasonAccountGone: the account was deleted or disabled (or deleted and made anew) since the
	// session logged in. Logging in again with the same password will not work: a client ends
	// the session instead of reconnecting.
	ReasonAccountGone = "account_gone"
)

// DecodeReply parses a reply payload.
func DecodeReply(payload []byte) (Reply, error) {
	var r Reply
	if err := strictJSON(payload, &r); err != nil {
		return r, fmt.Errorf("%w: reply: %w", ErrMalformed, err)
	}
	if r.Code < 100 || r.Code > 599 {
		return r, fmt.Errorf("%w: reply code %d", ErrMalformed, r.Code)
	}
	return r, nil
}

// Err returns nil for a positive reply (code below 400), else a *ReplyError.
func (r Reply) Err() error {
	if r.Code < 400 {
		return nil
	}
	return &ReplyError{Code: r.Code, Msg: r.Msg}
}

// ReplyError is a negative reply received from the peer.
type ReplyError struct {
	Code int
	Msg  string
}

func (e *ReplyError) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Msg) }

// Entry is one file or directory in a listing, a stat reply or a get reply.
type Entry struct {
	Name string `json:"name"`
	// Type is "f" (file), "d" (directory), "l" (symbolic link) or "o" (other).
	Type  string    `json:"type"`
	Size  int64     `json:"size"`
	Mode  string    `json:"mode,omitempty"` // like ls -l: "drwxr-xr-x"
	Mtime time.Time `json:"mtime,omitzero"`
}

// Entry types.
const (
	EntryFile  = "f"
	EntryDir   = "d"
	EntryLink  = "l"
	EntryOther = "o"
)

// DecodeEntry parses one line of a listing.
func DecodeEntry(line []byte) (Entry, error) {
	var e Entry
	if err := strictJSON(line, &e); err != nil {
		return e, fmt.Errorf("%w: entry: %w", ErrMalformed, err)
	}
	if e.Name == "" || len(e.Type) != 1 {
		return e, fmt.Errorf("%w: entry without name or type", ErrMalformed)
	}
	return e, nil
}

// Partial is one unfinished upload in the data of a partials reply.
type Partial struct {
	// Path is the file it is for, from the home: "/docs/big.iso".
	Path string `json:"path"`
	// Size is the number of bytes the server holds.
	Size int64 `json:"size"`
	// Total is the size the upload declared; absent (0) when it declared none (FTP, SFTP).
	Total int64 `json:"total,omitempty"`
	// Mtime is when it last grew.
	Mtime time.Time `json:"mtime,omitzero"`
}

// DecodePartial parses one line of a partials reply.
func DecodePartial(line []byte) (Partial, error) {
	var p Partial
	if err := strictJSON(line, &p); err != nil {
		return p, fmt.Errorf("%w: partial: %w", ErrMalformed, err)
	}
	if p.Path == "" {
		return p, fmt.Errorf("%w: partial without path", ErrMalformed)
	}
	return p, nil
}
