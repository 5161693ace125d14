"""The ``kubecopilot`` command line.

``kubecopilot sandbox install | up | status | logs | down | scenarios`` today; runbooks and prompts
join as their issues land.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kubecopilot.errors import KubeCopilotError

__all__ = ["main"]


def _sandbox(args: argparse.Namespace):
    from kubecopilot.sandbox import Sandbox

    return Sandbox(nodes=getattr(args, "nodes", 3), data_dir=args.data_dir, bin_dir=getattr(args, "bin_dir", None))


def cmd_install(args: argparse.Namespace) -> int:
    from kubecopilot.sandbox import find_binaries, install

    if args.bin_dir:
        found = find_binaries(args.bin_dir)
        print(f"using binaries in {args.bin_dir}: {', '.join(found)}")
        return 0
    if not args.force:
        try:
            found = find_binaries()
            print(f"control plane binaries found: {found['kube-apiserver'].parent}")
            return 0
        except KubeCopilotError:
            pass
    install(force=args.force)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from kubecopilot.sandbox import _scenarios as scenarios

    sb = _sandbox(args)
    sb.up(timeout=args.timeout)
    if args.scenario:
        names = scenarios.scenario_names() if args.scenario == ["all"] else args.scenario
        seeded = []
        client = sb.client()
        for i, name in enumerate(names, start=1):
            sc = scenarios.get_scenario(name)
            print(f"\rseeding scenarios: {i}/{len(names)} {name:<40}", end="", file=sys.stderr, flush=True)
            seeded.append((sc, scenarios.seed(client, sc)))
        print(file=sys.stderr)
        if args.wait:
            late = scenarios.wait_settled(client, seeded, timeout=args.wait)
            if late:
                print(f"not settled after {args.wait:.0f}s: {', '.join(late)}", file=sys.stderr)
        print(scenarios.summarize(client, seeded))
    print(f"export KUBECONFIG={sb.kubeconfig_path}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    status = _sandbox(args).status()
    if args.json:
        print(json.dumps(status, indent=1))
        return 0
    print(f"data dir   {status['data_dir']}\nserver     {status['server']}\nkubeconfig {status['kubeconfig']}")
    print(f"contexts   {', '.join(status['contexts'])}")
    print("ports      " + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in status["ports"].items()))
    for name, p in status["processes"].items():
        print(f"  {name:<24} pid {p['pid']:<8} {'running' if p['running'] else 'STOPPED'}")
    for node, ready in status.get("nodes", {}).items():
        print(f"  node {node:<19} Ready={ready}")
    if not status["processes"]:
        print("  (no process is running: `kubecopilot sandbox up` starts them)")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    print(_sandbox(args).logs(args.process, args.lines))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    _sandbox(args).down(purge=args.purge)
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    from kubecopilot.sandbox import _scenarios as scenarios

    for sc in scenarios.load_scenarios():
        rule = "healthy control" if sc.expect is None else f"{sc.expect.object} {sc.expect.rule}"
        print(f"{sc.name:<34} {rule:<52} {sc.title}")
    return 0


def cmd_prompts(args: argparse.Namespace) -> int:
    """``prompts check``: one line per problem, exit 1 if any; ``prompts list``: the registry as a table."""
    from kubecopilot.ai import _registry

    path = args.manifest or _registry.default_manifest_path()
    if args.action == "check":
        problems = _registry.check_manifest(path)
        for problem in problems:
            print(problem)
        if problems:
            print(f"{len(problems)} problem(s) in {path}", file=sys.stderr)
            return 1
        reg = _registry.load_registry(path)
        versions = sum(len(e.all_versions()) for e in reg.entries.values())
        print(f"prompt registry OK: {path} ({len(reg.entries)} prompts, {versions} versions)")
        return 0
    reg = _registry.load_registry(path)
    print(json.dumps(reg.rows(), indent=1) if args.json else str(reg))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubecopilot", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sandbox = sub.add_parser("sandbox", help="the local control plane + node simulator")
    ssub = sandbox.add_subparsers(dest="action", required=True)

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--data-dir", type=Path, default=None,
                       help="sandbox data directory (default: $KUBECOPILOT_SANDBOX_DIR or the user data dir)")
        return p

    p = ssub.add_parser("install", help="find or build kube-apiserver, controller-manager, scheduler and etcd")
    p.add_argument("--bin-dir", type=Path, help="use binaries from this directory instead of building")
    p.add_argument("--force", action="store_true", help="rebuild even when cached")
    p.set_defaults(func=cmd_install, data_dir=None)
    p = common(ssub.add_parser("up", help="start the sandbox (idempotent)"))
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--bin-dir", type=Path)
    p.add_argument("--scenario", action="append", metavar="NAME",
                   help="seed a scenario into its own namespace; 'all' seeds every scenario (repeatable)")
    p.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                   help="after seeding, wait up to SECONDS for every scenario's symptoms")
    p.add_argument("--timeout", type=float, default=60)
    p.set_defaults(func=cmd_up)
    p = common(ssub.add_parser("status", help="what runs and where"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)
    p = common(ssub.add_parser("logs", help="tail a sandbox process's log"))
    p.add_argument("process", nargs="?", default="kube-apiserver",
                   choices=["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "simulator"])
    p.add_argument("-n", "--lines", type=int, default=50)
    p.set_defaults(func=cmd_logs)
    p = common(ssub.add_parser("down", help="stop every process the sandbox started"))
    p.add_argument("--purge", action="store_true", help="also delete the data dir (etcd state, certs, logs)")
    p.set_defaults(func=cmd_down)
    p = common(ssub.add_parser("scenarios", help="list the shipped incident scenarios"))
    p.set_defaults(func=cmd_scenarios)
    prompts = sub.add_parser("prompts", help="the prompt registry (prompts/manifest.json)")
    psub = prompts.add_subparsers(dest="action", required=True)
    for name, text in [("check", "validate the manifest, templates and schemas (exit 1 on problems)"),
                       ("list", "show prompts, versions, rollout and approval")]:
        p = psub.add_parser(name, help=text)
        p.add_argument("--manifest", type=Path, default=None,
                       help="manifest file (default: $KUBECOPILOT_PROMPTS or the checkout's prompts/manifest.json)")
        if name == "list":
            p.add_argument("--json", action="store_true")
        p.set_defaults(func=cmd_prompts)
    from kubecopilot.runbooks._cli import add_parser as add_runbook_parser  # list|describe|run|resume|status|...

    add_runbook_parser(sub)
    from kubecopilot.runbooks._demo import add_parser as add_demo_parser  # `make demo`

    add_demo_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KubeCopilotError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `kubecopilot sandbox scenarios | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
