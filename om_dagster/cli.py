"""`om-dagster`: the commands the package installs (Dagster's own CLI runs the jobs)."""

import argparse


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="om-dagster", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    bridge = commands.add_parser(
        "bridge",
        help="serve OpenMetadata's Airflow API (AirflowRESTClient) on Dagster; settings from the environment",
    )
    bridge.add_argument("--host", default="127.0.0.1")
    bridge.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    if args.command == "bridge":
        import uvicorn

        from om_dagster.bridge.app import Bridge, Settings

        uvicorn.run(Bridge(Settings.from_env()).app(), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
