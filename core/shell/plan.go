package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

// fileJob is one file of a transfer command.
type fileJob struct {
	local  string // the local file: the source of an upload, the target of a download
	remote string // the remote path, as the server is asked for it
	name   string // the file as messages name it: the name matched, or the path in the tree
	size   int64  // the size of the source
	// dest is what the destination holds at the file's path when a walk of it found out already;
	// nil: to be asked.
	dest *destEntry
}

// destEntry is what a transfer's destination holds at a file's path.
type destEntry struct {
	kind byte // 0: nothing; 'f' a file; 'd' a directory; 'x' something else (errInWay)
	size int64
}

func (j fileJob) item() client.Item { return client.Item{Local: j.local, Remote: j.remote} }

// sifted is a transfer command's files, sorted out before anything moves.
type sifted struct {
	todo    []fileJob   // to transfer
	same    []sameFile  // the destination has the same file already: skipped
	refused []failedJob // not transferred, and why
}

// sameFile is a file that need not travel, with the checksum that shows it.
type sameFile struct {
	job fileJob
	sum string
}

// failedJob is a file that could not be transferred.
type failedJob struct {
	job fileJob
	err error
}

// ErrClobber is the refusal to replace a local file with a different one (lftp's xfer:clobber
// off): get -f replaces it.
var ErrClobber = errors.New("a different local file is in the way; -f replaces it")

// sift looks at what the destination holds at each file's path. A file of the same size is
// compared by checksum, in the algorithm c negotiated: the server's comes from the sum operation
// (which answers from its record of the file without reading it, when it has one), the local
// one from reading the local file. The same file is skipped. A different local file is replaced
// only if replace is set (get -f, mirror), else refused with ErrClobber; a remote one is replaced
// (the server publishes an upload atomically). A directory in the way is refused.
func (s *session) sift(ctx context.Context, c *client.Client, dir string, jobs []fileJob, replace bool) (sifted, error) {
	var out sifted
	if err := s.lookUp(c, dir, jobs); err != nil {
		return out, err
	}
	var alike []int // same size on both sides
	for i, j := range jobs {
		if j.dest.kind == 'f' && j.dest.size == j.size {
			alike = append(alike, i)
		}
	}
	sums, err := s.compare(ctx, c, jobs, alike)
	if err != nil {
		return out, err
	}
	same := make(map[int]string, len(alike))
	for k, i := range alike {
		if sums[k] != "" {
			same[i] = sums[k]
		}
	}
	for i, j := range jobs {
		sum, ok := same[i]
		switch {
		case ok:
			out.same = append(out.same, sameFile{j, sum})
		case j.dest.kind == 'd':
			out.refused = append(out.refused, failedJob{j, isDirHere(dir)})
		case j.dest.kind == 'x':
			out.refused = append(out.refused, failedJob{j, errInWay})
		case j.dest.kind == 'f' && dir == download && !replace:
			out.refused = append(out.refused, failedJob{j, ErrClobber})
		default:
			out.todo = append(out.todo, j)
		}
	}
	return out, nil
}

// errInWay refuses a local path that holds something a download must not replace or go
// through: a device, a pipe, or a symbolic link that a walk does not follow.
var errInWay = errors.New("in the way: not a regular file, or a symbolic link that is not followed")

// Directories in the way of a file.
var (
	errDirOnServer = errors.New("a directory of that name is on the server")
	errDirHere     = errors.New("a local directory of that name is in the way")
)

func isDirHere(dir string) error {
	if dir == upload {
		return errDirOnServer
	}
	return errDirHere
}

// lookUp fills in the dest of the jobs that lack it: a stat of each remote path (pipelined) for
// an upload, of each local one for a download.
func (s *session) lookUp(c *client.Client, dir string, jobs []fileJob) error {
	var ask []int
	for i := range jobs {
		if jobs[i].dest != nil {
			continue
		}
		if dir == download {
			jobs[i].dest = localDest(jobs[i].local)
			continue
		}
		ask = append(ask, i)
	}
	if len(ask) == 0 {
		return nil
	}
	paths := make([]string, len(ask))
	for k, i := range ask {
		paths[k] = jobs[i].remote
	}
	return c.StatMany(paths, func(k int, e proto.Entry, err error) {
		d := &destEntry{}
		switch {
		case err != nil: // no such file, or one the server will refuse to replace: put says why
		case e.Type == proto.EntryFile:
			d.kind, d.size = 'f', e.Size
		case e.Type == proto.EntryDir:
			d.kind = 'd'
		}
		jobs[ask[k]].dest = d
	})
}

// localDest says what is at a local path, following symbolic links.
func localDest(p string) *destEntry {
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return &destEntry{}
	case fi.IsDir():
		return &destEntry{kind: 'd'}
	case fi.Mode().IsRegular():
		return &destEntry{kind: 'f', size: fi.Size()}
	}
	return &destEntry{kind: 'x'}
}

// compare returns, for each job of which, the checksum both sides have, or "" where they differ
// or it could not be found out (the file is then transferred, or refused as a different one).
func (s *session) compare(ctx context.Context, c *client.Client, jobs []fileJob, which []int) ([]string, error) {
	if len(which) == 0 {
		return nil, nil
	}
	paths := make([]string, len(which))
	for k, i := range which {
		paths[k] = jobs[i].remote
	}
	remote := make([]string, len(which))
	err := c.SumMany(paths, func(k int, sum string, err error) {
		if err == nil {
			remote[k] = sum
		}
	})
	if err != nil {
		return nil, err
	}
	algo := c.Checksum()
	for k, i := range which {
		if remote[k] == "" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		local, err := fileSum(jobs[i].local, algo)
		if err != nil || local != remote[k] {
			remote[k] = ""
		}
	}
	return remote, nil
}

// fileSum returns the checksum of a local file in algo, as lowercase hex.
func fileSum(name, algo string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := checksum.NewDigest(algo)
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// sameLine is the line that reports a file skipped because the destination has it already.
func sameLine(f sameFile, algo string) string {
	return fmt.Sprintf("File [%s] skipped: already identical (%s, %s %s)", visible(f.job.name), bytesize.Format(f.job.size), algo, f.sum)
}

// notExist reports whether err says that a remote path does not exist.
func notExist(err error) bool {
	var re *proto.ReplyError
	return errors.As(err, &re) && re.Code == proto.CodeUnavailFile || errors.Is(err, fs.ErrNotExist)
}
