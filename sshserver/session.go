package sshserver

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

const helpText = `surveybox over SSH: run one command per connection.

  status                 the box's status (JSON)
  export [--after SEQ]   observations with sequence numbers after SEQ
                         (default 0: all), one JSON object per line
  help                   this text

There is no shell. Example: ssh box export --after 1200 > new.jsonl
`

const noShellText = "surveybox: there is no shell here.\n\n" + helpText

// Exit statuses, as a shell would use them.
const (
	exitOK       = 0
	exitFailed   = 1
	exitUsage    = 2
	exitNotFound = 127
)

const statusTimeout = 30 * time.Second

// session serves one "session" channel: refuses everything but a single
// "exec", runs it, sends its exit status and closes the channel.
func (s *server) session(ctx context.Context, ch ssh.Channel, reqs <-chan *ssh.Request, who []any) {
	defer ch.Close()
	for req := range reqs {
		switch req.Type {
		case "exec":
			var p struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &p); err != nil {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			cctx, cancel := context.WithCancel(ctx)
			go func() {
				// Later requests (signals, window changes) are refused;
				// the channel's end (client gone) ends the command.
				for r := range reqs {
					if r.WantReply {
						r.Reply(false, nil)
					}
				}
				cancel()
			}()
			code := s.exec(cctx, ch, p.Command, who)
			cancel()
			ch.CloseWrite()
			ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{code}))
			return
		case "shell":
			// No shell. Accept the request only to say so and end with
			// exit status 1 (as GitHub does): OpenSSH drops stderr that
			// arrives with a refused request, leaving only "shell
			// request failed on channel 0".
			req.Reply(true, nil)
			// Plain newlines: the pty request was refused, so the
			// client's terminal stays in cooked mode.
			io.WriteString(ch.Stderr(), noShellText)
			s.log.Info("ssh: refused shell", who...)
			ch.CloseWrite()
			ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{exitFailed}))
			return
		default:
			// pty-req, env, subsystem (sftp), x11-req,
			// auth-agent-req@openssh.com, ...: not offered.
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	}
}

// countWriter counts bytes and remembers the first write error, which
// means the client is gone.
type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil {
		c.err = err
	}
	return n, err
}

// exec runs one command line and returns its exit status.
func (s *server) exec(ctx context.Context, ch ssh.Channel, line string, who []any) uint32 {
	start := time.Now()
	args := strings.Fields(line)
	name := ""
	if len(args) > 0 {
		name = args[0]
	}
	out := &countWriter{w: ch}
	errOut := ch.Stderr()
	code, err := s.run(ctx, out, errOut, args)
	attrs := append(who, "cmd", name, "exit", code, "bytes", out.n, "took", time.Since(start).Round(time.Millisecond))
	switch {
	case out.err != nil || (err != nil && ctx.Err() != nil):
		s.log.Info("ssh: command cut short: client went away", attrs...)
	case err != nil:
		fmt.Fprintf(errOut, "surveybox: %s: %v\n", name, err)
		s.log.Warn("ssh: command failed", append(attrs, "err", err)...)
	default:
		s.log.Info("ssh: command", attrs...)
	}
	return code
}

// run dispatches args; a non-nil error is printed to stderr by exec.
func (s *server) run(ctx context.Context, out *countWriter, errOut io.Writer, args []string) (uint32, error) {
	if len(args) == 0 {
		fmt.Fprint(errOut, "surveybox: no command given\n\n"+helpText)
		return exitUsage, nil
	}
	switch args[0] {
	case "help", "-h", "--help":
		io.WriteString(out, helpText)
		return exitOK, nil

	case "status":
		if len(args) > 1 {
			fmt.Fprintf(errOut, "surveybox: status takes no arguments\n")
			return exitUsage, nil
		}
		sctx, cancel := context.WithTimeout(ctx, statusTimeout)
		defer cancel()
		b, err := s.cfg.Status(sctx)
		if err != nil {
			return exitFailed, err
		}
		if len(b) == 0 || b[len(b)-1] != '\n' {
			b = append(b, '\n')
		}
		if _, err := out.Write(b); err != nil {
			return exitFailed, err
		}
		return exitOK, nil

	case "export":
		fs := flag.NewFlagSet("export", flag.ContinueOnError)
		fs.SetOutput(errOut)
		after := fs.Uint64("after", 0, "export observations with sequence numbers after `SEQ`")
		fs.Usage = func() { fmt.Fprint(errOut, "usage: export [--after SEQ]\n") }
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitOK, nil
			}
			return exitUsage, nil
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(errOut, "surveybox: export: unexpected argument %q\nusage: export [--after SEQ]\n", fs.Arg(0))
			return exitUsage, nil
		}
		bw := bufio.NewWriterSize(out, 64<<10)
		if err := s.cfg.Export(ctx, bw, *after); err != nil {
			bw.Flush() // what was exported is valid; the error says it is incomplete
			return exitFailed, err
		}
		if err := bw.Flush(); err != nil {
			return exitFailed, err
		}
		return exitOK, nil

	default:
		fmt.Fprintf(errOut, "surveybox: unknown command %q (commands: status, export [--after SEQ], help)\n", args[0])
		return exitNotFound, nil
	}
}
