package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/prompt"
)

// maxKeysFile is the most that key add reads: an authorized_keys file of thousands of keys. A
// bigger input is not one, and /dev/zero must not fill the memory.
const maxKeysFile = 1 << 20

// keyAdd is "key add NAME FILE": it adds the keys of FILE ("-": stdin) that the account does not
// have yet. If a line of FILE is refused, nothing is added.
func (a *app) keyAdd(ctx context.Context, o *options, args []string) error {
	e, err := a.loadEnv(ctx, o)
	if err != nil {
		return err
	}
	acct, err := e.get(args[0])
	if err != nil {
		return err
	}
	keys, err := a.readKeys(ctx, args[1])
	if err != nil {
		return err
	}
	var added, present []account.Key
	acct, err = e.update(acct.Name, func(ac *account.Account) { added, present = ac.AddKeys(keys) })
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	for _, k := range added {
		writeKey(tw, "added\t", k)
	}
	for _, k := range present {
		writeKey(tw, "present\t", k)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Account [%s]: %s added", acct.Name, count(len(added), "key"))
	if len(present) > 0 {
		fmt.Fprintf(a.stdout, ", %d already present and not added again", len(present))
	}
	fmt.Fprintf(a.stdout, "; %s in all\n", count(len(acct.Keys), "key"))
	a.noteDisabled(acct)
	return nil
}

// readKeys reads and parses the keys of file, "-" meaning stdin.
func (a *app) readKeys(ctx context.Context, file string) ([]account.Key, error) {
	name, data, err := a.readKeysFile(ctx, file)
	if err != nil {
		return nil, err
	}
	keys, err := account.ParseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %s; no key was added", name, message(err))
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no SSH public key found; want authorized_keys lines such as those of ~/.ssh/id_ed25519.pub", name)
	}
	return keys, nil
}

// readKeysFile returns the contents of file, or of stdin for "-", and the name to show for it.
func (a *app) readKeysFile(ctx context.Context, file string) (name string, data []byte, err error) {
	if file != "-" {
		s, err := readFileAtMost(file)
		return file, []byte(s), err
	}
	if a.con.terminal() {
		fmt.Fprintln(a.stdout, "Paste the public keys, one a line, then press Ctrl-D:")
	}
	s, err := prompt.Await(ctx, func() (string, error) { return readAtMost(a.con.in) })
	if err != nil && !errors.Is(err, context.Canceled) {
		err = fmt.Errorf("stdin: %w", err)
	}
	return "stdin", []byte(s), err
}

// readFileAtMost reads file, or fails with an error that names it.
func readFileAtMost(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s, err := readAtMost(f)
	if errors.Is(err, errTooBig) {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	return s, err // a *fs.PathError, which names the file
}

// readAtMost reads r to its end, failing if it holds more than maxKeysFile bytes.
func readAtMost(r io.Reader) (string, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxKeysFile+1))
	if err != nil {
		return "", err
	}
	if len(data) > maxKeysFile {
		return "", errTooBig
	}
	return string(data), nil
}

var errTooBig = fmt.Errorf("more than %d bytes: not an authorized_keys file", maxKeysFile)

// keyList is "key list NAME": one line for each key, with its type, fingerprint and comment.
func (a *app) keyList(ctx context.Context, o *options, args []string) error {
	e, err := a.loadEnv(ctx, o)
	if err != nil {
		return err
	}
	acct, err := e.get(args[0])
	if err != nil {
		return err
	}
	if len(acct.Keys) == 0 {
		fmt.Fprintf(a.stdout, "Account [%s] has no SSH keys\n", acct.Name)
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	for i, k := range acct.Keys {
		if _, err := k.PublicKey(); err != nil {
			a.noteBrokenKey(acct.Name, i, k, err)
		}
		writeKey(tw, "", k)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	a.noteDisabled(acct)
	return nil
}

// noteBrokenKey says that key i (from 0) of the account does not parse, and how to remove it.
func (a *app) noteBrokenKey(name string, i int, k account.Key, err error) {
	fix := "edit " + name + ".json to remove it"
	if fp := k.Fingerprint(); fp != "" {
		fix = fmt.Sprintf("'%s key remove %s %s' removes it", progName, name, fp)
	}
	fmt.Fprintf(a.stderr, "%s: note: key %d of account %q cannot log in: %s; %s\n", progName, i+1, name, message(err), fix)
}

// keyRemove is "key remove NAME FINGERPRINT".
func (a *app) keyRemove(ctx context.Context, o *options, args []string) error {
	e, err := a.loadEnv(ctx, o)
	if err != nil {
		return err
	}
	fp := args[1]
	if !strings.HasPrefix(fp, "SHA256:") {
		return fmt.Errorf("invalid fingerprint %s: want SHA256:..., as '%s key list %s' shows it", shown(fp), progName, args[0])
	}
	acct, err := e.get(args[0])
	if err != nil {
		return err
	}
	var removed account.Key
	acct, err = e.accounts.Update(acct.Name, func(ac *account.Account) error {
		var ok bool
		if removed, ok = ac.RemoveKey(fp); !ok {
			return errNoSuchKey
		}
		return nil
	})
	if errors.Is(err, errNoSuchKey) {
		return fmt.Errorf("account %q has no key %s; '%s key list %s' shows its keys", acct.Name, shown(fp), progName, acct.Name)
	}
	if err != nil {
		return notFound(err, acct.Name)
	}
	fmt.Fprintf(a.stdout, "Account [%s] key removed: %s\n", acct.Name, strings.TrimSpace(shown(removed.Type)+" "+removed.Fingerprint()+" "+shown(removed.Comment)))
	a.noteDisabled(acct)
	return nil
}

// errNoSuchKey stops the update of key remove.
var errNoSuchKey = errors.New("no such key")

// writeKey writes a table row: prefix (cells ending in tabs), then the key's type, fingerprint and
// comment. An empty comment leaves no trailing spaces.
func writeKey(w io.Writer, prefix string, k account.Key) {
	fp := k.Fingerprint()
	if fp == "" {
		fp = "(not base64)"
	}
	row := prefix + shown(k.Type) + "\t" + fp
	if k.Comment != "" {
		row += "\t" + shown(k.Comment)
	}
	fmt.Fprintln(w, row)
}

// shown returns s as it can be printed on a terminal: as it is if every character is graphic and
// not a quote or a backslash, else quoted with escapes, so that no comment can move the cursor,
// reorder the text or hide what it says.
func shown(s string) string {
	q := strconv.QuoteToGraphic(s)
	if q[1:len(q)-1] == s {
		return s
	}
	return q
}

// noteDisabled reminds that the keys of a disabled account cannot log in.
func (a *app) noteDisabled(acct account.Account) {
	if acct.Disabled {
		fmt.Fprintf(a.stderr, "%s: note: account %q is disabled: its keys cannot log in until '%s enable %s'\n",
			progName, acct.Name, progName, acct.Name)
	}
}
