package main

// dh-drive stop | get-task | watch-task: the gateway's other calls, as dh-drive lines.
//
//	dh-drive stop --task T [--stop-mode finish|interrupt]
//	    {"event": "stopped", "drive_id": ..., "played_ms": ..., "interrupted": ...}
//	dh-drive get-task --task T [--refresh]
//	    {"event": "task", <TaskInfo fields>}
//	dh-drive watch-task --task T
//	    such a line now and at each change, until the task ended (exit 0)
//
// Fields by their proto names, int64 as strings, enums by name, as for the drive's events; a
// failed call prints the error line and exits 1. Each takes --task, --profile, --json and the
// connection flags (connection.go) as the drive command does.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/dh-gateway/dh-gateway/clients/go/dhgateway"
)

// commandArgs are the flags of the other calls.
type commandArgs struct {
	task, profile, stopMode string
	refresh, json           bool
	conn                    dhgateway.Connection // from the connection flags, else DHGW_*
}

// command is one subcommand: its own flags beyond the common ones, and its call.
type command struct {
	summary string
	flags   func(*flag.FlagSet, *commandArgs)
	call    func(context.Context, *dhgateway.Client, *commandArgs, *printer) error
}

var commands = map[string]command{
	"stop": {
		summary: "End the task's active drive (StopDrive).",
		flags: func(fs *flag.FlagSet, a *commandArgs) {
			fs.StringVar(&a.stopMode, "stop-mode", "finish", "finish (play what was sent) or interrupt (silent now)")
		},
		call: stop,
	},
	"get-task": {
		summary: "How the task is (GetTask).",
		flags: func(fs *flag.FlagSet, a *commandArgs) {
			fs.BoolVar(&a.refresh, "refresh", false, "ask the vendor now")
		},
		call: getTask,
	},
	"watch-task": {
		summary: "The task now and at each change (WatchTask).",
		flags:   func(*flag.FlagSet, *commandArgs) {},
		call:    watchTask,
	},
}

// parseCommand reads a subcommand's flags; nil after an error (or --help) was shown.
func parseCommand(name string, c command, argv []string, stderr io.Writer) (*commandArgs, int) {
	var a commandArgs
	var connection connectionFlags
	fs := flag.NewFlagSet("dh-drive "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: dh-drive %s [flags]\n%s\n", name, c.summary)
		fs.PrintDefaults()
	}
	fs.StringVar(&a.task, "task", "", "the vendor's stream task id (required)")
	fs.StringVar(&a.profile, "profile", "", "the credentials profile")
	fs.BoolVar(&a.json, "json", false, "one JSON object per line")
	connection.register(fs)
	c.flags(fs, &a)
	if err := fs.Parse(argv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, 0
		}
		return nil, 2
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var problem string
	var err error
	switch {
	case a.task == "":
		problem = "--task is required"
	case fs.NArg() > 0:
		problem = "unexpected arguments: " + strings.Join(fs.Args(), " ")
	case name == "stop" && a.stopMode != "finish" && a.stopMode != "interrupt":
		problem = "--stop-mode: invalid choice " + a.stopMode
	default:
		if a.conn, err = connection.connection(given); err != nil {
			problem = err.Error()
		}
	}
	if problem != "" {
		fmt.Fprintf(stderr, "dh-drive %s: error: %s\n", name, problem)
		fs.Usage()
		return nil, 2
	}
	return &a, 0
}

// runCommand runs subcommand name with its arguments; returns the exit status.
func runCommand(name string, c command, argv []string, stdout, stderr io.Writer) int {
	a, status := parseCommand(name, c, argv, stderr)
	if a == nil {
		return status
	}
	conn, status := dial(a.conn, "dh-drive "+name, stderr)
	if conn == nil {
		return status
	}
	defer conn.Close()
	ctx := context.Background()
	out := &printer{w: stdout, json: a.json}
	if err := c.call(ctx, dhgateway.NewClient(conn), a, out); err != nil {
		e, _ := dhgateway.FromError(err)
		out.error(e)
		return 1
	}
	return 0
}

func stop(ctx context.Context, client *dhgateway.Client, a *commandArgs, out *printer) error {
	mode, _ := dhgateway.ParseStopMode(strings.ToUpper(a.stopMode))
	response, err := client.Stop(ctx, a.task, a.profile, mode)
	if err != nil {
		return err
	}
	out.line("stopped", [][2]any{
		{"drive_id", response.GetDriveId()},
		{"played_ms", strconv.FormatInt(response.GetPlayedMs(), 10)}, // int64 as a string, as protojson
		{"interrupted", response.GetInterrupted()},
	}, nil)
	return nil
}

func getTask(ctx context.Context, client *dhgateway.Client, a *commandArgs, out *printer) error {
	info, err := client.GetTask(ctx, a.task, a.profile, a.refresh)
	if err != nil {
		return err
	}
	out.message("task", nil, info.ProtoReflect())
	return nil
}

func watchTask(ctx context.Context, client *dhgateway.Client, a *commandArgs, out *printer) error {
	watch, err := client.WatchTask(ctx, a.task, a.profile)
	if err != nil {
		return err
	}
	for {
		info, err := watch.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		out.message("task", nil, info.ProtoReflect())
	}
}
