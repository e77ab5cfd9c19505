"""`logicrl submit`: run a training recipe on a Ray cluster as a Ray job.

    logicrl submit --config examples/ray_cpu.yaml --address http://127.0.0.1:8265 --wait max_steps=2

is the same as `ray job submit --address ... --working-dir . -- $PWD/.venv/bin/python -m logicrl train
--config examples/ray_cpu.yaml max_steps=2` (this interpreter, by its absolute path), with the recipe
checked and the upload (code, not run outputs) built and measured here first.
"""

from __future__ import annotations

from logicrl.cli import accept_dotted_overrides


def add_arguments(parser) -> None:
    parser.add_argument("--config", required=True, help="training recipe (YAML) inside the working directory")
    parser.add_argument("--address", default=None,
                        help="Ray dashboard URL (default: the recipe's ray.address, $RAY_API_SERVER_ADDRESS, "
                             "$RAY_ADDRESS, else http://127.0.0.1:8265)")
    parser.add_argument("--working-dir", default=".", help="directory uploaded with the job (default: .)")
    parser.add_argument("--python", default=None,
                        help="interpreter the job runs (default: this one, %(prog)s's sys.executable; "
                             "it must exist on the cluster's nodes)")
    parser.add_argument("--submission-id", default=None, help="job id to use (default: Ray picks one)")
    parser.add_argument("--resume", action="store_true", help="the job continues the run in output_dir "
                        "(`logicrl train --resume`)")
    parser.add_argument("--overwrite", action="store_true", help="the job starts the run in output_dir again "
                        "(`logicrl train --overwrite`)")
    parser.add_argument("--wait", action="store_true", help="stream the job's logs and wait until it ends")
    parser.add_argument("--timeout", type=float, default=None, help="with --wait: stop the job after this many seconds")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="recipe overrides, as a.b=value or --a.b=value (as for `logicrl train`)")

    accept_dotted_overrides(parser)


def run(args) -> int:
    from logicrl.errors import UserError
    from logicrl.ray.submit import submit

    if args.resume and args.overwrite:
        raise UserError("--resume and --overwrite exclude each other: continue the run, or start it again")
    if args.timeout is not None and not args.wait:
        raise UserError("--timeout needs --wait (without it the job is not watched, so nothing would stop it)")
    job_id, status = submit(args.config, args.overrides, address=args.address, working_dir=args.working_dir,
                            python=args.python, submission_id=args.submission_id, wait=args.wait,
                            timeout=args.timeout,
                            flags=[f for f, on in (("--resume", args.resume), ("--overwrite", args.overwrite)) if on])
    print(f"{job_id} {status}")
    return 0 if (not args.wait or status == "SUCCEEDED") else 1
