"""`python manage.py civil_registry export OUT.csv [--site CODE] [--user USERNAME]` and
`python manage.py civil_registry import RESPONSE.csv [--user USERNAME]`: the civil-registry check
(registry.civil_registry). Without --user the command acts as the system (every site; "system" in
the audit trail); with it, as that user (a coordinator or admin: their sites, their name)."""

from pathlib import Path

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.roles import IMPORT_EXPORT, has_role
from registry.civil_registry import (
    REQUEST_COLUMNS,
    RESPONSE_COLUMNS,
    ResponseFailed,
    import_response,
    summary_text,
    write_export,
)


class Command(BaseCommand):
    help = "The civil-registry check: write the request file (export) or record the registry's response (import)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{export,import}")
        export = actions.add_parser(
            "export",
            help=f"write the request file ({', '.join(REQUEST_COLUMNS)}) of the living, not withdrawn patients",
        )
        export.add_argument("path", type=Path, help="the file to write (replaced if it exists)")
        export.add_argument("--site", default=None, help="only the patients of this site (code)")
        self._user_argument(export)
        response = actions.add_parser(
            "import",
            help=f"record the response file ({', '.join(c.name for c in RESPONSE_COLUMNS)}); all or nothing",
        )
        response.add_argument("path", type=Path, help="the civil registry's response (CSV)")
        self._user_argument(response)

    @staticmethod
    def _user_argument(parser) -> None:
        parser.add_argument(
            "--user",
            dest="username",
            default=None,
            help="act as this user (an active coordinator or admin); default: the system",
        )

    def handle(self, *args, action: str, path: Path, username: str | None = None, site: str | None = None, **options):
        user = _acting_user(username)
        if action == "export":
            self._export(path, user=user, site=site)
        else:
            self._import(path, user=user)

    def _export(self, path: Path, *, user: User | None, site: str | None) -> None:
        try:
            count = write_export(path, user=user, site=site)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        except OSError as error:
            raise CommandError(f"cannot write {path}: {error.strerror or error}") from None
        where = f"of site {site}" if site else "of all sites" if user is None else "of your sites"
        self.stdout.write(f"Wrote {path}: {count} living, not withdrawn patient(s) {where} for the civil registry.")

    def _import(self, path: Path, *, user: User | None) -> None:
        if not path.is_file():
            raise CommandError(f"{path} not found")
        try:
            # utf-8-sig: spreadsheets often write a byte-order mark; newline="" as the csv module wants.
            with open(path, encoding="utf-8-sig", newline="") as response:
                summary = import_response(response, user=user, file_name=path.name)
        except ResponseFailed as failed:
            lines = "\n".join(f"  {message}" for message in failed.messages)
            raise CommandError(f"{len(failed.problems)} problem(s) in {path.name}; nothing was written:\n{lines}") from None
        self.stdout.write(f"{path.name}: {summary_text(summary)}")


def _acting_user(username: str | None) -> User | None:
    """The user named by --user: active, with the coordinator or admin role; None without --user."""
    if username is None:
        return None
    user = User.objects.filter(username=username).first()
    if user is None or not user.is_active or not has_role(user, IMPORT_EXPORT):
        raise CommandError(
            f"--user {username}: not an active user with the coordinator or admin role "
            "(only they may run civil-registry checks)"
        )
    return user
