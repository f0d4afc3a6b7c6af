"""Errors a user can cause. The CLI turns each into one line on stderr and exit status 2."""


class SlimviewError(Exception):
    """Base of every error slimview reports to the user as one clear line."""

    exit_status = 2


class InputError(SlimviewError):
    """The image, archive or path the user named cannot be read as an image."""


class EngineError(SlimviewError):
    """The container engine is unreachable, refused us, or failed mid-way."""


class ImageNotFound(EngineError):
    """The engine has no image by that reference."""


class LimitExceeded(InputError):
    """The input exceeds a safety limit (entries, path depth, metadata size)."""


class RegistryError(SlimviewError):
    """A registry is unreachable, refused us (credentials, access), or sent something wrong."""
