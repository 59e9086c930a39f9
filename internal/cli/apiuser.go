package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/wwboot/wwboot/internal/api"
	"github.com/wwboot/wwboot/internal/naming"
)

func (a *app) configureAPIUser() *cobra.Command {
	var remove bool
	cmd := &cobra.Command{
		Use:   "api-user NAME",
		Short: "Set (or --remove) a user of the REST API in auth.conf",
		Long: `Set the password of a REST API user in <sysconfdir>/warewulf/auth.conf, adding
the user if new; the file keeps only a bcrypt hash. The password is read from
the terminal without echo (asked twice), or as the first line of standard
input. The daemon picks up the change on the next request.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !naming.Node.Valid(name) {
				return fmt.Errorf("user name %q is not valid (letters, digits, '.', '_', '-')", name)
			}
			path := a.site.AuthConf()
			if remove {
				err := api.UpdateUsers(cmd.Context(), path, func(u *api.Users) error {
					if !u.Remove(name) {
						return fmt.Errorf("%s has no user %q", path, name)
					}
					return nil
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out(), "Removed API user %s from %s\n", name, path)
				return nil
			}
			password, err := a.readPassword()
			if err != nil {
				return err
			}
			hash, err := api.HashPassword(password)
			if err != nil {
				return err
			}
			err = api.UpdateUsers(cmd.Context(), path, func(u *api.Users) error {
				u.Set(name, hash)
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out(), "Set the password of API user %s in %s\n", name, path)
			return nil
		},
	}
	cmd.Flags().BoolVar(&remove, "remove", false, "Remove the user")
	return cmd
}

// readPassword reads a password: from a terminal without echo, twice; from
// anything else, the first line.
func (a *app) readPassword() ([]byte, error) {
	f, ok := a.env.Stdin.(*os.File)
	var term *unix.Termios
	if ok {
		// IoctlGetTermios returns a zero Termios with its error: only a
		// nil error says stdin is a terminal (a pipe or a file is not).
		if t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			term = t
		}
	}
	if term == nil {
		line, err := a.stdin.ReadString('\n')
		if err != nil && line == "" {
			return nil, errors.New("no password on standard input")
		}
		return checkPassword(strings.TrimRight(line, "\r\n"))
	}
	fd := int(f.Fd())
	quiet := *term
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return nil, fmt.Errorf("turn off echo: %w", err)
	}
	defer func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, term) }()
	var answers [2]string
	for i, prompt := range []string{"Password: ", "Password again: "} {
		fmt.Fprint(a.env.Stderr, prompt)
		line, err := a.stdin.ReadString('\n')
		fmt.Fprintln(a.env.Stderr)
		if err != nil && line == "" {
			return nil, errors.New("no password given")
		}
		answers[i] = strings.TrimRight(line, "\r\n")
	}
	if answers[0] != answers[1] {
		return nil, errors.New("the passwords differ, nothing changed")
	}
	return checkPassword(answers[0])
}

func checkPassword(p string) ([]byte, error) {
	switch {
	case p == "":
		return nil, errors.New("the password is empty, nothing changed")
	case len(p) > 72:
		// bcrypt uses only the first 72 bytes.
		return nil, errors.New("the password is longer than 72 bytes, which bcrypt cannot use")
	}
	return []byte(p), nil
}
