"""What every `strata` command group shares: the exit-code table, errors, shared options, finding and calling daemons, output."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import grpc

from api.protocols import CHAIN_PROTOCOLS, protocol_name
from component_base.pki import CertificateError, Identity
from component_base.rpc import call_error
from component_base.tls import Tls, open_channel

# The exit codes, the same in every group (README, "CLI"):
EXIT_OK = 0
EXIT_FAILED = 1        # the request was valid but did not succeed: infeasible, gave up, timed out, refused otherwise
EXIT_BAD_INPUT = 2     # the request cannot be done as given: a bad option or file, an unknown name, a conflict
EXIT_UNREACHABLE = 3   # no answer: no stack described, the daemon not in it, not listening, or too slow
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT

# A daemon's gRPC status -> exit code. FAILED_PRECONDITION is bad input: the daemons use it for a
# request the current state refuses (terminate a VNF a chain still uses, outlier detection on a UDP
# service), which the person must change, not retry. Every status not listed is EXIT_FAILED.
STATUS_EXIT = {
    grpc.StatusCode.INVALID_ARGUMENT: EXIT_BAD_INPUT,
    grpc.StatusCode.NOT_FOUND: EXIT_BAD_INPUT,
    grpc.StatusCode.ALREADY_EXISTS: EXIT_BAD_INPUT,
    grpc.StatusCode.FAILED_PRECONDITION: EXIT_BAD_INPUT,
    grpc.StatusCode.UNAVAILABLE: EXIT_UNREACHABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: EXIT_UNREACHABLE,
}

STACK_FILE = Path("/run/strata/stack.json")  # the running stack, as `strata up` describes it
STACK_ENV = "STRATA_STACK"
CONNECT_TIMEOUT = 5.0  # seconds: fail in seconds, not at a call's long deadline, when nothing listens


def exit_code(status: grpc.StatusCode | None) -> int:
    """The exit code of a failed call's status."""
    return STATUS_EXIT.get(status, EXIT_FAILED)


class CommandError(Exception):
    """A command that cannot finish: its message goes to stderr, its exit code to the shell."""

    exit_code = EXIT_FAILED


class BadInput(CommandError):
    """The request cannot be done as given (exit 2)."""

    exit_code = EXIT_BAD_INPUT


class Unreachable(CommandError):
    """No daemon answers: no stack described, the daemon not in it, or nothing listening (exit 3)."""

    exit_code = EXIT_UNREACHABLE


class CallFailed(CommandError):
    """A daemon refused or failed a call; the exit code is its status's (STATUS_EXIT)."""

    def __init__(self, exc: grpc.RpcError, address: str):
        super().__init__(call_error(exc, address))
        self.exit_code = exit_code(exc.code())


def label(args: argparse.Namespace) -> str:
    """`strata GROUP ACTION [VERB]`, the prefix of a command's messages."""
    words = [getattr(args, dest, None) for dest in ("command", "action", "verb")]
    return " ".join(["strata", *(w for w in words if isinstance(w, str))])


def guarded(handler: Callable[[argparse.Namespace], int], *, bad_input: tuple[type[Exception], ...] = (),
            failed: tuple[type[Exception], ...] = ()) -> Callable[[argparse.Namespace], int]:
    """A group's handler whose errors become one line on stderr and the table's exit code.

    `bad_input` and `failed`: the group's own exception types that mean exit 2 and exit 1.
    """

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            if getattr(args, "output", "table") == "json" and not getattr(args, "json_output", False):
                raise BadInput("-o json: this action prints no JSON")
            return handler(args)
        except BrokenPipeError:  # an OSError, but not a bad input: output piped into `head`; main handles it
            raise
        except CommandError as exc:
            print(f"{label(args)}: {exc}", file=sys.stderr)
            return exc.exit_code
        except bad_input as exc:
            print(f"{label(args)}: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except failed as exc:
            print(f"{label(args)}: {exc}", file=sys.stderr)
            return EXIT_FAILED

    return run


# -- options a group takes before or after its action


class Option:
    """One option's flags and argparse settings, to add to several parsers."""

    def __init__(self, *flags: str, **settings):
        self.flags, self.settings = flags, settings

    def add(self, parser: argparse.ArgumentParser, *, after_action: bool) -> None:
        # argparse copies an action's defaults over what was parsed before the action, so after the
        # action the option has no default: a value given before the action survives
        settings = {**self.settings, "default": argparse.SUPPRESS} if after_action else self.settings
        parser.add_argument(*self.flags, **settings)


def stack_option() -> Option:
    """`--stack FILE`: where `strata up` described the running stack."""
    return Option("--stack", default=os.environ.get(STACK_ENV, str(STACK_FILE)), metavar="FILE",
                  help=f"the running stack's description (default: ${STACK_ENV} or {STACK_FILE})")


INSECURE = Option("--insecure", action="store_true",
                  help="plaintext gRPC, for a stack started with --insecure or a daemon serving without "
                       "certificates (default: mutual TLS with the certificate the stack's description names, "
                       "when it names one)")


def address_option(flag: str, what: str, default: str | None = None) -> Option:
    """`--DAEMON ADDR`: a daemon's gRPC address, instead of the stack's."""
    shown = default or "the stack's"
    return Option(flag, default=default, metavar="ADDR", help=f"{what}'s gRPC address (default: {shown})")


OUTPUT = Option("-o", "--output", choices=("table", "json"), default="table",
                help="a table (default) or JSON")


def group_options(group: argparse.ArgumentParser, *options: Option) -> argparse.ArgumentParser:
    """Add the options and `-o/--output` to a group's parser; return the parent parser that gives
    its actions the same options, so each is accepted before or after the action (`strata app
    --stack F ls`, `strata app ls --stack F`). An action that prints JSON takes `-o` after it too
    (json_output); one that does not refuses `-o json` given before it (guarded)."""
    after = argparse.ArgumentParser(add_help=False)
    for option in (*options, OUTPUT):
        option.add(group, after_action=False)
    for option in options:
        option.add(after, after_action=True)
    return after


def json_output() -> argparse.ArgumentParser:
    """The parent parser of an action that can print JSON (`-o json`)."""
    parent = argparse.ArgumentParser(add_help=False)
    OUTPUT.add(parent, after_action=True)
    parent.set_defaults(json_output=True)
    return parent


class IntermixedParser(argparse.ArgumentParser):
    """An action's parser that takes its options before, between or after its positionals, and
    everything after `--` as its last positional (`strata node run NODE IMAGE --name N -- sh -c ...`):
    plain argparse fills every positional at once and then rejects what follows the options."""

    _parsing = False

    def parse_known_args(self, args=None, namespace=None):
        if self._parsing:  # parse_known_intermixed_args calls back here, twice
            return super().parse_known_args(args, namespace)
        self._parsing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._parsing = False


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def image_scale(text: str) -> float:
    """--image-scale: 0 < S <= 1 (1: the images' real sizes)."""
    from images import checked_image_scale

    try:
        return checked_image_scale(float(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_profile_option(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """--profile NAME: the edge servers' capacities (topologies/profiles.py)."""
    from topologies.profiles import DEFAULT_PROFILE, PROFILES

    parser.add_argument("--profile", choices=list(PROFILES), default=DEFAULT_PROFILE, metavar="NAME",
                        help=prefix + "edge servers' capacities: " + "; ".join(
                            f"{p.name}: {p.summary}" for p in PROFILES.values()) + f" (default: {DEFAULT_PROFILE})")


def add_cluster_option(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """--cluster SERVERS: the network spread over servers with Mininet's cluster edition."""
    parser.add_argument("--cluster", type=server_list, metavar="SERVERS",
                        help=prefix + "spread the network over these servers (comma-separated names or addresses; "
                                      "the first is this one, the others reached over SSH, as root or with sudo without a password; "
                                      "see `strata cluster emulate`); no node agents there (docs/emulation.md)")


def server_list(text: str) -> list[str]:
    servers = [s.strip() for s in text.split(",")]
    if not all(servers):
        raise argparse.ArgumentTypeError(f"name servers separated by commas, got {text!r}")
    if len(set(servers)) != len(servers):
        raise argparse.ArgumentTypeError(f"a server is named twice in {text!r}")
    return servers


def add_delays_option(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """--delays on|off: the topology's link delays and losses as declared (on) or all 0 (off)."""
    parser.add_argument("--delays", choices=["on", "off"], default="on",
                        help=prefix + "on: links and access links get the delay and loss the topology declares "
                                      "(edge-tiered's tiers, Topology Zoo distances); off: none, every delay and "
                                      "loss 0 (default: on)")


IMAGE_SCALE_HELP = ("the images' scale, 0 < S <= 1: layers of S times their real size, node storage likewise "
                    "(default 0.01; 1: real sizes, pulls take their real time on the links)")


# -- finding and calling daemons


def read_stack(state_file: str) -> dict:
    """The running stack's description (written by `strata up`)."""
    path = Path(state_file)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise Unreachable(f"no running stack is described at {path}: start one with `strata up` "
                          "(or give --stack FILE)") from None
    except (OSError, ValueError) as exc:
        raise Unreachable(f"cannot read the stack description {path}: {exc}") from None


def stack_address(state_file: str, component: str, what: str) -> str:
    """A daemon's management address (`component` in the state file's addresses)."""
    address = (read_stack(state_file).get("addresses") or {}).get(component)
    if not address:
        raise Unreachable(f"the stack described at {state_file} runs no {what} (started with --no-nodes?)")
    return address


def stack_agents(state_file: str) -> dict[str, str]:
    """node name -> the agent's management address, from the running stack's state file."""
    agents = read_stack(state_file).get("agents") or {}
    if not agents:
        raise Unreachable(f"the stack described at {state_file} runs no node agents (started with --no-nodes?)")
    return agents


def stack_tls(args: argparse.Namespace) -> Tls | None:
    """The operator's certificate that the stack's description names (`strata up` runs mutual TLS),
    or None: --insecure, no description, or a plaintext stack."""
    if getattr(args, "insecure", False):
        return None
    path = Path(getattr(args, "stack", None) or os.environ.get(STACK_ENV, str(STACK_FILE)))
    if not path.exists():
        return None
    files = read_stack(str(path)).get("tls")
    if not files:
        return None
    try:
        return Tls.load(Path(files["ca"]), Path(files["cert"]), Path(files["key"]))
    except (OSError, KeyError, CertificateError) as exc:
        raise Unreachable(f"the stack described at {path} names certificates that cannot be used: {exc}") from None


def connect(address: str, what: str, server: Identity, tls: Tls | None = None) -> grpc.Channel:
    """A channel that is ready, or Unreachable within CONNECT_TIMEOUT seconds. With `tls`, mutual
    TLS to a server whose certificate must name `server`."""
    channel = open_channel(address, tls, server)
    try:
        grpc.channel_ready_future(channel).result(timeout=CONNECT_TIMEOUT)
    except grpc.FutureTimeoutError:
        channel.close()
        hint = ("with the stack's certificate; a plaintext daemon needs --insecure" if tls is not None
                else "in plaintext; a stack running mutual TLS needs its description (--stack FILE)")
        raise Unreachable(f"cannot reach {what} at {address} within {CONNECT_TIMEOUT:g} s: is it running? "
                          f"(tried {hint})") from None
    return channel


class Client:
    """A daemon's stub whose failed calls raise CallFailed naming the address."""

    def __init__(self, stub_class, channel: grpc.Channel, address: str):
        self._stub, self.address = stub_class(channel), address

    def __getattr__(self, method: str):
        call = getattr(self._stub, method)

        def checked(request, **options):
            try:
                return call(request, **options)
            except grpc.RpcError as exc:
                raise CallFailed(exc, self.address) from None

        return checked


def client(stub_class, address: str, what: str, server: Identity, args: argparse.Namespace) -> Client:
    """A Client of the daemon `server` at `address`, once it answers; over mutual TLS when the
    stack's description names a certificate and `args` did not ask for --insecure."""
    return Client(stub_class, connect(address, what, server, stack_tls(args)), address)


def daemon(args: argparse.Namespace, stub_class, *, flag: str, component: str, what: str) -> Client:
    """The group's daemon: at the address given with its flag (`args.<flag>`), else the stack's."""
    address = getattr(args, flag) or stack_address(args.stack, component, what)
    return client(stub_class, address, f"the {what}", Identity(component), args)


# -- output


def print_json(value) -> None:
    print(json.dumps(value, indent=2))


def print_table(header: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Columns as wide as their widest cell, two spaces apart."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(row[k]) for row in cells)]) for k, h in enumerate(header)]
    for line in [list(header), *cells]:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())


def shown_protocol(value: int) -> str:
    """A contracts' protocol value as the CLI shows it: tcp, udp, icmp or any."""
    return protocol_name(value, CHAIN_PROTOCOLS) or "any"


def human_bytes(n: float) -> str:
    """A size in bytes with a binary unit: 512 B, 1.5 KiB, 230.0 MiB."""
    for unit in ("B", "KiB", "MiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
