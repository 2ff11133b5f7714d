package pgdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/homefs"
)

// hold is a path of a home.
type hold struct{ home, path string }

var _ homefs.Holder = (*Quotas)(nil)

// Hold claims path of home for an upload on this node (homefs.Holder): one statement that takes
// the path if it is free, this node's already, or held by a node whose lease has expired (a node
// that died: its upload is over), and fails with an error wrapping homefs.ErrBusy while another
// node holds it.
func (q *Quotas) Hold(ctx context.Context, home, path string) error {
	if err := q.leased(); err != nil {
		return fmt.Errorf("%w: %w", account.ErrUnavailable, err)
	}
	token := newToken()
	var node string
	err := q.db.callCtx(ctx, func(ctx context.Context) error {
		return q.db.pool.QueryRow(ctx, `INSERT INTO upload_holds (home, path, node, token) VALUES ($1, $2, $3, $4)
			ON CONFLICT (home, path) DO UPDATE SET node = EXCLUDED.node, token = EXCLUDED.token
			WHERE upload_holds.node = EXCLUDED.node
				OR (SELECT expires FROM quota_nodes WHERE node = upload_holds.node) < now()
			RETURNING node`, home, path, q.node, token).Scan(&node)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%s of %s: uploaded through another node: %w", path, home, homefs.ErrBusy)
	case err != nil:
		return q.db.fail("hold "+path+" of "+home, err)
	}
	q.mu.Lock()
	q.tokens[hold{home, path}] = token
	q.mu.Unlock()
	return nil
}

// newToken returns a token for a hold.
func newToken() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Release gives path of home back (homefs.Holder): the hold this node's last Hold of it took, and
// no other. If the database does not answer, the release is tried again at each renewal of the
// lease; a newer hold of the path is safe from it (another token).
func (q *Quotas) Release(ctx context.Context, home, path string) {
	h := hold{home, path}
	q.mu.Lock()
	token, ok := q.tokens[h]
	delete(q.tokens, h)
	q.mu.Unlock()
	if !ok {
		return
	}
	if err := q.release(ctx, h, token); err != nil {
		q.mu.Lock()
		q.unreleased[heldToken{h, token}] = struct{}{}
		q.mu.Unlock()
		q.log.Warn("upload hold not released; tried again with the lease", "home", home, "path", path, "err", err)
	}
}

// heldToken is one hold taken: its path and its token.
type heldToken struct {
	hold
	token string
}

func (q *Quotas) release(ctx context.Context, h hold, token string) error {
	return q.db.callCtx(ctx, func(ctx context.Context) error {
		_, err := q.db.pool.Exec(ctx, `DELETE FROM upload_holds WHERE home = $1 AND path = $2 AND node = $3 AND token = $4`,
			h.home, h.path, q.node, token)
		return err
	})
}

// releaseLeft tries again the releases that failed.
func (q *Quotas) releaseLeft(ctx context.Context) {
	q.mu.Lock()
	left := make([]heldToken, 0, len(q.unreleased))
	for h := range q.unreleased {
		left = append(left, h)
	}
	q.mu.Unlock()
	for _, h := range left {
		if q.release(ctx, h.hold, h.token) != nil {
			return
		}
		q.mu.Lock()
		delete(q.unreleased, h)
		q.mu.Unlock()
	}
}
