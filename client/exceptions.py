"""What the client raises: one root, ApiError, so a caller catches every failure of ours in one
place; each kind knows the exit code the `adamant` command ends with (2: the user's to fix, 1: not)."""

from __future__ import annotations

from typing import Any

EXIT_FAILURE = 1
EXIT_USER_ERROR = 2


class ApiError(Exception):
    """A request to the Adamant service did not give the caller what it asked for."""

    exit_code = EXIT_FAILURE


class ProblemError(ApiError):
    """The service answered with an error (an RFC 9457 problem detail, or a bare HTTP error)."""

    def __init__(self, status: int, title: str, detail: str = "", errors: list[dict[str, Any]] | None = None,
                 *, type: str | None = None, instance: str | None = None) -> None:
        self.status, self.title, self.detail = status, title, detail
        self.errors = [e for e in errors or [] if isinstance(e, dict)]
        self.type, self.instance = type, instance
        super().__init__(str(self))

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        """4xx: the request was wrong (a spec, a key, an id) and retrying it will not help."""
        return EXIT_USER_ERROR if 400 <= self.status < 500 else EXIT_FAILURE

    @property
    def field_reasons(self) -> list[str]:
        """`optimizer.lr: Input should be greater than 0`, one per bad field."""
        return [field_reason(e) for e in self.errors]

    def __str__(self) -> str:
        """The title and status, the detail unless it only repeats the field errors, then each
        field error on a line of its own:

            Invalid request (422)
              optimizer.lr: Input should be greater than 0
              training.epochs: Input should be less than or equal to 10000
        """
        head = f"{self.title} ({self.status})"
        reasons = self.field_reasons
        detail = self.detail.strip()
        if detail and not (reasons and _repeats(detail, self.errors)):
            head += f": {detail}"
        return "\n".join([head, *(f"  {reason}" for reason in reasons)])


def field_reason(error: dict[str, Any]) -> str:
    """One field error as `path: message`; pydantic's own `loc`/`msg` are read too."""
    path = error.get("path")
    if path is None and isinstance(error.get("loc"), (list, tuple)):
        path = ".".join(str(part) for part in error["loc"] if part != "body")
    message = str(error.get("message") or error.get("msg") or "invalid")
    located = [f"{key} {error[key]!r}" for key in ("column", "row") if error.get(key) is not None and str(error[key]) not in message]
    if located:
        message += f" [{', '.join(located)}]"
    # A dataset error's message already names the column; "dataset: " in front adds nothing.
    return f"{path}: {message}" if path and path != "dataset" else message


def _repeats(detail: str, errors: list[dict[str, Any]]) -> bool:
    """The service's validation detail is its field errors joined: printing both says it twice."""
    return all(str(e.get("message") or e.get("msg") or "") in detail for e in errors)


class ServiceUnreachable(ApiError):
    """No answer from the service at all: refused, reset, timed out, or the name did not resolve."""

    def __init__(self, url: str, reason: str) -> None:
        self.url, self.reason = url, reason
        super().__init__(f"could not reach {url}: {reason}")


class IntegrityError(ApiError):
    """A downloaded archive does not match the sha256 the service listed for it, or holds paths
    outside the directory it is unpacked into."""


class NotConfigured(ApiError):
    """No service URL or API key: neither `adamant login` nor ADAMANT_URL/ADAMANT_API_KEY gave one."""

    exit_code = EXIT_USER_ERROR


class UsageError(ApiError):
    """What the user gave the command cannot be sent: an unreadable spec or rows file."""

    exit_code = EXIT_USER_ERROR
