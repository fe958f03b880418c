"""The command line: ``forms-server check``, ``forms-server serve`` and friends.

The only module that knows exit codes and prints; everything it calls returns data.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from forms_server import __version__
from forms_server.accounts import ROLES, AccountError, Accounts, ensure_admin
from forms_server.errors import Problem
from forms_server.loader import LoadResult, form_files, load_paths
from forms_server.pdf_cli import pdf
from forms_server.settings import Settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="forms-server")
def main() -> None:
    """forms-server: YAML-defined intake and survey forms for field outreach."""


main.add_command(pdf)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON, for tools.")
@click.option("--quiet", "-q", is_flag=True, help="Print errors only, not warnings.")
def check(paths: tuple[Path, ...], as_json: bool, quiet: bool) -> None:
    """Check form files (default: the forms directory) and report every problem.

    Each problem is printed as PATH:LINE:COL: CODE message — how to fix it.
    Exits 0 when there is no error (warnings allowed), 1 otherwise.

    \b
    Example:
      forms-server check form_definitions/
      forms-server check form_definitions/worker_intake.yaml --json
    """
    targets = list(paths) or [Settings.from_env().forms_dir]
    files = form_files(targets)
    result = load_paths(files)
    problems = sorted(result.problems, key=lambda p: (p.path, p.line, p.column))
    if quiet:
        problems = [p for p in problems if p.is_error]
    if as_json:
        click.echo(
            json.dumps(_json_report(result, problems, len(files)), ensure_ascii=False, indent=2)
        )
    else:
        for problem in problems:
            click.echo(problem.format())
        click.echo(_summary(result, len(files)), err=bool(problems))
    sys.exit(1 if result.errors or not files else 0)


def _summary(result: LoadResult, files: int) -> str:
    if not files:
        return "no form files found (looked for *.yaml and *.yml)"
    errors, warnings = len(result.errors), len(result.warnings)
    verdict = "ok" if not errors else "failed"
    return (
        f"{verdict}: {files} file{'s' if files != 1 else ''}, {len(result.forms)} form"
        f"{'s' if len(result.forms) != 1 else ''} loaded, {errors} error"
        f"{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"
    )


def _json_report(result: LoadResult, problems: list[Problem], files: int) -> dict[str, object]:
    return {
        "ok": not result.errors and files > 0,
        "files": files,
        "forms": [form.summary() for form in result.forms],
        "errors": len(result.errors),
        "warnings": len(result.warnings),
        "problems": [p.to_json() for p in problems],
    }


@main.command()
@click.option("--forms-dir", type=click.Path(path_type=Path), help="Form definitions directory.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where the databases live.")
def forms(forms_dir: Path | None, data_dir: Path | None) -> None:
    """List the forms that load from the forms directory.

    \b
    Example:
      forms-server forms --forms-dir form_definitions
    """
    settings = Settings.from_env(forms_dir=forms_dir, data_dir=data_dir)
    result = _load_or_exit(settings)
    for form in result.forms:
        s = form.summary()
        click.echo(
            f"{s['id']:<24} v{s['version']:<6} {s['questions']:>3} questions "
            f"({s['sensitive']} sensitive)  {s['title']}"
        )


def _load_or_exit(settings: Settings) -> LoadResult:
    """Load every form, or print the errors as ``check`` does and exit 1."""
    result = load_paths([settings.forms_dir])
    if result.errors or not result.forms:
        for problem in result.errors:
            click.echo(problem.format(), err=True)
        if not result.forms and not result.errors:
            click.echo(f"no forms found in {settings.forms_dir}", err=True)
        click.echo(
            "refusing to start: fix the forms above (forms-server check shows them all)", err=True
        )
        sys.exit(1)
    return result


@main.command()
@click.option("--forms-dir", type=click.Path(path_type=Path), help="Form definitions directory.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where the databases live.")
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 8000).")
@click.option(
    "--access-log/--no-access-log",
    default=None,
    help="Log every request to standard output (default off).",
)
def serve(
    forms_dir: Path | None,
    data_dir: Path | None,
    host: str | None,
    port: int | None,
    access_log: bool | None,
) -> None:
    """Start the server. Refuses to start when a form has errors.

    \b
    Example:
      forms-server serve --data-dir ./data --port 8000
    """
    import uvicorn

    from forms_server.web.app import create_app

    settings = Settings.from_env(
        forms_dir=forms_dir, data_dir=data_dir, host=host, port=port, access_log=access_log
    )
    result = _load_or_exit(settings)
    for problem in result.warnings:
        click.echo(problem.format(), err=True)
    click.echo(f"{len(result.forms)} forms: " + ", ".join(f.id for f in result.forms))
    click.echo(f"data in {settings.data_dir.resolve()}")
    app = create_app(settings)
    password = ensure_admin(app.state.accounts)
    if password:
        click.echo(
            "\nNo users yet: created the administrator 'admin' with this one-time password\n"
            f"    {password}\n"
            "Sign in at /login and change it: forms-server users set-password admin\n"
        )
    click.echo(f"serving on http://{settings.host}:{settings.port}")
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=settings.access_log,
    )


class _AccountCommands(click.Group):
    """Turns a refused account operation into a one-line error and exit status 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None


@main.group(cls=_AccountCommands)
def users() -> None:
    """Manage user accounts (in the private database under --data-dir)."""


_data_dir_option = click.option(
    "--data-dir", type=click.Path(path_type=Path), help="Where the databases live."
)


def _accounts(data_dir: Path | None) -> Accounts:
    from forms_server.storage import Storage

    settings = Settings.from_env(data_dir=data_dir)
    return Accounts(Storage(settings.data_dir / "forms.db"))


def _ask_password(password: str | None) -> str:
    if password is not None:
        return password
    entered: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return entered


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True, help="The user's role.")
@click.option("--password", help="The password (prompted for when left out).")
@_data_dir_option
def users_add(username: str, role: str, password: str | None, data_dir: Path | None) -> None:
    """Add a user.

    \b
    Example:
      forms-server users add wangfang --role collector
    """
    user = _accounts(data_dir).add(username, role, _ask_password(password))
    click.echo(f"added {user.username} ({user.role})")


@users.command("list")
@_data_dir_option
def users_list(data_dir: Path | None) -> None:
    """List users with their roles.

    \b
    Example:
      forms-server users list
    """
    for user in _accounts(data_dir).all():
        state = " (disabled)" if user.disabled else ""
        click.echo(f"{user.username:<24} {user.role}{state}")


@users.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
@_data_dir_option
def users_set_role(username: str, role: str, data_dir: Path | None) -> None:
    """Change a user's role.

    \b
    Example:
      forms-server users set-role wangfang staff
    """
    user = _accounts(data_dir).set_role(username, role)
    click.echo(f"{user.username} is now {user.role}")


@users.command("set-password")
@click.argument("username")
@click.option("--password", help="The new password (prompted for when left out).")
@_data_dir_option
def users_set_password(username: str, password: str | None, data_dir: Path | None) -> None:
    """Set a user's password; their other sessions end.

    \b
    Example:
      forms-server users set-password admin
    """
    user = _accounts(data_dir).set_password(username, _ask_password(password))
    click.echo(f"password of {user.username} changed")


@users.command("disable")
@click.argument("username")
@_data_dir_option
def users_disable(username: str, data_dir: Path | None) -> None:
    """Disable a user: their sessions and API tokens stop working.

    \b
    Example:
      forms-server users disable wangfang
    """
    user = _accounts(data_dir).disable(username)
    click.echo(f"{user.username} disabled")


@users.command("token")
@click.argument("username")
@_data_dir_option
def users_token(username: str, data_dir: Path | None) -> None:
    """Print a new API token for a user (shown once; only its hash is kept).

    \b
    Example:
      forms-server users token wangfang
    """
    token = _accounts(data_dir).new_token(username)
    click.echo(token)


@main.command()
@click.option("--forms-dir", type=click.Path(path_type=Path), help="Form definitions directory.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where the databases live.")
@click.option("--rebuild", is_flag=True, help="Build research.db anew from forms.db.")
@click.option(
    "--metadata",
    is_flag=True,
    help="Only write datasette_metadata.json (top of the repository) from the forms.",
)
def publish(forms_dir: Path | None, data_dir: Path | None, rebuild: bool, metadata: bool) -> None:
    """Bring research.db (the database researchers see) up to date with forms.db.

    Without options it applies the changes not yet applied, as the running server
    does every half second; --rebuild makes the whole file anew (atomically: readers
    keep the old file until the new one is complete).

    \b
    Example:
      forms-server publish --rebuild --data-dir ./data
      forms-server publish --metadata
    """
    from zoneinfo import ZoneInfo

    from forms_server.publish import Publisher, describe
    from forms_server.research_metadata import GENERATED_FILE, render
    from forms_server.storage import Storage
    from forms_server.web.app import PACKAGE_DIR
    from forms_server.web.research import metadata_for

    settings = Settings.from_env(forms_dir=forms_dir, data_dir=data_dir)
    forms = {form.id: form for form in _load_or_exit(settings).forms}
    if metadata:
        target = PACKAGE_DIR.parent / GENERATED_FILE
        target.write_text(render(metadata_for(forms.values(), PACKAGE_DIR.parent)), "utf-8")
        click.echo(f"wrote {target}")
        return
    with Storage(settings.data_dir / "forms.db") as storage:
        for form in forms.values():
            storage.ensure_schema(form)
        publisher = Publisher(storage, forms, settings.data_dir, ZoneInfo(settings.timezone))
        try:
            if rebuild:
                report = describe(publisher.rebuild())
                rows = ", ".join(f"{t} {n}" for t, n in report["rows"].items())
                click.echo(f"rebuilt {publisher.path} in {report['seconds']} s: {rows}")
            else:
                count = publisher.sync_once()
                click.echo(f"{publisher.path}: {count} submissions published again")
        finally:
            publisher.stop()


@main.command()
@click.option("--forms-dir", type=click.Path(path_type=Path), help="Form definitions directory.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where the databases live.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8001, show_default=True, help="Port to listen on.")
def datasette(forms_dir: Path | None, data_dir: Path | None, host: str, port: int) -> None:
    """Serve research.db with plain Datasette, WITHOUT sign-in.

    Only for a machine that researchers alone use: anyone who reaches the port sees
    all research data. Never expose it to a network others share, let alone the
    internet; the server's own /data needs a researcher's sign-in.

    \b
    Example:
      forms-server datasette --data-dir ./data --port 8001
    """
    import uvicorn

    from forms_server.web.app import PACKAGE_DIR
    from forms_server.web.research import make_datasette, metadata_for

    settings = Settings.from_env(forms_dir=forms_dir, data_dir=data_dir)
    forms = _load_or_exit(settings).forms
    path = settings.data_dir / "research.db"
    if not path.exists():
        click.echo(f"no {path}: run  forms-server publish --rebuild  first", err=True)
        sys.exit(1)
    ds = make_datasette(path, metadata_for(forms, PACKAGE_DIR.parent))
    click.echo(f"serving {path.resolve()} on http://{host}:{port} (no sign-in: keep it private)")
    uvicorn.run(ds.app(), host=host, port=port, log_level="info")
